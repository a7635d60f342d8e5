"""Connection-level limits for the collector under uvicorn: how long a client may take to send a
request head, how long an idle keep-alive connection stays, how big a head may be, how many
connections and requests run at once.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but has no deadline for the
request head: a client that connects and sends nothing, or half a head, holds its connection
(and a file descriptor) forever; 900 of them were all still held after 10 s. The protocol
here arms a timer whenever a request head is due (on connect, and when the next request's first
bytes arrive on a kept-alive connection) and closes the connection if the head is not complete
when it fires. The head itself is bounded by h11 (``h11_max_incomplete_event_size``), hence the
h11 implementation, whose limits are explicit, rather than uvicorn's "auto".
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["DEFAULT_HEADER_TIMEOUT", "HeadTimeoutProtocol", "uvicorn_options"]

DEFAULT_HEADER_TIMEOUT = 10.0
"""Seconds from the first byte a request head is due to its end."""
_KEEP_ALIVE = 5  # uvicorn's default, stated: idle seconds between requests on one connection
_MAX_HEAD = 64 * 1024  # bytes of request line and headers (h11's default is 16 KiB)
_MAX_CONCURRENCY = 256  # connections or requests at once; more are answered 503 (retried)


class HeadTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head (``head_timeout``,
    set on a subclass by :func:`uvicorn_options`)."""

    head_timeout = DEFAULT_HEADER_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """A new connection: its first request head is due now."""
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Bytes in: a head that starts now is due within the deadline; a head that this data
        completed (a new request cycle) disarms it."""
        before = self.cycle
        if self._head_timer is None and self._between_requests():
            self._arm()
        super().data_received(data)
        if self.cycle is not before:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: no timer may outlive it."""
        self._disarm()
        super().connection_lost(exc)

    def _between_requests(self) -> bool:
        cycle = self.cycle
        return cycle is None or bool(cycle.response_complete)

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_overdue)

    def _disarm(self) -> None:
        timer, self._head_timer = self._head_timer, None
        if timer is not None:
            timer.cancel()

    def _head_overdue(self) -> None:
        self._head_timer = None
        # A pipelined request may have started meanwhile (from buffered bytes): leave it be.
        if self._between_requests() and not self.transport.is_closing():
            self.transport.close()


def uvicorn_options(header_timeout: float = DEFAULT_HEADER_TIMEOUT) -> dict[str, Any]:
    """The ``uvicorn.Config`` keyword arguments that set the collector's connection limits."""
    protocol = type(
        "HeadTimeoutProtocol", (HeadTimeoutProtocol,), {"head_timeout": float(header_timeout)}
    )
    return {
        "http": protocol,
        "timeout_keep_alive": _KEEP_ALIVE,
        "h11_max_incomplete_event_size": _MAX_HEAD,
        "limit_concurrency": _MAX_CONCURRENCY,
    }
