"""Keep-alive HTTP/1.1 connections to one API origin, on the standard library's http.client.

Why not httpx: the flusher's throughput is bound by CPU per request, and on CPython 3.11 an
httpx request to a local server costs about 1.0 ms of CPU against 0.16 ms for http.client (the
same 20 KB batch, measured side by side; see benchmarks/). The API needs little: POST and PUT
of JSON over HTTP/1.1, TLS with verification, timeouts, proxies from the environment.

A small pool of idle connections serves the flusher's sender threads. A connection the server
closed while idle is detected on reuse and the request is sent once more on a fresh one (every
request honeytrace sends is idempotent: ids are made by the client).

``timeout`` bounds the whole request, not each socket read: every read of the answer (status
line, headers, body) gets what is left of one deadline, so a server that trickles its answer a
byte at a time cannot hold a sender longer. The answer's body is read up to
:data:`BODY_LIMIT` only (honeytrace needs none of a success and the start of an error); a
longer one is cut and its connection closed rather than drained.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import io
import socket
import ssl
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "BODY_LIMIT",
    "CertificateFailed",
    "ConnectionFailed",
    "Connections",
    "Reply",
    "RequestTimedOut",
]

_IDLE_LIMIT = 16
BODY_LIMIT = 64 * 1024
"""Bytes of an answer's body read at most: an error message fits, a 1.5 GB answer does not."""


class ConnectionFailed(OSError):
    """No answer: refused, reset, closed, DNS, TLS or protocol failure."""


class RequestTimedOut(ConnectionFailed):
    """The server did not answer within the timeout."""


class CertificateFailed(ConnectionFailed):
    """The server's TLS certificate did not verify: permanent until the set-up changes."""


class _DeadlineReader(io.RawIOBase):
    """The socket as a raw stream whose every read waits at most what is left of a deadline
    (a per-read timeout alone lets a trickling server extend the request forever)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the answer did not arrive within the request's deadline")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


class _Response(http.client.HTTPResponse):
    """An answer read under the request's deadline."""

    def __init__(self, sock: socket.socket, *args: Any, deadline: float, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self.fp.close()  # the plain makefile() the base class opened: replaced below
        self.fp = io.BufferedReader(_DeadlineReader(sock, deadline))


@dataclass
class Reply:
    """An HTTP answer, read whole."""

    status: int
    reason: str
    headers: dict[str, str]  # names lower-cased
    body: bytes  # at most BODY_LIMIT bytes of it


class Connections:
    """Connections to the origin of ``base_url``; ``request`` is safe from several threads."""

    def __init__(self, base_url: str, *, verify: bool = True) -> None:
        parts = urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.https else 80)
        self.base_path = parts.path.rstrip("/")
        self._context: ssl.SSLContext | None = None
        if self.https:
            self._context = ssl.create_default_context()
            if not verify:
                self._context.check_hostname = False
                self._context.verify_mode = ssl.CERT_NONE
        self._proxy = self._proxy_for(base_url)
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    @property
    def verify_mode(self) -> ssl.VerifyMode | None:
        """The TLS verification mode (None over plain HTTP)."""
        return None if self._context is None else self._context.verify_mode

    @staticmethod
    def _proxy_for(url: str) -> tuple[str, int] | None:
        """HTTP(S)_PROXY from the environment, unless NO_PROXY covers the host."""
        parts = urlsplit(url)
        if urllib.request.proxy_bypass(parts.hostname or ""):
            return None
        proxy = urllib.request.getproxies().get(parts.scheme)
        if not proxy:
            return None
        proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        return proxy_parts.hostname or "", proxy_parts.port or 8080

    def _new(self, timeout: float) -> http.client.HTTPConnection:
        # A fresh connection's connect and TLS handshake get what is left of the deadline.
        host, port = self._proxy or (self.host, self.port)
        connection: http.client.HTTPConnection
        if self.https:
            connection = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=self._context
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        if self._proxy is not None and self.https:
            connection.set_tunnel(self.host, self.port)
        connection.connect()
        # Headers and body go out in separate writes: without this, Nagle's algorithm and
        # the peer's delayed ACK can stall each request for 40 ms.
        if connection.sock is not None:
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def _target(self, path: str) -> str:
        if self._proxy is not None and not self.https:
            scheme = "http"
            return f"{scheme}://{self.host}:{self.port}{self.base_path}{path}"
        return f"{self.base_path}{path}"

    def request(
        self, method: str, path: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> Reply:
        """Send one request and read its answer, all within ``timeout`` seconds; raises
        :class:`ConnectionFailed` (:class:`RequestTimedOut`, :class:`CertificateFailed`) when
        there is no answer."""
        deadline = time.monotonic() + timeout
        with self._lock:
            connection = self._idle.pop() if self._idle else None
        for reused in (connection is not None, False):
            try:
                remaining = max(deadline - time.monotonic(), 0.001)
                if connection is None:
                    connection = self._new(remaining)
                elif connection.sock is not None:
                    connection.sock.settimeout(remaining)  # sendall: one timeout for it all
                connection.response_class = functools.partial(  # type: ignore[assignment]
                    _Response, deadline=deadline
                )
                connection.request(method, self._target(path), body=body, headers=headers)
                response = connection.getresponse()
                data = response.read(BODY_LIMIT)
                whole = response.isclosed()  # read to its end (or the server closes)
            except TimeoutError as exc:
                self._discard(connection)
                raise RequestTimedOut(f"timed out after {timeout:.3g} s") from exc
            except ssl.SSLCertVerificationError as exc:
                self._discard(connection)
                raise CertificateFailed(
                    f"the server's TLS certificate did not verify ({exc.verify_message})"
                ) from exc
            except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
                self._discard(connection)
                connection = None
                if reused and isinstance(
                    exc, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
                ):
                    continue  # the server closed an idle connection: once more, fresh
                raise ConnectionFailed(f"{type(exc).__name__}: {exc}") from exc
            reply = Reply(
                response.status,
                response.reason,
                {name.lower(): value for name, value in response.getheaders()},
                data,
            )
            if response.will_close or not whole:  # the rest is not read: nor reused
                self._discard(connection)
            else:
                with self._lock:
                    if len(self._idle) < _IDLE_LIMIT:
                        self._idle.append(connection)
                        connection = None
                self._discard(connection)
            return reply
        raise ConnectionFailed("the connection was closed")  # pragma: no cover - loop returns

    @staticmethod
    def _discard(connection: http.client.HTTPConnection | None) -> None:
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.close()

    def close(self) -> None:
        """Close idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            self._discard(connection)
