"""The HTTP side of :class:`~tests.support.fake_api.FakeApi`: a stdlib ``ThreadingHTTPServer``.

It speaks HTTP/1.1 with keep-alive (honeytrace's httpx client pools connections), frames bodies by
``Content-Length`` (or ``chunked``), and always answers with a ``Content-Length``. What to answer
is the application's business (:class:`App`); this module only adds the ways of *not*
answering well that fault injection needs: an abrupt reset (RST), a silent drop, an answer
trickled a byte at a time (:class:`Trickle`) and a huge one (:class:`Huge`). With an
``ssl.SSLContext`` it serves HTTPS (the handshake runs in the handler's thread).
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Protocol

from .fake_api_routes import Reply, error_reply

__all__ = ["DROP", "RESET", "App", "FakeHttpServer", "Huge", "Outcome", "Trickle"]

RESET: Literal["reset"] = "reset"
"""Close the connection with an RST (SO_LINGER 0) and no answer."""
DROP: Literal["drop"] = "drop"
"""Close the connection without an answer (the server is going away)."""


@dataclass
class Trickle:
    """Write ``reply`` (status line, headers, body) one byte every ``interval`` seconds."""

    reply: Reply
    interval: float


@dataclass
class Huge:
    """Answer ``status`` with a body of ``size`` bytes, written in 64 KiB chunks for as long
    as the client reads; ``written`` is how much went out before it stopped reading."""

    status: int
    size: int
    written: int = 0


Outcome = Reply | Trickle | Huge | Literal["reset", "drop"]


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

    def __init__(self, port: int, app: App, tls: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.tls = tls
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        if self.tls is not None:  # the handshake runs in the handler's thread, not here
            connection = self.tls.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        return connection, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client refusing our certificate is what a TLS test wants."""

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
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(5)
            self.request.do_handshake()  # raises when the client refuses the certificate
            self.request.settimeout(None)
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
        elif isinstance(outcome, Trickle):
            self._trickle(outcome)
        elif isinstance(outcome, Huge):
            self._huge(outcome)

    def _trickle(self, trickle: Trickle) -> None:
        reply = trickle.reply
        head = [f"HTTP/1.1 {reply.status} Slow", f"Content-Length: {len(reply.body)}"]
        head += [f"{name}: {value}" for name, value in reply.headers.items()]
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + reply.body
        self.close_connection = True
        for index in range(len(data)):
            if self.server.stopping.is_set():
                return
            try:
                self.wfile.write(data[index : index + 1])
                self.wfile.flush()
            except OSError:
                return  # the client gave up: what the test wants to see
            time.sleep(trickle.interval)

    def _huge(self, huge: Huge) -> None:
        self.close_connection = True
        chunk = b"x" * 65536
        try:
            self.send_response(huge.status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(huge.size))
            self.end_headers()
            while huge.written < huge.size and not self.server.stopping.is_set():
                self.wfile.write(chunk)
                huge.written += len(chunk)
        except OSError:
            return  # the client stopped reading and closed

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
