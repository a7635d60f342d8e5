"""The HTTP side of :class:`~tests.support.fake_api.FakeApi`: a stdlib ``ThreadingHTTPServer``.

It speaks HTTP/1.1 with keep-alive (honeytrace's httpx client pools connections), frames bodies by
``Content-Length`` (or ``chunked``), and always answers with a ``Content-Length``. What to answer
is the application's business (:class:`App`); this module only adds the two ways of *not*
answering that fault injection needs: an abrupt reset (RST) and a silent drop.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Protocol

from .fake_api_routes import Reply, error_reply

__all__ = ["DROP", "RESET", "App", "FakeHttpServer", "Outcome"]

RESET: Literal["reset"] = "reset"
"""Close the connection with an RST (SO_LINGER 0) and no answer."""
DROP: Literal["drop"] = "drop"
"""Close the connection without an answer (the server is going away)."""

Outcome = Reply | Literal["reset", "drop"]


class App(Protocol):
    """What the HTTP layer calls; :class:`~tests.support.fake_api.FakeApi` implements it."""

    def connected(self) -> None:
        """A new TCP connection was accepted."""

    def serve(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        stopping: threading.Event,
    ) -> Outcome:
        """Decide the outcome of one request (may block: blackhole, slow). ``stopping`` is set
        when this server instance is going away."""
        ...


class FakeHttpServer(ThreadingHTTPServer):
    """One listening life of the fake API on 127.0.0.1; :meth:`halt` ends it like an outage."""

    daemon_threads = True
    # A blackholed handler may still be waiting: server_close() must not join it.
    block_on_close = False
    # stop() then start() binds the same port again at once, TIME_WAIT notwithstanding.
    allow_reuse_address = True

    def __init__(self, port: int, app: App) -> None:
        self.app = app
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def track(self, connection: socket.socket) -> bool:
        """Remember an open connection so :meth:`halt` can cut it; False if halting already."""
        with self._connections_lock:
            if self.stopping.is_set():
                return False
            self._connections.add(connection)
        self.app.connected()
        return True

    def untrack(self, connection: socket.socket) -> None:
        """Forget a connection its handler has finished with."""
        with self._connections_lock:
            self._connections.discard(connection)

    def halt(self) -> None:
        """Refuse new connections and cut the open ones, idle keep-alive ones included: a
        pooled client connection must not outlive the outage."""
        with self._connections_lock:
            self.stopping.set()
            connections = list(self._connections)
        self.shutdown()  # returns within serve_forever's poll interval
        self.server_close()  # the port is closed now: connects are refused
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client pools connections
    # Headers and body go out in two writes: without this, Nagle and the client's delayed ACK
    # add ~40 ms to every answer.
    disable_nagle_algorithm = True
    server: FakeHttpServer

    def setup(self) -> None:
        super().setup()
        if not self.server.track(self.connection):
            self.connection.shutdown(socket.SHUT_RDWR)  # accepted while halting: no service

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output stays readable (the requests are recorded instead)."""

    def do_POST(self) -> None:
        self._handle()

    do_PUT = do_GET = do_DELETE = do_PATCH = do_POST

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, OSError):
            body = None
        if body is None:
            self.close_connection = True
            self._write(error_reply(400, "bad request framing"))
            return
        outcome = self.server.app.serve(
            self.command, self.path, dict(self.headers.items()), body, self.server.stopping
        )
        if outcome == RESET:
            self._reset()
        elif outcome == DROP:
            self.close_connection = True
        elif isinstance(outcome, Reply):
            self._write(outcome)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            return None
        body = self.rfile.read(length)
        return body if len(body) == length else None  # short: the client went away

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        while True:
            line = self.rfile.readline(65537)
            if not line:
                return None
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers: ignored
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk

    def _write(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:  # the client gave up, or halt() cut the connection
            self.close_connection = True

    def _reset(self) -> None:
        self.close_connection = True
        # SO_LINGER on with 0 s makes close() send an RST instead of a FIN: a crashed proxy.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # the makefile holds a reference: the fd closes only without it
        self.connection.close()
