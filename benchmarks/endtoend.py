"""End to end: record and deliver 50,000 events to a local HTTP sink, next to the OpenTelemetry
SDK delivering 50,000 spans over OTLP/HTTP to a sink of the same kind.

Each side runs in a fresh subprocess (so neither inherits the other's threads or memory), and
the sink runs in a third process, so that its work does not compete with the measured process
for the GIL. Both shapes are alike: 500 roots (a session / a root span) of 99 children each.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = 50_000
PER_ROOT = 100

SINK = textwrap.dedent(
    """
    import json, socket, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received = {"requests": 0, "bytes": 0}
    lock = threading.Lock()

    class Sink(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            # As any real server does (uvicorn, nginx): no Nagle stall between header and body.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _answer(self, body):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            size = int(self.headers.get("Content-Length", 0))
            self.rfile.read(size)
            with lock:
                received["requests"] += 1
                received["bytes"] += size
            self._answer(b'{"success": true}')

        do_PUT = do_POST

        def do_GET(self):
            with lock:
                self._answer(json.dumps(received).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)

HONEYTRACE_RUN = textwrap.dedent(
    """
    import json, resource, sys, threading, time
    import honeytrace

    url, events, per_root = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    honeytrace.configure(api_key="bench", server_url=url, max_queue=events * 2)

    @honeytrace.trace_tool
    def step(i, text):
        return i

    with honeytrace.session("warm-up"):
        step(0, "x")
    assert honeytrace.flush(60)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    main0 = time.thread_time()
    started = time.perf_counter()
    for root in range(events // per_root):
        with honeytrace.session("root", inputs={"root": root}):
            for i in range(per_root - 1):
                step(i, "some text")
    recorded = time.perf_counter() - started
    delivered = honeytrace.flush(300)
    wall = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    total_cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    main_cpu = time.thread_time() - main0
    stats = honeytrace.stats()
    print(json.dumps({
        "wall_s": wall, "record_s": recorded, "delivered": delivered,
        "background_cpu_s": total_cpu - main_cpu, "sent": stats.sent - 2,
        "dropped": stats.dropped,
    }))
    """
)

OTEL_RUN = textwrap.dedent(
    """
    import json, resource, sys, time
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    url, events, per_root = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=url + "/v1/traces"), max_queue_size=events * 2)
    )
    tracer = provider.get_tracer("bench")

    @tracer.start_as_current_span("step")
    def step(i, text):
        return i

    with tracer.start_as_current_span("warm-up"):
        step(0, "x")
    provider.force_flush()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    main0 = time.thread_time()
    started = time.perf_counter()
    for root in range(events // per_root):
        with tracer.start_as_current_span("root", attributes={"root": root}):
            for i in range(per_root - 1):
                step(i, "some text")
    recorded = time.perf_counter() - started
    delivered = provider.force_flush(300_000)
    wall = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    total_cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    print(json.dumps({
        "wall_s": wall, "record_s": recorded, "delivered": delivered,
        "background_cpu_s": total_cpu - (time.thread_time() - main0),
    }))
    """
)


def _run(code: str, url: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env = {k: v for k, v in env.items() if not k.startswith(("HH_", "HONEYTRACE_"))}
    result = subprocess.run(
        [sys.executable, "-c", code, url, str(EVENTS), str(PER_ROOT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@contextlib.contextmanager
def sink() -> Iterator[str]:
    """A minimal HTTP sink in its own process; yields its URL."""
    process = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield f"http://127.0.0.1:{process.stdout.readline().strip()}"
    finally:
        process.terminate()
        process.wait(10)


def run(repeats: int = 5) -> dict[str, Any]:
    """``repeats`` pairs of runs, one of each side back to back: the budget is the median of
    the per-pair ratios (a slow spell of a shared machine hits both runs of a pair alike), and
    each side's median wall time is reported with the details."""
    runs: dict[str, list[dict[str, Any]]] = {"honeytrace": [], "opentelemetry": []}
    ratios = []
    with sink() as url:
        for _ in range(repeats):
            runs["honeytrace"].append(_run(HONEYTRACE_RUN, url))
            runs["opentelemetry"].append(_run(OTEL_RUN, url))
            ratios.append(runs["honeytrace"][-1]["wall_s"] / runs["opentelemetry"][-1]["wall_s"])
        with urllib.request.urlopen(url + "/count") as answer:
            sink_stats = json.loads(answer.read())
    summary: dict[str, Any] = {"events": EVENTS, "per_root": PER_ROOT, "sink": sink_stats}
    for side, results in runs.items():
        walls = [r["wall_s"] for r in results]
        middle = sorted(results, key=lambda r: r["wall_s"])[len(results) // 2]
        summary[side] = {
            **middle,
            "background_cpu_us_per_event": middle["background_cpu_s"] / EVENTS * 1e6,
            "walls_s": walls,  # in run order: pair i is walls_s[i] of both sides
        }
    summary["pair_ratios"] = ratios
    summary["ratio_wall"] = sorted(ratios)[len(ratios) // 2]
    return summary


if __name__ == "__main__":
    started = time.time()
    print(json.dumps(run(1), indent=2))
    print(f"{time.time() - started:.1f} s")
