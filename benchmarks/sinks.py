"""The local servers the benchmarks deliver to, each in its own process (so that the sink's work
does not compete with the measured process for the GIL; it still shares the machine's cores).

- :func:`strict_sink`: the test suite's strict fake HoneyHive API (``tests/support/fake_api``):
  it validates every request as the real server does and lists what it refused. honeytrace
  delivers here, so that a fast result cannot come from sending something the server rejects.
- :func:`sink`: a minimal HTTP server that answers 200 to anything (OTLP for OpenTelemetry,
  Logfire and Langfuse, LangSmith's run endpoints, the ``honeyhive`` SDK's session start and
  OTLP export). It counts requests and bytes per kind of route, and the largest body of each.

Both answer ``GET /count`` with their statistics as JSON.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STRICT_KEY = "bench"

SINK = textwrap.dedent(
    """
    import json, socket, sys, threading, uuid
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received = {"requests": 0, "bytes": 0, "routes": {}}
    lock = threading.Lock()

    def kind(method, path):
        if path.endswith("/events/batch"):
            return "batch"
        if method == "POST" and path.rstrip("/").endswith("/v1/sessions"):
            return "session"
        if method == "PUT" and "/v1/events/" in path:
            return "update"
        if path.endswith("/traces"):
            return "otlp"
        return "other"

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
            route = kind(self.command, self.path)
            with lock:
                received["requests"] += 1
                received["bytes"] += size
                stats = received["routes"].setdefault(
                    route, {"requests": 0, "bytes": 0, "max_bytes": 0}
                )
                stats["requests"] += 1
                stats["bytes"] += size
                stats["max_bytes"] = max(stats["max_bytes"], size)
            # Enough for every client pointed here: honeyhive's session start reads session_id;
            # the others ignore the body of a 200.
            ident = str(uuid.uuid4())
            self._answer(json.dumps({
                "success": True, "session_id": ident, "event_id": ident, "id": ident,
                "org_id": "bench", "workspace_id": "bench", "project_id": "bench",
            }).encode())

        do_PUT = do_PATCH = do_POST

        def do_GET(self):
            with lock:
                self._answer(json.dumps(received if self.path == "/count" else {}).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)

STRICT = textwrap.dedent(
    """
    import json, sys, threading
    sys.path.insert(0, sys.argv[1])
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from tests.support.fake_api import FakeApi

    api = FakeApi(sys.argv[2]).start()

    class Count(BaseHTTPRequestHandler):
        def do_GET(self):
            requests = api.requests
            body = json.dumps({
                "requests": len(requests),
                "bytes": sum(len(r.body or b"") for r in requests if hasattr(r, "body")),
                "sessions": len(api.sessions),
                "events": api.event_count,
                "violations": api.violations[:5],
                "violation_count": len(api.violations),
                "refused": sum(1 for r in requests if (getattr(r, "status", 200) or 200) >= 400),
            }).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    control = ThreadingHTTPServer(("127.0.0.1", 0), Count)
    print(api.url, f"http://127.0.0.1:{control.server_address[1]}", flush=True)
    control.serve_forever()
    """
)


def stats(count_url: str) -> dict[str, Any]:
    """A sink's statistics (``GET /count``)."""
    with urllib.request.urlopen(count_url + "/count", timeout=60) as answer:
        return dict(json.loads(answer.read()))


@contextlib.contextmanager
def _process(code: str, *args: str) -> Iterator[list[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().split()
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def sink() -> Iterator[str]:
    """The minimal sink; yields its URL (``GET <url>/count`` for its statistics)."""
    with _process(SINK) as line:
        yield f"http://127.0.0.1:{line[0]}"


@contextlib.contextmanager
def strict_sink() -> Iterator[tuple[str, str]]:
    """The strict fake API (key :data:`STRICT_KEY`); yields its URL and the URL of its
    statistics. Falls back to the minimal sink when the test support is not importable."""
    try:
        import pytest  # noqa: F401  (tests.support needs it)
    except ImportError:
        with sink() as url:
            yield url, url
        return
    with _process(STRICT, str(ROOT), STRICT_KEY) as line:
        yield line[0], line[1]
