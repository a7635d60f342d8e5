"""The collector's front door: which requests reach the app at all, and how much of them.

:class:`CollectorGuard` is ASGI middleware, the outermost of the collector's own. It answers
before the app runs when:

- the ``Host`` header names no allowed host (421): a DNS-rebinding page in a browser reaches
  127.0.0.1 under its own name, and would otherwise read every stored trace. Allowed are the
  loopback names (``localhost``, ``127.0.0.1``, ``[::1]``), on any port, plus those configured
  (``honeytrace serve`` adds its ``--host`` and each ``--allow-host``; ``*`` allows any);
- a write (``POST``, ``PUT``, ``PATCH``, ``DELETE``) comes from a browser page of another site
  (403): its ``Origin`` names no allowed host (``Origin: null`` included), or it says
  ``Sec-Fetch-Site: cross-site``. A form or ``text/plain`` fetch needs no CORS preflight, so
  without this any web page could write into the store. Clients that are not browsers send
  neither header and pass;
- the body is larger than ``max_body_bytes`` (413): by ``Content-Length`` at once, else while
  it streams, counting what the app reads, so that no more than the limit is ever held. A
  ``Content-Encoding: gzip`` (or ``deflate``) body is decoded here, and the limit applies to
  the decoded bytes (a small bomb cannot expand past it); the app behind sees a plain body.
  Another encoding is a 415;
- the client stops sending a body it announced for ``read_timeout`` seconds (408).

The connection-level limits (a deadline for the request head, idle keep-alive, head size) are
the server's: see :mod:`.connections`.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from honeytrace.local.collector._http import error_response

__all__ = ["DEFAULT_MAX_BODY_BYTES", "LOOPBACK_HOSTS", "CollectorGuard", "host_name"]

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
"""32 MiB: ten times the SDK's largest batch (``max_batch_bytes``, 4 MiB)."""
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_CHUNK = 64 * 1024


def host_name(value: str) -> str:
    """The name in a ``Host`` header or an ``--allow-host`` value, without port, brackets or a
    trailing dot, lower case: ``[::1]:8787`` -> ``::1``, ``LocalHost.:80`` -> ``localhost``."""
    text = value.strip().lower()
    if text.startswith("["):  # an IPv6 literal, perhaps with a port
        end = text.find("]")
        return text[1:end] if end > 0 else text
    name, colon, port = text.rpartition(":")
    if colon and port.isdigit() and ":" not in name:
        text = name
    return text.rstrip(".")


class _Refused(Exception):
    """The request body broke a limit; the guard answers ``status`` instead of the app."""

    def __init__(self, status: int, message: str, error_code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code


class CollectorGuard:
    """ASGI middleware: Host allowlist, no cross-site writes, a bounded and timed body (see the
    module doc). ``allowed_hosts`` adds names to the loopback ones; ``"*"`` allows any host."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Iterable[str] = (),
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        read_timeout: float = 30.0,
    ) -> None:
        self.app = app
        names = {host_name(name) for name in (*LOOPBACK_HOSTS, *allowed_hosts) if name.strip()}
        self.any_host = "*" in names
        self.allowed_hosts = frozenset(names - {"*"})
        self.max_body_bytes = max_body_bytes
        self.read_timeout = read_timeout
        shown = sorted(self.allowed_hosts, key=lambda name: (name not in LOOPBACK_HOSTS, name))
        self._shown = ", ".join(f"[{name}]" if ":" in name else name for name in shown)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            if kind == "websocket":  # closing before accepting is a 403 handshake answer
                await send({"type": "websocket.close", "code": 1008, "reason": refusal.message})
                return
            await self._answer(refusal, scope, receive, send)
            return
        if kind == "websocket":
            await self.app(scope, receive, send)
            return
        await self._bounded(scope, receive, send)

    # -- who may ask --------------------------------------------------------------------------

    def _refusal(self, scope: Scope) -> _Refused | None:
        hosts: list[bytes] = []
        origin = fetch_site = None
        encoding = b""
        length = None
        for name, value in scope["headers"]:
            if name == b"host":
                hosts.append(value)
            elif name == b"origin":
                origin = value
            elif name == b"sec-fetch-site":
                fetch_site = value
            elif name == b"content-encoding":
                encoding = value
            elif name == b"content-length":
                length = value
        if len(hosts) > 1:
            return _Refused(400, "more than one Host header", "BAD_HOST")
        if hosts and not self._allowed(host_name(hosts[0].decode("latin-1"))):
            host = hosts[0].decode("latin-1")
            return _Refused(
                421,
                f"Host {host!r} is not allowed: this collector answers to {self._shown}. "
                f"If {host_name(host)!r} is meant to reach it, start it with "
                f"--allow-host {host_name(host)} (allow_hosts= in create_app)",
                "HOST_NOT_ALLOWED",
            )
        if scope["type"] == "websocket" or scope["method"] in _WRITES:
            cross = self._cross_site(origin, fetch_site)
            if cross is not None:
                return _Refused(403, f"cross-site write refused: {cross}", "CROSS_SITE")
        if scope["type"] == "http":
            return self._body_refusal(length, encoding)
        return None

    def _allowed(self, name: str) -> bool:
        return self.any_host or name in self.allowed_hosts

    def _cross_site(self, origin: bytes | None, fetch_site: bytes | None) -> str | None:
        if fetch_site is not None and fetch_site.strip().lower() == b"cross-site":
            return "the browser says Sec-Fetch-Site: cross-site"
        if origin is None:
            return None  # no browser page behind it (curl, SDKs), or a same-origin GET form
        text = origin.decode("latin-1").strip()
        try:
            parts = urlsplit(text)
            scheme, name = parts.scheme, parts.hostname
        except ValueError:  # "http://[oops"
            scheme, name = "", None
        if scheme not in ("http", "https") or not name or not self._allowed(name):
            return f"Origin {text!r} is not an allowed host"
        return None

    def _body_refusal(self, length: bytes | None, encoding: bytes) -> _Refused | None:
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                return _Refused(400, "Content-Length is not a number", "BAD_REQUEST")
            if size > self.max_body_bytes:  # encoded or not: the raw bytes are bounded too
                return self._too_large()
        coding = encoding.decode("latin-1").strip().lower()
        if coding and coding != "identity" and coding not in _DECODERS:
            return _Refused(
                415, f"Content-Encoding {coding!r} is not supported (gzip, deflate)", "ENCODING"
            )
        return None

    def _too_large(self) -> _Refused:
        return _Refused(
            413,
            f"request body larger than {self.max_body_bytes:,} bytes "
            "(honeytrace serve --max-body-mb raises the limit)",
            "PAYLOAD_TOO_LARGE",
        )

    # -- the body -----------------------------------------------------------------------------

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = _BoundedBody(self, scope, receive)
        started = False
        replaced = False

        async def guarded_send(message: Message) -> None:
            nonlocal started, replaced
            if replaced:
                return  # our answer went out instead of the app's
            if body.refused is not None and not started:
                # The app caught the error (a broad except) and answers on: ours wins.
                replaced = True
                await self._answer(body.refused, scope, receive, send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(body.scope, body.receive, guarded_send)
        except _Refused as refusal:
            if started:
                raise  # too late to answer: the server drops the connection
            if not replaced:
                await self._answer(refusal, scope, receive, send)

    @staticmethod
    async def _answer(refusal: _Refused, scope: Scope, receive: Receive, send: Send) -> None:
        # The rest of an unread body would be read as the next request: close the connection.
        headers = {"Connection": "close"}
        response = error_response(refusal.status, refusal.message, refusal.error_code, headers)
        await response(scope, receive, send)


class _BoundedBody:
    """The app's view of one request body: counted, decoded, timed."""

    def __init__(self, guard: CollectorGuard, scope: Scope, receive: Receive) -> None:
        self._guard = guard
        self._receive = receive
        self._limit = guard.max_body_bytes
        self._read = 0  # bytes the app got (decoded)
        self._raw = 0  # bytes the client sent: bounded too, or empty gzip blocks never end
        self._done = False
        self.refused: _Refused | None = None
        self._decoder: Any = None
        self.scope = scope
        coding = b""
        for name, value in scope["headers"]:
            if name == b"content-encoding":
                coding = value.strip().lower()
        wbits = _DECODERS.get(coding.decode("latin-1"))
        if wbits is not None:
            self._decoder = zlib.decompressobj(wbits)
            # The app sees the decoded body: neither the encoding nor the old length applies.
            headers = [
                (name, value)
                for name, value in scope["headers"]
                if name not in (b"content-encoding", b"content-length")
            ]
            self.scope = {**scope, "headers": headers}

    async def receive(self) -> Message:
        if self.refused is not None:
            raise self.refused
        if self._done:
            return await self._receive()  # after the body: e.g. waiting for http.disconnect
        try:
            message = await asyncio.wait_for(self._receive(), self._guard.read_timeout)
        except asyncio.TimeoutError:
            raise self._refuse(
                _Refused(
                    408,
                    f"no request body data for {self._guard.read_timeout:g} s",
                    "REQUEST_TIMEOUT",
                )
            ) from None
        if message["type"] != "http.request":
            self._done = True
            return message
        more = bool(message.get("more_body", False))
        data = message.get("body", b"")
        self._raw += len(data)
        if self._raw > self._limit:
            raise self._refuse(self._guard._too_large())
        if self._decoder is not None:
            data = self._decode(data, final=not more)
        self._read += len(data)
        if self._read > self._limit:
            raise self._refuse(self._guard._too_large())
        self._done = not more
        return {"type": "http.request", "body": data, "more_body": more}

    def _decode(self, data: bytes, *, final: bool) -> bytes:
        decoder = self._decoder
        room = self._limit - self._read + 1  # one byte more than allowed tells "too large"
        try:
            parts = [decoder.decompress(data, room)]
            size = len(parts[0])
            # Output is capped at ``room``: input left over waits in unconsumed_tail.
            while decoder.unconsumed_tail and size < room:
                parts.append(decoder.decompress(decoder.unconsumed_tail, room - size))
                size += len(parts[-1])
            if decoder.unconsumed_tail or size >= room:
                raise self._refuse(self._guard._too_large())
            if final:
                parts.append(decoder.flush(_CHUNK))
                if not decoder.eof:
                    raise zlib.error("truncated")
                if decoder.unused_data:
                    raise zlib.error("data after the end of the stream")
        except zlib.error as exc:
            raise self._refuse(
                _Refused(400, f"malformed compressed body: {exc}", "BAD_ENCODING")
            ) from None
        return b"".join(parts)

    def _refuse(self, refusal: _Refused) -> _Refused:
        self.refused = refusal
        return refusal
