"""`python -m benchmarks.ingest`: how fast ``honeytrace serve`` commits events, and how fast its
store reads back a large trace store.

Ingest: the collector runs as ``honeytrace serve`` would (uvicorn, its own process); 4 client
processes each post pre-encoded batches of 500 events to ``POST /v1/sessions/{id}/events/batch``
over one keep-alive connection, all released at once. The rate is every event answered (an
answer means committed) over the wall time from the release to the last answer; the events are
counted in the store afterwards. A run lasts a few seconds, so it is repeated (3 times, a fresh
collector and store each): the figures are the medians, and every run is listed.

Each client's sessions start one after another (a second apart), as a real client's do, so each
batch's start times are new ones, next to those of the batches before. The older workload, where
all 40 sessions of a client had the very same start times (each batch's rows then land all over
the start-time index), is measured too (``same_start``; ``--same-start``).

The server's CPU time per event is reported too (from /proc: the collector's process and its
worker processes, which ``honeytrace serve`` forks one per core), with the 1-minute load
average: on a machine shared with other work the wall-clock rate says more about the neighbours
than about the collector.

OTLP: one client posts requests of 512 GenAI spans (the SDK's default batch) to
``POST /v1/traces``, as protobuf and then as JSON; spans/s and the server's CPU per span.

Reads: a store of ``--size`` events (1,000,000 by default; sessions of 100 events) is built
in-process through ``Store.add_events`` (which times the store's own write path), then the
session list, one session's tree, and two searches are timed (median of several runs).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BATCH = 500
PER_SESSION = 100


def _event(session_id: str, index: int, start: int) -> dict[str, Any]:
    kind = ("chain", "tool", "model")[index % 3]
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "session_id": session_id,
        "parent_id": session_id,
        "event_type": kind,
        "event_name": f"step_{index % 10}",
        "start_time": start + index,
        "end_time": start + index + 3,
        "duration": 3,
        "inputs": {"query": f"question number {index}", "k": index % 7},
        "outputs": {"answer": f"answer number {index}"},
        "metadata": {"user": f"u{index % 50}", "attempt": 1},
    }
    if kind == "model":
        event["config"] = {"model": "gpt-4o-mini", "temperature": 0.2}
        event["metrics"] = {"prompt_tokens": 31, "completion_tokens": 12, "total_tokens": 43}
    return event


SESSION_GAP_MS = 1000
"""How far apart (ms) the start times of a client's successive sessions are."""


def _bodies(batches: int, same_start: bool = False) -> list[tuple[str, bytes]]:
    """One client's batches, a session each: sessions that start one after another, or (with
    ``same_start``, the older workload) all at the same time."""
    start = int(time.time() * 1000)
    bodies = []
    for number in range(batches):
        session_id = str(uuid.uuid4())
        first = start if same_start else start + number * SESSION_GAP_MS
        events = [_event(session_id, i, first) for i in range(BATCH)]
        bodies.append((session_id, json.dumps({"events": events}).encode()))
    return bodies


def _client(port: int, batches: int, same_start: bool, go: Any, ready: Any, failures: Any) -> None:
    bodies = _bodies(batches, same_start)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ready.release()
    go.wait()
    for session_id, body in bodies:
        conn.request(
            "POST",
            f"/v1/sessions/{session_id}/events/batch",
            body,
            {"Content-Type": "application/json"},
        )
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            with failures.get_lock():
                failures.value += 1
    conn.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its live child processes (Linux: the
    collector's worker processes), or 0.0 where unknown."""
    total = 0
    for one in (pid, *_children(pid)):
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []
    found = []
    for task in tasks:
        with contextlib.suppress(OSError, ValueError):
            found.extend(int(child) for child in (task / "children").read_text().split())
    return [grandchild for child in found for grandchild in (child, *_children(child))]


@contextlib.contextmanager
def _collector(db_path: str) -> Iterator[tuple[int, int]]:
    port = _free_port()
    code = f"from honeytrace.local.collector import serve; serve({db_path!r}, port={port})"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the collector did not start") from None
                time.sleep(0.05)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(30)


def ingest(
    clients: int = 4, batches: int = 40, repeats: int = 3, same_start: bool = False
) -> dict[str, Any]:
    """Events/s committed by the collector from ``clients`` concurrent clients, each posting
    ``batches`` batches of 500 events: the medians of ``repeats`` runs, each run listed."""
    runs = [ingest_once(clients, batches, same_start) for _ in range(repeats)]
    result = dict(runs[0])
    for key, digits in (
        ("seconds", 3),
        ("events_per_s", None),
        ("server_cpu_us_per_event", 1),
        ("load_average_1m", 2),
    ):
        values = [run[key] for run in runs if run[key] is not None]
        result[key] = round(statistics.median(values), digits) if values else None
    result["stored"] = min(run["stored"] for run in runs)
    result["failed_requests"] = sum(run["failed_requests"] for run in runs)
    result["workload"] = "same_start" if same_start else "successive_sessions"
    result["runs"] = [
        {key: run[key] for key in ("events_per_s", "server_cpu_us_per_event", "load_average_1m")}
        for run in runs
    ]
    return result


def ingest_once(clients: int = 4, batches: int = 40, same_start: bool = False) -> dict[str, Any]:
    """One run of :func:`ingest`, with a collector and a store of its own."""
    from honeytrace.local.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        db_path = str(Path(tmp) / "traces.db")
        with _collector(db_path) as (port, pid):
            ctx = multiprocessing.get_context("spawn")
            go, ready = ctx.Event(), ctx.Semaphore(0)
            failures = ctx.Value("i", 0)
            procs = [
                ctx.Process(target=_client, args=(port, batches, same_start, go, ready, failures))
                for _ in range(clients)
            ]
            for proc in procs:
                proc.start()
            for _ in procs:
                if not ready.acquire(timeout=120):
                    raise RuntimeError("a client did not get ready")
            cpu_before = _cpu_seconds(pid)
            started = time.perf_counter()
            go.set()
            for proc in procs:
                proc.join(600)
            elapsed = time.perf_counter() - started
            server_cpu = _cpu_seconds(pid) - cpu_before
        with Store(db_path) as store:
            stored = store._conn.execute(
                "SELECT COUNT(*) FROM events WHERE event_type != 'session'"
            ).fetchone()[0]
    sent = clients * batches * BATCH
    return {
        "clients": clients,
        "events": sent,
        "stored": stored,
        "failed_requests": failures.value,
        "seconds": round(elapsed, 3),
        "events_per_s": round(sent / elapsed),
        # The server's own CPU per event: steadier than the wall-clock rate on a busy machine.
        "server_cpu_us_per_event": round(server_cpu / sent * 1e6, 1) if server_cpu else None,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _otlp_bodies(requests: int, per_request: int) -> tuple[list[bytes], list[bytes]]:
    """OTLP trace requests of GenAI spans (traces of one agent span and its chat calls), as
    protobuf and as OTLP JSON (hex ids)."""
    import base64

    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    start = time.time_ns()
    protobuf, json_bodies = [], []
    for _ in range(requests):
        message = ExportTraceServiceRequest()
        spans = message.resource_spans.add().scope_spans.add().spans
        root = b""
        trace = os.urandom(16)
        for index in range(per_request):
            if index % 8 == 0:
                trace, root = os.urandom(16), b""
            span = spans.add()
            span.trace_id, span.span_id = trace, os.urandom(8)
            span.parent_span_id = root
            span.name = "invoke_agent" if not root else "chat gpt-4o-mini"
            span.start_time_unix_nano = start + index * 1000
            span.end_time_unix_nano = start + index * 1000 + 500
            attributes = {"gen_ai.operation.name": "invoke_agent" if not root else "chat"}
            if root:
                attributes.update(
                    {
                        "gen_ai.request.model": "gpt-4o-mini",
                        "gen_ai.input.messages": '[{"role": "user", "content": "hi"}]',
                    }
                )
            for key, value in attributes.items():
                item = span.attributes.add()
                item.key, item.value.string_value = key, value
            for key, number in (
                ("gen_ai.usage.input_tokens", 12),
                ("gen_ai.usage.output_tokens", 3),
            ):
                item = span.attributes.add()
                item.key, item.value.int_value = key, number
            root = root or span.span_id
        protobuf.append(message.SerializeToString())
        data = json_format.MessageToDict(message)
        for span_data in data["resourceSpans"][0]["scopeSpans"][0]["spans"]:
            for key in ("traceId", "spanId", "parentSpanId"):
                if key in span_data:
                    span_data[key] = base64.b64decode(span_data[key]).hex()
        json_bodies.append(json.dumps(data).encode())
    return protobuf, json_bodies


def otlp(requests: int = 20, per_request: int = 512) -> dict[str, Any]:
    """Spans/s committed through ``POST /v1/traces`` from one client, protobuf and JSON
    (``per_request`` spans per request: the SDK's default export batch)."""
    protobuf, json_bodies = _otlp_bodies(requests, per_request)
    result: dict[str, Any] = {"spans": requests * per_request}
    with (
        tempfile.TemporaryDirectory() as tmp,
        _collector(str(Path(tmp) / "traces.db")) as (port, pid),
    ):
        for name, bodies, media in (
            ("protobuf", protobuf, "application/x-protobuf"),
            ("json", json_bodies, "application/json"),
        ):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            cpu_before = _cpu_seconds(pid)
            started = time.perf_counter()
            for body in bodies:
                conn.request("POST", "/v1/traces", body, {"Content-Type": media})
                answer = conn.getresponse()
                answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"OTLP answer {answer.status}")
            elapsed = time.perf_counter() - started
            cpu = _cpu_seconds(pid) - cpu_before
            conn.close()
            result[name] = {
                "spans_per_s": round(requests * per_request / elapsed),
                "server_cpu_us_per_span": round(cpu / (requests * per_request) * 1e6, 1),
            }
    return result


def _median_ms(call: Any, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def reads(size: int = 1_000_000) -> dict[str, Any]:
    """Build a store of ``size`` events, then time its reads."""
    from honeytrace.local.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "traces.db")
        start = int(time.time() * 1000) - size
        sessions: list[str] = []
        chunk = 10_000
        build_started = time.perf_counter()
        for offset in range(0, size, chunk):
            events = []
            for i in range(offset, min(offset + chunk, size)):
                if i % PER_SESSION == 0:
                    sessions.append(str(uuid.uuid4()))
                events.append(_event(sessions[-1], i, start))
            store.add_events(None, events)
        build_s = time.perf_counter() - build_started
        middle = sessions[len(sessions) // 2]
        user = [{"field": "metadata.user", "operator": "is", "value": "u7"}]
        kind = [{"field": "event_type", "operator": "is", "value": "model"}]
        result = {
            "events": size,
            "sessions": len(sessions),
            "build_s": round(build_s, 1),
            "build_events_per_s": round(size / build_s),
            "file_mb": round(os.path.getsize(store.path) / 1e6),
            "list_sessions_50_ms": _median_ms(lambda: store.list_sessions(50)),
            "session_tree_100_ms": _median_ms(lambda: store.session_tree(middle)),
            "get_event_ms": _median_ms(lambda: store.get_event(middle)),
            "search_event_type_100_ms": _median_ms(lambda: store.search(kind, None, 100, 1)),
            "search_metadata_100_ms": _median_ms(lambda: store.search(user, None, 100, 1), 3),
        }
        store.close()
    return result


def run(quick: bool = False) -> dict[str, Any]:
    """Both parts, as ``python -m benchmarks`` runs them."""
    return {
        "ingest": ingest(4, 10 if quick else 40),
        "ingest_same_start": ingest(4, 10 if quick else 40, same_start=True),
        "otlp": otlp(5 if quick else 20),
        "reads": reads(100_000 if quick else 1_000_000),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batches", type=int, default=40, help="per client, of 500 events")
    parser.add_argument("--size", type=int, default=1_000_000, help="events in the read store")
    parser.add_argument("--repeats", type=int, default=3, help="ingest runs (median reported)")
    parser.add_argument(
        "--same-start",
        action="store_true",
        help="also the older workload: every session of a client starts at the same time",
    )
    parser.add_argument("--no-reads", action="store_true")
    parser.add_argument("--no-otlp", action="store_true")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"ingest": ingest(args.clients, args.batches, args.repeats)}
    print(json.dumps(result["ingest"]), flush=True)
    if args.same_start:
        result["ingest_same_start"] = ingest(args.clients, args.batches, args.repeats, True)
        print(json.dumps(result["ingest_same_start"]), flush=True)
    if not args.no_otlp:
        result["otlp"] = otlp()
        print(json.dumps(result["otlp"]), flush=True)
    if not args.no_reads:
        result["reads"] = reads(args.size)
        print(json.dumps(result["reads"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
