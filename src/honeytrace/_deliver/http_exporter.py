"""The HTTP exporter: the HoneyHive API through the transport, with an optional disk spool.

Without a spool, a request that is still failing when its retry deadline passes raises
:class:`RetryableError` and the flusher counts its events as dropped (``retry_exhausted``).

With a spool (``spool_dir``), that request is written to disk instead, and from then on every
new request goes to the spool too, behind it, so that a session's create always reaches the
server before its batches. Each flusher cycle calls :meth:`HttpExporter.replay`, which sends the
spool oldest first (one attempt per file, probing with a growing delay while the server stays
down) until it is empty; then requests go straight to the server again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pydantic_core import to_json

from honeytrace._deliver.exporters import (
    AuthError,
    Body,
    RejectedError,
    RetryableError,
    Spooled,
)
from honeytrace._deliver.spool import Spool
from honeytrace._deliver.transport import Transport, backoff_delay

__all__ = ["HttpExporter", "ReplayResult"]

_MAX_PROBE_DELAY = 30.0


@dataclass
class ReplayResult:
    """What one replay pass did, in events (for the flusher's counters)."""

    sent: int = 0
    rejected: int = 0


class HttpExporter:
    """Sends to the HoneyHive API (or anything that speaks it, like ``honeytrace serve``)."""

    concurrent = True
    """Requests of different sessions may overlap (the client's pool is thread-safe)."""

    def __init__(self, transport: Transport, spool: Spool | None = None) -> None:
        self.transport = transport
        self.spool = spool
        self._backlog = spool is not None and spool.has_work()
        self._probe_failures = 0
        self._next_probe = 0.0
        self.adopted = spool.foreign_events() if spool is not None else 0
        """Events found in the spool of processes that ended: this process now delivers them."""

    def create_session(self, body: Body, *, events: int = 0) -> None:
        """``POST /v1/sessions``."""
        self._send("POST", "/v1/sessions", to_json(body), events, is_create=True)

    def send_events(
        self, session_id: str, events: list[Body], raw: list[bytes] | None = None
    ) -> None:
        """``POST /v1/sessions/{session_id}/events/batch``, from pre-encoded events if given."""
        parts = raw if raw is not None else [to_json(event) for event in events]
        content = b'{"events":[' + b",".join(parts) + b"]}"
        self._send("POST", f"/v1/sessions/{session_id}/events/batch", content, len(events))

    def update_event(self, event_id: str, body: Body, *, events: int = 0) -> None:
        """``PUT /v1/events/{event_id}``."""
        self._send("PUT", f"/v1/events/{event_id}", to_json(body), events)

    def _send(
        self, method: str, path: str, content: bytes, events: int, *, is_create: bool = False
    ) -> None:
        spool = self.spool
        if spool is not None and self._backlog:
            raise Spooled(spool.put(method, path, content, events))
        try:
            self.transport.request(method, path, content, is_create=is_create)
        except RetryableError:
            if spool is None:
                raise
            accepted = spool.put(method, path, content, events)
            self._backlog = self._backlog or accepted
            self._schedule_probe(failed=True)
            raise Spooled(accepted) from None

    def _schedule_probe(self, failed: bool) -> None:
        if failed:
            self._probe_failures += 1
            delay = min(_MAX_PROBE_DELAY, backoff_delay(self._probe_failures))
            self._next_probe = time.monotonic() + delay
        else:
            self._probe_failures = 0
            self._next_probe = 0.0

    def replay(self, force: bool = False) -> ReplayResult:
        """Send what waits in the spool, oldest first, while the server takes it.

        Stops at the first transient failure (and waits a growing delay before the next
        probe, unless ``force``). :class:`AuthError` propagates: the files stay for a process
        with a valid key.
        """
        result = ReplayResult()
        spool = self.spool
        if spool is None or (not force and time.monotonic() < self._next_probe):
            return result
        while True:
            entry = spool.claim_oldest()
            if entry is None:
                self._backlog = False
                self._schedule_probe(failed=False)
                return result
            try:
                self.transport.request(
                    entry.method,
                    entry.url_path,
                    entry.content,
                    is_create=entry.url_path == "/v1/sessions",
                    attempts=1,
                )
            except RetryableError:
                spool.give_back(entry)
                self._backlog = True
                self._schedule_probe(failed=True)
                return result
            except RejectedError:
                spool.done(entry)
                result.rejected += entry.events
                continue
            except AuthError:
                spool.give_back(entry)
                raise
            spool.done(entry)
            result.sent += entry.events

    @property
    def backlog(self) -> bool:
        """Whether requests wait in the spool."""
        return self._backlog

    def close(self) -> None:
        """Close the connection pool (the spool stays on disk for the next process)."""
        self.transport.close()
