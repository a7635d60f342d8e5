"""Sessions still open when the flusher took them, into the local store without waiting.

The create path of :mod:`honeytrace._deliver.opened` waits for the answer of each call (the
session's create, its events, its end): right for HTTP, where the answer decides what goes
next. The Local exporter's calls run on its writer thread, behind the batches queued there, so
each wait cost the flusher the writer's piece in hand (measured: about a second of waiting per
50,000 events, the flusher idle while the store had work queued). Here the flusher encodes the
session's events (rows where it can: :mod:`.event_rows`) and hands them to the writer thread
like a batch of whole sessions (:meth:`.LocalExporter.submit_events`): they join the statement
of the batches queued with them (the session's create as its own row, first, when it is not
yet created), instead of a call of their own that took a transaction each for the create, the
events and the end, each statement taking the GIL back from the busy flusher (measured: one
such call held the writer up to 170 ms while the application recorded). What comes after the
commit runs there too, with the same outcomes as :func:`.opened.deliver`:

- the session is created first unless it is (``state.created``); the flusher marks it created
  when it hands the events over, so that its next cycle delivers the session's later events on
  this path too (never as a new whole session, which would lose its metrics), and a create that
  fails marks it not created again: the next delivery of the session creates it before anything
  else (a create that fails loses what its delivery carried, as on the create path);
- the end goes as an update, or folded into the create when the session had ended by then
  (then its metrics and feedback follow as an update): :func:`.opened.finish`, shared;
- each event is counted sent, dropped or lost once; an unexpected error loses what the delivery
  had not yet counted, as ``internal_error``.

A delivery with no events (only the end) is one call on the writer thread, in order.
``flush()`` answers only once the writer has run it all (the flusher drains the writer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from honeytrace._deliver.exporters import InvalidEvent, RejectedError
from honeytrace._deliver.opened import finish
from honeytrace._errors import internal_error
from honeytrace.local.rows import is_uuid

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
    weight = len(events) + (not state.created)  # (the create's row, when it goes with them)
    state.created = True  # (see the module doc; set back by a create that fails)
    if events and is_uuid(state.session.session_id):
        exporter.submit_events(delivery.before, delivery.after, weight)
    else:  # (a create of an id that is not a UUID gets another: the store's create call)
        exporter.submit_call(delivery.run, weight=len(events))


class _Delivery:
    """One cycle's share of an open session, stored on the writer thread: its rows in a
    batch (:meth:`before`, then :meth:`after` once committed), or as calls (:meth:`run`)."""

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
        self.creating = False  # (this delivery creates the session: _must_create)
        self.folded = False
        self.lost: dict[str, int] | None = None  # the losses its create reported
        # What has not yet been counted: the events, and the session's own when it ended.
        self.owed = len(events) + int(state.ended)

    def _lose_owed(self) -> None:
        self.flusher.lose(self.owed, "internal_error", self.state)
        self.owed = 0
        internal_error("deliver session")

    # -- in a batch ------------------------------------------------------------------------

    def before(self) -> list[Any]:
        """What goes into the writer's statement: the session's create (as the row of a
        session event), unless it is created, then its events; nothing when the create could
        not be made (counted then)."""
        try:
            if not self._must_create():
                return self.events
            body = self._create_body()
            if body is None:
                return []
            sid = self.state.session.session_id.lower()
            # The create as a session event of a batch, stored as Store.put_session stores it.
            name = body.get("session_name") or body.get("event_name")
            head = {**body, "event_name": name, "event_id": sid, "session_id": sid}
            head["event_type"] = "session"
            return [head, *self.events]
        except Exception:
            self._lose_owed()
            return []

    def after(self, error: BaseException | None) -> None:
        """Once the statement committed (``error`` None) or failed: the accounting, then the
        session's end."""
        try:
            self._after(error)
        except Exception:
            self._lose_owed()

    def _after(self, error: BaseException | None) -> None:
        flusher, state = self.flusher, self.state
        if self.creating and not self._created(error):
            return
        count = len(self.events)
        if error is None:
            flusher.sent(count, state)
        else:
            flusher.lose(count, flusher.reason(error, "event batch"), state)
        self.owed -= count
        self._finish()

    # -- as calls ----------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
        except Exception:
            self._lose_owed()

    def _run(self) -> None:
        flusher, state = self.flusher, self.state
        if self._must_create():
            body = self._create_body()
            if body is None:
                return
            try:
                self.exporter.create_session(body, events=int(self.ended))
            except Exception as exc:
                self._created(exc)
                return
            self._created(None)
        events = self.events
        if events:
            try:
                self.exporter.send_events(state.session.session_id, events)
            except Exception as exc:
                flusher.lose(len(events), flusher.reason(exc, "event batch"), state)
            else:
                flusher.sent(len(events), state)
            self.owed -= len(events)
        self._finish()

    # -- the steps ---------------------------------------------------------------------------

    def _must_create(self) -> bool:
        """Whether this delivery creates the session: its first, or the one after a create
        that failed."""
        self.creating = not self.created or not self.state.created
        if self.creating:
            self.folded = self.ended or self.state.session.end_dropped
        return self.creating

    def _create_body(self) -> dict[str, Any] | None:
        """The session's create (its end folded in when it ended); None when the encoder
        refused it (then what this delivery carried is lost)."""
        state = self.state
        session = state.session
        folded = self.folded
        lost = state.losses() if folded else None
        children = list(state.direct or ()) if folded else None
        try:
            body = self.encoder.session_create(session, children, lost)
        except InvalidEvent as exc:
            self._created(exc)
            return None
        self.lost = lost
        return body

    def _created(self, error: BaseException | None) -> bool:
        """The accounting of the create: on failure what this delivery carried is lost and
        the session's next delivery creates it (False)."""
        flusher, state = self.flusher, self.state
        if error is not None:
            state.created = False
            if isinstance(error, RejectedError | InvalidEvent):
                state.rejected = True
            flusher.lose(self.owed, flusher.reason(error, "session create"), state)
            self.owed = 0
            return False
        state.created = True
        if self.ended:
            flusher.sent(1, state)
            self.owed -= 1
        if self.lost:
            state.reported = self.lost
        return True

    def _finish(self) -> None:
        if not self.ended:
            return
        finish(self.flusher, self.state, self.folded, self.encoder, self.exporter)
        if not self.folded:
            self.owed -= 1


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
    session_id = state.session.session_id
    for span, row in zip(spans, rows, strict=True):
        if row is not None:
            events.append(row)
            continue
        key = span._id
        kids = children.pop(key if key is not None else span.id, None) if children else None
        try:
            body = encode(span, kids)
        except InvalidEvent as exc:
            flusher.invalid(exc, state)
            continue
        # The encoder leaves the session to the route (/v1/sessions/{id}/events/batch); in
        # the writer's batch each body names its own, as on the fresh path (fresh.py).
        body["session_id"] = session_id
        events.append(body)
    return events
