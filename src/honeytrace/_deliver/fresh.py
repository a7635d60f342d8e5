"""Sessions delivered whole, many to a request: ``POST /v1/events/batch``.

A session that ended before the flusher first took it (most sessions of most apps: a request
handled, an agent run) needs no create, batches and end of its own. The API text names
``POST /v1/events/batch`` as the route "for higher-throughput ingestion across sessions"; a
session is itself an event (``event_id`` == ``session_id``, ``event_type`` "session"), so such
a session goes as its session event followed by its events, each carrying its
``session_id``, packed with other sessions into batches bounded by count and bytes. A session
that is still open when first taken keeps the create, batches, end path (its record must
exist before its end is known).

Order: a session's event precedes its children, in the same batch or, for a session bigger
than a batch, in an earlier one of the same *lane* (a run of batches sent one after the other
by one sender). Batches end at session boundaries otherwise, so each is independent and goes
as soon as it is made, on whichever of the senders' connections is free. A batch whose
session event was not delivered takes its session's later events with it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from honeytrace._deliver.exporters import InvalidEvent, RejectedError, Spooled
from honeytrace._deliver.session_state import SessionState
from honeytrace._deliver.text_runs import events_json
from honeytrace._errors import internal_error, log_once

if TYPE_CHECKING:
    from honeytrace._deliver.encode import Encoder
    from honeytrace._deliver.flusher import Flusher

__all__ = ["Entry", "Lane", "lanes", "send_lane", "settle"]

Body = dict[str, Any]
Entry = tuple[Body | tuple[Any, ...] | None, bytes, SessionState, bool]
"""One event of a batch: its body (None when the exporter takes the JSON alone and the event's
was made without it: template.py; the store's row when the exporter made it from the span:
``event_rows``), its JSON, its session, and whether it is the session's own."""
Lane = list[list[Entry]]

_BATCH_OVERHEAD = 32  # bytes of '{"events":[' ... ']}' around the events


def lanes(
    flusher: Flusher, states: list[SessionState], fallback: list[SessionState]
) -> Iterator[Lane | SessionState]:
    """Encode the ended, never delivered ``states`` into lanes of batches, yielded as each is
    complete so that its requests overlap the encoding of the next. A state whose session
    event cannot be made, or is too big for a batch, is yielded as is (and added to
    ``fallback``): the create path delivers or reports it as it always did."""
    config = flusher.config
    limit = config.max_batch_bytes - _BATCH_OVERHEAD
    batch_size = config.batch_size
    batch: list[Entry] = []
    size = 0
    for state in states:
        try:
            entries = _encode(flusher, state, limit)
        except Exception:
            internal_error("encode session")
            entries = None
        if entries is None:
            fallback.append(state)
            yield state
            continue
        total = sum(len(entry[1]) + 1 for entry in entries)
        # Batches end at session boundaries, so that each is independent of the others
        # and goes as soon as it is made, on whichever connection is free.
        if batch and (len(batch) + len(entries) > batch_size or size + total > limit):
            yield [batch]
            batch, size = [], 0
        if len(entries) <= batch_size and total <= limit:
            batch.extend(entries)
            size += total
            continue
        # Bigger than a batch: a lane of its own, its batches in order.
        lane: Lane = []
        part: list[Entry] = []
        part_size = 0
        for entry in entries:
            length = len(entry[1]) + 1
            if part and (len(part) >= batch_size or part_size + length > limit):
                lane.append(part)
                part, part_size = [], 0
            part.append(entry)
            part_size += length
        lane.append(part)
        yield lane
    if batch:
        yield [batch]


def _encode(  # noqa: PLR0915  # one loop over the session's events, each kind inline
    flusher: Flusher, state: SessionState, limit: int
) -> list[Entry] | None:
    session = state.session
    session_id = session.session_id
    lost = state.losses()
    try:
        head = _fit(lambda e: e.session_event(session, state.direct, lost), flusher, limit)
    except InvalidEvent:
        return None  # the create path drops it and says why, once
    if head is None:
        return None
    if lost:
        state.reported = lost
    entries: list[Entry] = [(head[0], head[1], state, True)]
    children = state.children
    encoder = flusher.encoder
    encode = encoder.event
    to_json = _json() if getattr(flusher.exporter_now(), "needs_json", True) else None
    spans = state.events
    rows = _store_rows(flusher, encoder, state)
    if rows is not None:  # an exporter that stores rows (local) made those it could
        if None not in rows:  # the common case: every event made as a row
            entries.extend([(row, b"", state, False) for row in rows])
            return entries
        made: list[Any] = rows
    else:
        made, missing = _texts(flusher, state, limit)
        if not missing:  # the common case: every event written as text
            entries.extend([(None, raw, state, False) for raw in made])  # type: ignore[misc]
            return entries
    for index, span in enumerate(spans):
        done = made[index]
        if done is not None:  # in the events' order: a row, or the JSON text
            entry = (done, b"", state, False) if rows is not None else (None, done, state, False)
            entries.append(entry)
            continue
        key = span._id
        kids = children.pop(key if key is not None else span.id, None) if children else None
        try:
            body = encode(span, kids)
        except InvalidEvent as exc:
            flusher.invalid(exc, state)
            continue
        body["session_id"] = session_id  # this route takes each event's own session
        if to_json is None:  # an exporter that stores bodies as they are (local): no request
            entries.append((body, b"", state, False))  # to fit, nothing to measure
            continue
        raw = to_json(body)
        if len(raw) > limit:

            def make(encoder: Encoder, span: Any = span, kids: Any = kids) -> Body:
                shrunk = encoder.event(span, kids)
                shrunk["session_id"] = session_id
                return shrunk

            try:
                fitted = _fit(make, flusher, limit, start=4)
            except InvalidEvent as exc:
                flusher.invalid(exc, state)
                continue
            if fitted is None:
                flusher.lose(1, "too_large", state)
                continue
            body, raw = fitted
        entries.append((body, raw, state, False))
    return entries


def _texts(flusher: Flusher, state: SessionState, limit: int) -> tuple[list[bytes | None], int]:
    """The JSON of the session's events written as text (template.py) when the exporter takes
    it alone, None for each left to the dicts; and how many those are."""
    encoder = flusher.encoder
    spans = state.events
    if not encoder.raw_ready or _raw_exporter(flusher) is None:
        return [None] * len(spans), len(spans)
    # (No pace: lanes are encoded by the senders, several threads at once.)
    written, missing, _ = events_json(encoder, spans, state.children or None, True, None, limit)
    return written, missing


def _store_rows(
    flusher: Flusher, encoder: Encoder, state: SessionState
) -> list[tuple[Any, ...] | None] | None:
    """An exporter that stores rows (local) makes those of the common events itself, from the
    spans: no body (``event_rows``; None for an event that needs the dict path). None when the
    exporter makes no rows."""
    event_rows = getattr(flusher.exporter_now(), "event_rows", None)
    if event_rows is None or not encoder.raw_ready:
        return None
    rows: list[tuple[Any, ...] | None] = event_rows(encoder, state.events, state.children)
    return rows


def _fit(
    make: Callable[[Encoder], Body], flusher: Flusher, limit: int, start: int = 1
) -> tuple[Body, bytes] | None:
    """The body ``make`` builds, with values cut further until it fits ``limit`` (None when it
    never does)."""
    to_json = _json()
    factor = start
    while factor <= 4096:
        encoder = flusher.encoder if factor == 1 else flusher.encoder.shrunk(factor)
        body = make(encoder)
        raw = to_json(body)
        if len(raw) <= limit:
            return body, raw
        factor *= 4
    return None


def send_lane(flusher: Flusher, lane: Lane) -> None:
    """Send a lane's batches in order; nothing escapes (an internal error loses what of its
    sessions is not yet counted). An exporter with ``submit_events`` (local) takes them
    without waiting: each batch is accounted once it is committed (:func:`_submit`)."""
    submit = getattr(flusher.exporter_now(), "submit_events", None)
    if submit is not None:
        for batch in lane:
            _submit(flusher, submit, batch)
        return
    try:
        for batch in lane:
            _send(flusher, batch)
    except Exception:
        for state in {id(entry[2]): entry[2] for batch in lane for entry in batch}.values():
            flusher.lose(state.outstanding, "internal_error", state)
        internal_error("deliver sessions")


def _send(flusher: Flusher, batch: list[Entry]) -> None:
    kept: list[Entry] = []
    for entry in batch:
        state = entry[2]
        if state.failed is not None:  # its session event did not arrive: nor do its events
            flusher.lose(1, state.failed, state)
        else:
            kept.append(entry)
    if not kept:
        return
    blocked = flusher.blocked
    if blocked is not None:
        _failed(flusher, kept, blocked)
        return
    try:
        create_raw = _raw_exporter(flusher)
        if create_raw is not None:
            create_raw([entry[1] for entry in kept], kept[0][2].session.session_id)
        else:
            flusher.exporter_now().create_events(  # type: ignore[attr-defined]
                [entry[0] for entry in kept], [entry[1] for entry in kept]
            )
    except Spooled as spooled:
        if not spooled.accepted:
            _failed(flusher, kept, "spool_full")
            return
        for state, count in _by_state(kept):
            flusher.spooled(count, state)
        return
    except RejectedError as exc:
        if len(kept) > 1 and exc.names_events:  # one bad event must not sink its neighbours
            middle = len(kept) // 2
            _send(flusher, kept[:middle])
            _send(flusher, kept[middle:])
            return
        key = exc.reason if exc.reason in ("tls", "redirect") else f"{exc.reason}-event"
        log_once(key, logging.ERROR, "honeytrace: event rejected: %s", exc)
        _failed(flusher, kept, exc.reason)
        return
    except Exception as exc:
        _failed(flusher, kept, flusher.reason(exc, "event batch"))
        return
    for state, count in _by_state(kept):
        flusher.sent(count, state)


def _submit(flusher: Flusher, submit: Callable[..., None], batch: list[Entry]) -> None:
    """``_send`` in two halves, both run by the exporter's writer thread in order: which
    entries still go (their session's own event was not lost in an earlier batch), then
    the accounting once they are committed, or failed."""
    kept: list[Entry] = []

    def before() -> list[Any]:
        try:
            return keep()
        except Exception:
            broken()
            return []

    def after(error: BaseException | None) -> None:
        try:
            settle_batch(error)
        except Exception:
            broken()

    def broken() -> None:  # as send_lane: what of its sessions is not yet counted is lost
        for state in {id(entry[2]): entry[2] for entry in batch}.values():
            flusher.lose(state.outstanding, "internal_error", state)
        internal_error("deliver sessions")

    def keep() -> list[Any]:
        for entry in batch:
            state = entry[2]
            if state.failed is not None:
                flusher.lose(1, state.failed, state)
            else:
                kept.append(entry)
        blocked = flusher.blocked
        if kept and blocked is not None:
            _failed(flusher, kept, blocked)
            kept.clear()
        # A body is None only on the text path (send_raw/create_raw), which an exporter
        # with its own writer (submit_events) never takes; a tuple is a row (event_rows).
        return [body for body, *_ in kept if body is not None]

    def settle_batch(error: BaseException | None) -> None:
        if error is None:
            for state, count in _by_state(kept):
                flusher.sent(count, state)
        else:
            _failed(flusher, kept, flusher.reason(error, "event batch"))

    submit(before, after, len(batch))


def _by_state(entries: list[Entry]) -> list[tuple[SessionState, int]]:
    """The sessions of ``entries`` with how many each has there (counted once per session,
    not per event: each count takes the counters' lock); a session whose own event is among
    them is created (or spooled) from now on."""
    for entry in entries:
        if entry[3]:
            entry[2].created = True
    return _count(entries)


def _failed(flusher: Flusher, entries: list[Entry], reason: str) -> None:
    for entry in entries:
        if entry[3]:
            entry[2].failed = reason  # its events in later batches go the same way
    for state, count in _count(entries):
        flusher.lose(count, reason, state)


def _count(entries: list[Entry]) -> list[tuple[SessionState, int]]:
    counts: dict[int, tuple[SessionState, int]] = {}
    # A session's entries come together: counted a run at a time.
    for state, run in itertools.groupby([entry[2] for entry in entries]):
        known = counts.get(id(state))
        size = len(list(run))
        counts[id(state)] = (state, size if known is None else known[1] + size)
    return list(counts.values())


def settle(flusher: Flusher, states: list[SessionState], fallback: list[SessionState]) -> None:
    """After the lanes: a delivered session whose events were dropped since its session event
    was made gets the count on its record (a follow-up update), as the create path does.
    After the batches an exporter's writer still holds, when it has one (``submit_call``)."""
    later = getattr(flusher.exporter_now(), "submit_call", None)
    if later is not None:
        later(lambda: _settle(flusher, states, fallback))
    else:
        _settle(flusher, states, fallback)


def _settle(flusher: Flusher, states: list[SessionState], fallback: list[SessionState]) -> None:
    skip = {id(state) for state in fallback}
    for state in states:
        if not state.created or state.failed is not None or id(state) in skip:
            continue
        lost = state.losses()
        if lost == state.reported:
            continue
        try:
            followup = flusher.encoder.session_followup(state.session, lost)
        except InvalidEvent as exc:
            flusher.reason(exc, "session follow-up")
            continue
        if followup is not None:
            flusher.send_update(state.session, followup)
        state.reported = lost


def _raw_exporter(flusher: Flusher) -> Callable[[list[bytes], str], None] | None:
    """The exporter's ``create_raw`` when it takes the events' JSON alone (the Exporter
    protocol)."""
    return getattr(flusher.exporter_now(), "create_raw", None)


def _json() -> Callable[[Any], bytes]:
    from pydantic_core import to_json  # imported on the flusher thread, not at import time

    return to_json
