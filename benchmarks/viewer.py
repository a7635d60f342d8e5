"""`python -m benchmarks.viewer`: the trace viewer at scale.

A store of 100,000 sessions (each a session and one model event with tokens and cost) plus one
session of 5,000 events (chains of tools and model calls, four levels deep) is built once in a
temporary directory; a real ``honeytrace serve`` process serves it. Each JSON route is timed from
this process over HTTP (median and p90 of repeated requests, plus the answer's size); with
Playwright and /usr/bin/chromium present, the trace page of the 5,000-event session is opened in
headless Chromium and timed to its first drawn rows, with the page's element count.
Results go to benchmarks/results/viewer.json. ``--sessions N`` makes a smaller store.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
T0 = 1_700_000_000_000
CHROMIUM = "/usr/bin/chromium"


def build_store(path: str, sessions: int) -> tuple[str, str]:
    """Fill the store; returns the id of the 5,000-event session and of a small one."""
    from honeytrace.local.store import Store

    store = Store(path)
    small = ""
    batch: list[dict[str, Any]] = []
    for number in range(sessions):
        sid = str(uuid.uuid4())
        small = small or sid
        start = T0 + number * 1000
        batch.append(
            {"event_id": sid, "session_id": sid, "event_type": "session",
             "event_name": f"chat-{number % 50}", "source": "bench", "start_time": start,
             "duration": 900 + number % 400, "inputs": {"question": f"question {number}"}}
        )  # fmt: skip
        batch.append(
            {"event_id": str(uuid.uuid4()), "session_id": sid, "event_type": "model",
             "event_name": "generate", "start_time": start + 10, "duration": 800,
             "config": {"model": "gpt-4o" if number % 2 else "claude"},
             "inputs": {"messages": [{"role": "user", "content": f"question {number}"}]},
             "outputs": {"content": f"answer {number}"},
             "error": "RateLimitError: slow down" if number % 97 == 0 else None,
             "metrics": {"prompt_tokens": 100 + number % 50, "completion_tokens": 20,
                         "cost_usd": 0.001 * (number % 7)}}
        )  # fmt: skip
        if len(batch) >= 20_000:
            store.add_events(None, batch)
            batch = []
    if batch:
        store.add_events(None, batch)
    big = str(uuid.uuid4())
    store.add_events(None, big_session(big, T0 + sessions * 1000))
    store.close()
    return big, small


def big_session(sid: str, start: int, events: int = 5_000) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"event_id": sid, "session_id": sid, "event_type": "session", "event_name": "agent-run",
         "source": "bench", "start_time": start, "duration": events * 10}
    ]  # fmt: skip
    made = 0
    step = 0
    while made < events - 1:
        chain = str(uuid.uuid4())
        rows.append(
            {"event_id": chain, "session_id": sid, "parent_id": sid, "event_type": "chain",
             "event_name": f"step-{step}", "start_time": start + made * 10, "duration": 90}
        )  # fmt: skip
        made += 1
        for child in range(9):
            if made >= events - 1:
                break
            kind = "model" if child % 3 == 2 else "tool"
            usage = {"prompt_tokens": 50, "completion_tokens": 5}
            rows.append(
                {"event_id": str(uuid.uuid4()), "session_id": sid, "parent_id": chain,
                 "event_type": kind, "event_name": f"{kind}-{child}",
                 "start_time": start + made * 10, "duration": 8,
                 "inputs": {"query": "x" * 200}, "outputs": {"result": "y" * 200},
                 "metrics": usage if kind == "model" else {}}
            )  # fmt: skip
            made += 1
        step += 1
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(db: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from honeytrace.local.cli import main; main()", "serve",
         "--db", db, "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1):
                return process, url
        except OSError:
            time.sleep(0.05)
    process.terminate()
    raise RuntimeError("honeytrace serve did not start")


def timed(url: str, repeats: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    samples: list[float] = []
    size = 0
    status = 0
    for _ in range(repeats):
        request = urllib.request.Request(url, headers=headers or {})
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                body = answer.read()
                status = answer.status
        except urllib.error.HTTPError as exc:  # 304 arrives as an "error"
            body = b""
            status = exc.code
        samples.append((time.perf_counter() - started) * 1000)
        size = len(body)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p90_ms": round(samples[int(len(samples) * 0.9) - 1 if len(samples) > 1 else 0], 2),
        "bytes": size,
        "status": status,
    }


def routes(url: str, big: str, small: str, sessions: int, repeats: int) -> dict[str, Any]:
    tree = json.loads(urllib.request.urlopen(f"{url}/api/sessions/{big}").read())
    model_event = next(row[0] for row in tree["events"] if row[3] == "model")
    etag = urllib.request.urlopen(f"{url}/api/sessions").headers["ETag"]
    cases = {
        "sessions, first page (50)": "/api/sessions",
        "sessions, last page": f"/api/sessions?offset={max(0, sessions - 49)}",
        "sessions, poll unchanged (304)": ("/api/sessions", {"If-None-Match": etag}),
        "sessions, search text in inputs/outputs": "/api/sessions?q=answer%2012345",
        "sessions, search id prefix": f"/api/sessions?q={small[:8]}",
        "sessions, errors only": "/api/sessions?errors=1",
        "sessions, model filter": "/api/sessions?model=claude",
        "sessions, sort by duration": "/api/sessions?sort=duration",
        "sessions, sort by cost": "/api/sessions?sort=cost",
        "facets": "/api/facets",
        "trace of 5,000 events (compact tree)": f"/api/sessions/{big}",
        "one event's details": f"/api/events/{model_event}",
        "compare 5,000 vs 5,000 events": f"/api/compare?a={big}&b={big}",
    }
    results: dict[str, Any] = {}
    for name, case in cases.items():
        path, headers = case if isinstance(case, tuple) else (case, None)
        slow = "cost" in name or "search text" in name or "compare" in name
        results[name] = timed(url + path, max(3, repeats // 4) if slow else repeats, headers)
        print(f"  {name:42} {results[name]}", file=sys.stderr)
    return results


def page_load(url: str, big: str) -> dict[str, Any] | None:
    """Open the 5,000-event trace in headless Chromium: ms to the first drawn rows."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not os.path.exists(CHROMIUM):
        return None
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    loads: list[float] = []
    elements = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(url + "/")  # modules cached, as for a person moving from the list
        for _ in range(5):
            started = time.perf_counter()
            page.goto(f"{url}/sessions/{big}")
            page.wait_for_selector(".bar")
            page.wait_for_selector("#detail-title")
            loads.append((time.perf_counter() - started) * 1000)
            elements = page.evaluate("document.getElementsByTagName('*').length")
        browser.close()
    return {
        "median_ms": round(statistics.median(loads), 1),
        "max_ms": round(max(loads), 1),
        "elements_in_page": elements,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.viewer", description=__doc__)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        db = os.path.join(folder, "traces.db")
        started = time.perf_counter()
        big, small = build_store(db, args.sessions)
        built = time.perf_counter() - started
        print(f"store: {args.sessions:,} sessions + one of 5,000 events in {built:.1f} s",
              file=sys.stderr)  # fmt: skip
        process, url = serve(db)
        try:
            results = {
                "sessions": args.sessions,
                "routes": routes(url, big, small, args.sessions, args.repeats),
                "trace_page_5000_events": page_load(url, big),
            }
        finally:
            process.terminate()
            process.wait(10)
    print(json.dumps(results, indent=1))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "viewer.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
