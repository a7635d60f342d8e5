"""The plumbing the fake LLM servers of the integrations' tests share: a quiet request handler
that answers a whole body at once, and a threaded server on 127.0.0.1 with a free port."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

__all__ = ["LocalServer", "QuietHandler"]

_S = TypeVar("_S", bound="LocalServer")


class QuietHandler(BaseHTTPRequestHandler):
    """A handler that logs nothing and answers with :meth:`reply`."""

    def reply(self, status: int, content_type: str, payload: str) -> None:
        data = payload.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) for ``handler``; ``base`` is its root."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self: _S) -> _S:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
