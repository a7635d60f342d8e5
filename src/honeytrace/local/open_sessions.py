"""Sessions still open when the flusher took them, into the local store without waiting.

The create path of :mod:`honeytrace._deliver.opened` waits for the answer of each call (the
session's create, its events, its end): right for HTTP, where the answer decides what goes
next. The Local exporter's calls run on its writer thread, behind the batches queued there, so
each wait cost the flusher the writer's piece in hand (measured: about a second of waiting per
50,000 events, the flusher idle while the store had work queued). Here the flusher encodes the
session's events (rows where it can: :mod:`.event_rows`) and hands the rest to the writer thread
as one call, run in order with the other work; the writer makes the calls and the accounting
that :func:`.opened.deliver` makes, with the same outcomes:

- the session is created first unless it is (``state.created``); the flusher marks it created
  when it hands the call over, so that its next cycle delivers the session's later events on
  this path too (never as a new whole session, which would lose its metrics), and a create that
  fails marks it not created again: the next call for the session creates it before anything
  else (a create that fails loses what its call carried, as on the create path);
- the end goes as an update, or folded into the create when the session had ended by then
  (then its metrics and feedback follow as an update);
- each event is counted sent, dropped or lost once; an unexpected error loses what the call
  had not yet counted, as ``internal_error``.

``flush()`` answers only once the writer has run the call (the flusher drains the writer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from honeytrace._deliver.exporters import InvalidEvent, RejectedError
from honeytrace._errors import internal_error

if TYPE_CHECKING:
    from honeytrace._deliver.flusher import Flusher
    from honeytrace._deliver.session_state import SessionState
    from honeytrace.local.exporter import LocalExporter

__all__ = ["deliver"]


def deliver(exporter: LocalExporter, flusher: Flusher, state: SessionState) -> None:
    """Deliver what the flusher took of ``state``'s session this cycle (see the module doc)."""
    if flusher.blocked is not None or state.rejected:
        flusher.lose(state.outstanding, flusher.blocked or "rejected", state)
        return
    events = _encode(exporter, flusher, state)
    delivery = _Delivery(exporter, flusher, state, events)
    state.created = True  # (see the module doc; set back by a create that fails)
    exporter.submit_call(delivery.run, weight=len(events))


class _Delivery:
    """One cycle's share of an open session, stored by :meth:`run` on the writer thread."""

    def __init__(
        self, exporter: LocalExporter, flusher: Flusher, state: SessionState, events: list[Any]
    ) -> None:
        self.exporter = exporter
        self.flusher = flusher
        self.encoder = flusher.encoder
        self.state = state
        self.events = events
        self.ended = state.ended
        self.created = state.created
        # What has not yet been counted: the events, and the session's own when it ended.
        self.owed = len(events) + int(state.ended)

    def run(self) -> None:
        try:
            self._run()
        except Exception:
            self.flusher.lose(self.owed, "internal_error", self.state)
            internal_error("deliver session")

    def _run(self) -> None:
        flusher, state = self.flusher, self.state
        session = state.session
        folded = False
        if not self.created or not state.created:  # (an earlier create failed: this one now)
            folded = self.ended or session.end_dropped
            if not self._create(folded):
                return
        events = self.events
        if events:
            try:
                self.exporter.send_events(session.session_id, events)
            except Exception as exc:
                flusher.lose(len(events), flusher.reason(exc, "event batch"), state)
            else:
                flusher.sent(len(events), state)
            self.owed -= len(events)
        if not self.ended:
            return
        if folded:
            lost = state.losses()
            try:
                followup = self.encoder.session_followup(
                    session, lost if lost != state.reported else None
                )
            except InvalidEvent as exc:
                flusher.reason(exc, "session follow-up")
                return
            if followup is not None:
                flusher.send_update(session, followup)
            return
        try:
            end = self.encoder.session_end(session, state.direct, state.losses())
            self.exporter.update_event(session.session_id, end, events=1)
        except Exception as exc:
            flusher.lose(1, flusher.reason(exc, "session end"), state)
        else:
            flusher.sent(1, state)
        self.owed -= 1

    def _create(self, folded: bool) -> bool:
        """The session's create (its end folded in when it ended); False when it failed, and
        then what this call carried is lost."""
        flusher, state = self.flusher, self.state
        session = state.session
        lost = state.losses() if folded else None
        children = list(state.direct or ()) if folded else None
        try:
            body = self.encoder.session_create(session, children, lost)
            self.exporter.create_session(body, events=int(self.ended))
        except Exception as exc:
            state.created = False
            if isinstance(exc, RejectedError | InvalidEvent):
                state.rejected = True
            flusher.lose(self.owed, flusher.reason(exc, "session create"), state)
            self.owed = 0
            return False
        state.created = True
        if self.ended:
            flusher.sent(1, state)
            self.owed -= 1
        if lost:
            state.reported = lost
        return True


def _encode(exporter: LocalExporter, flusher: Flusher, state: SessionState) -> list[Any]:
    """The session's events taken this cycle as the store takes them: rows made from the
    spans where it can (:meth:`LocalExporter.event_rows`), bodies otherwise (an event the
    encoder refuses is counted here)."""
    encoder = flusher.encoder
    spans = state.events
    children = state.children
    rows: list[Any] = (
        exporter.event_rows(encoder, spans, children) if encoder.raw_ready else [None] * len(spans)
    )
    if None not in rows:
        return rows
    events: list[Any] = []
    encode = encoder.event
    for span, row in zip(spans, rows, strict=True):
        if row is not None:
            events.append(row)
            continue
        key = span._id
        kids = children.pop(key if key is not None else span.id, None) if children else None
        try:
            events.append(encode(span, kids))
        except InvalidEvent as exc:
            flusher.invalid(exc, state)
    return events
