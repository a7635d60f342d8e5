"""A fake Anthropic API on 127.0.0.1, for the real SDK client to talk to.

It answers ``POST /v1/messages`` from recorded bodies and SSE streams in ``fixtures/``; a test
can queue its own replies (errors, other bodies) and read every request the server received.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@dataclass
class Reply:
    """One scripted answer: a JSON body, or an SSE stream (raw text) when ``sse`` is set."""

    status: int = 200
    body: Any = None
    sse: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def default_reply(path: str, request: Any) -> Reply:
    if path.endswith("/v1/messages"):
        if request.get("stream") is True:
            return Reply(sse=fixture("message_stream.sse"))
        return Reply(body=json.loads(fixture("message.json")))
    return Reply(404, {"type": "error", "error": {"type": "not_found_error", "message": path}})


class FakeAnthropic:
    """The server; ``url`` is the SDK's ``base_url``."""

    def __init__(self) -> None:
        self.queue: deque[Reply] = deque()
        self.received: list[Any] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                server.received.append(request)
                reply = (
                    server.queue.popleft() if server.queue else default_reply(self.path, request)
                )
                try:
                    self.send_response(reply.status)
                    self.send_header("request-id", f"req_fake_{len(server.received)}")
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    if reply.sse is not None:
                        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                        self.end_headers()
                        self.wfile.write(reply.sse.encode())
                        return
                    data = json.dumps(reply.body).encode()
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client closed a stream early: fine

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeAnthropic:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reply(self, name: str) -> None:
        """Answer the next request with a fixture (``.sse`` streams, ``.json`` bodies)."""
        if name.endswith(".sse"):
            self.queue.append(Reply(sse=fixture(name)))
        else:
            self.queue.append(Reply(body=json.loads(fixture(name))))

    def error(self, status: int, name: str) -> None:
        """Answer the next request with an API error body from a fixture."""
        self.queue.append(Reply(status, json.loads(fixture(name))))
