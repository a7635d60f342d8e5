"""Where the flusher sends finished work: the Exporter protocol and its implementations.

An exporter receives wire-ready bodies (plain JSON-able dicts already validated against
:mod:`.models`) from the flusher thread only, and answers by returning or by raising
one of the :class:`ExportError` classes, which tell the flusher what to do next.

- :class:`honeytrace._deliver.http_exporter.HttpExporter` speaks the HoneyHive API (with its spool).
- :class:`honeytrace.local.exporter.LocalExporter` writes into the embedded SQLite store.
- :class:`MemoryExporter` keeps everything in lists, for ``honeytrace.testing``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from honeytrace._errors import internal_error, log_once

Body = dict[str, Any]


class ExportError(Exception):
    """A send failed; the subclass says whether to retry, drop, or stop."""


class RetryableError(ExportError):
    """A transient failure (5xx, 408, 429, timeout, connection): try again later.

    ``retry_after`` is the delay the server asked for, in seconds, when it asked. ``answered``
    says the server itself answered (a status, not a refused connection or a timeout): a
    request a working server keeps failing is a poison, not an outage.
    """

    def __init__(
        self, message: str, retry_after: float | None = None, *, answered: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.answered = answered


class RejectedError(ExportError):
    """The server (or something in front of it) refused this request for good: sending it
    again cannot help, and no other request is concerned.

    ``reason`` is the ``stats().dropped`` key its events count under: ``rejected`` (400/422
    and other 4xx), ``forbidden`` (401/403 on one request, a WAF say, while the key works),
    ``tls`` (the server's certificate does not verify) or ``redirect`` (a 3xx, not followed).
    ``names_events`` says the answer names events of the batch (by id or position), so that
    splitting the batch can find them; a blanket refusal does not.
    """

    def __init__(
        self, message: str, *, reason: str = "rejected", names_events: bool = False
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.names_events = names_events


class AuthError(ExportError):
    """The API key is missing, wrong, or lacks permission (session creates refused again and
    again): stop sending."""


class InvalidEvent(ExportError):
    """A body that must not be sent; ``reason`` is the ``stats().dropped`` key it counts under:
    ``invalid`` (fails the wire models), ``redacted`` (the redact hook returned None) or
    ``redact_error`` (the hook raised)."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class Unavailable(ExportError):
    """The destination cannot take anything now (a local store that cannot be opened or
    written): the events are dropped and counted under ``reason``. The message is the one line
    the user sees, naming what is wrong and where; the flusher logs it once."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Spooled(ExportError):
    """The request could not be sent now and was written to the spool (``accepted``), or the
    spool was full too (not ``accepted``: its events are lost)."""

    def __init__(self, accepted: bool) -> None:
        super().__init__("spooled" if accepted else "spool full")
        self.accepted = accepted


class Exporter(Protocol):
    """What the flusher needs from a destination. Every method is called from the flusher."""

    def create_session(self, body: Body, *, events: int = 0) -> None:
        """Create (or merge into) a session: ``POST /v1/sessions``.

        ``events`` is how many recorded events the request delivers (1 when a session's end is
        folded into its create), for the spool's accounting.
        """

    def send_events(
        self, session_id: str, events: list[Body], raw: list[bytes] | None = None
    ) -> None:
        """Add events to a created session: ``POST /v1/sessions/{session_id}/events/batch``.

        ``raw`` holds the events already encoded as JSON, when the caller has them.
        """

    def update_event(self, event_id: str, body: Body, *, events: int = 0) -> None:
        """Merge an update into an event or session: ``PUT /v1/events/{event_id}``."""

    def close(self) -> None:
        """Release connections or files; the exporter is not used afterwards."""

    # An exporter that reads only the JSON of the events may also offer
    # ``send_raw(session_id, raw)`` (and ``create_raw(raw, group)`` beside ``create_events``):
    # the flusher then writes the JSON of common events without making their dicts
    # (_deliver/template.py), when no redact hook needs the dicts.
    # An exporter may also offer ``create_events(events, raw=None)``: ``POST /v1/events/batch``,
    # events of many sessions in one request (sessions as session events). The flusher sends
    # the sessions that ended before their first delivery that way when it is there (the
    # HTTP and local exporters; MemoryExporter keeps the create path that tests look at).


class MemoryExporter:
    """Keeps what would have been sent, in order, for tests and ``honeytrace.testing``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sessions: list[Body] = []
        self.events: list[Body] = []
        self.updates: list[tuple[str, Body]] = []

    def create_session(self, body: Body, *, events: int = 0) -> None:
        """Record a session create."""
        with self._lock:
            self.sessions.append(body)

    def send_events(
        self, session_id: str, events: list[Body], raw: list[bytes] | None = None
    ) -> None:
        """Record events, stamped with their session as the server would do."""
        with self._lock:
            for event in events:
                self.events.append({**event, "session_id": session_id})

    def update_event(self, event_id: str, body: Body, *, events: int = 0) -> None:
        """Record an update."""
        with self._lock:
            self.updates.append((event_id, body))

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self.sessions.clear()
            self.events.clear()
            self.updates.clear()

    def close(self) -> None:
        """Nothing to release."""


class NoneExporter:
    """Accepts and discards everything (``exporter="none"``): tracing on, shipping off."""

    def create_session(self, body: Body, *, events: int = 0) -> None:
        """Discard."""

    def send_events(
        self, session_id: str, events: list[Body], raw: list[bytes] | None = None
    ) -> None:
        """Discard."""

    def send_raw(self, session_id: str, raw: list[bytes]) -> None:
        """Discard (the events' JSON alone: see the Exporter protocol)."""

    def update_event(self, event_id: str, body: Body, *, events: int = 0) -> None:
        """Discard."""

    def close(self) -> None:
        """Nothing to release."""


def drop_reason(exc: BaseException, what: str) -> str:
    """The reason the events of a failed ``what`` (a session create, an event batch, ...) are
    counted under, said once in the log (an auth failure is the flusher's to handle)."""
    if isinstance(exc, RejectedError):
        key = exc.reason if exc.reason in ("tls", "redirect") else f"{exc.reason}-{what}"
        log_once(key, logging.ERROR, "honeytrace: %s rejected: %s", what, exc)
        return exc.reason
    if isinstance(exc, InvalidEvent):
        if exc.reason != "redacted":
            log_once(f"invalid-{what}", logging.ERROR, "honeytrace: %s dropped: %s", what, exc)
        return exc.reason
    if isinstance(exc, Unavailable):
        log_once(f"unavailable-{exc}", logging.ERROR, "%s", exc)
        return exc.reason
    if isinstance(exc, RetryableError):
        log_once(
            f"retry-{what}",
            logging.WARNING,
            "honeytrace: giving up on a %s after retries: %s",
            what,
            exc,
        )
        return "retry_exhausted"
    internal_error(what)
    return "internal_error"
