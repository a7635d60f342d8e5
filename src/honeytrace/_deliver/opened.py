"""Sessions delivered on their own route: create, event batches, end.

A session still open when the flusher first took it (its record must exist before its end is
known), or one that cannot go whole (see :mod:`.fresh`), gets in order: ``POST /v1/sessions``
(its end folded in when it has already ended), ``POST /v1/sessions/{id}/events/batch`` in
batches bounded by count and bytes, and its end as ``PUT /v1/events/{id}``. No batch is sent for
a session the server has not accepted; a batch the server refuses because of one event is
halved until that event is found; an event too big for any batch is cut further, not lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from honeytrace._deliver.exporters import InvalidEvent, RejectedError, Spooled
from honeytrace._deliver.session_state import SessionState
from honeytrace._deliver.text_runs import events_json
from honeytrace._errors import log_once
from honeytrace._record import buffer as _buffer
from honeytrace._record.span import Event

if TYPE_CHECKING:
    from honeytrace._deliver.flusher import Flusher

__all__ = ["deliver", "finish"]

_BATCH_OVERHEAD = 32  # bytes of '{"events":[' ... ']}' around the events


def deliver(flusher: Flusher, state: SessionState) -> None:
    session = state.session
    if flusher.blocked is not None or state.rejected:
        flusher.lose(state.outstanding, flusher.blocked or "rejected", state)
        return
    folded = False
    if not state.created:
        folded = state.ended or session.end_dropped
        if not _create(flusher, state, folded):
            return
    if state.events:
        _send_events(flusher, state)
    if state.ended:
        finish(flusher, state, folded)


def finish(
    flusher: Flusher,
    state: SessionState,
    folded: bool,
    encoder: Any = None,
    exporter: Any = None,
) -> None:
    """The last step of an ended session delivered on this route, once its events went: its
    end as an update (counted sent or lost), or, when the end was ``folded`` into its create,
    a follow-up update when events were lost since. ``encoder`` and ``exporter``: those of the
    caller when it runs elsewhere (the Local exporter's writer thread, local/open_sessions.py,
    which makes these same steps); the flusher's by default."""
    session = state.session
    if encoder is None:
        encoder = flusher.encoder
    if folded:
        lost = state.losses()
        try:
            followup = encoder.session_followup(session, lost if lost != state.reported else None)
        except InvalidEvent as exc:
            flusher.reason(exc, "session follow-up")
            return
        if followup is not None:
            flusher.send_update(session, followup)
        return
    try:
        end = encoder.session_end(session, state.direct, state.losses())
        if exporter is None:
            exporter = flusher.exporter_now()
        exporter.update_event(session.session_id, end, events=1)
    except Spooled as spooled:
        if spooled.accepted:
            flusher.spooled(1, state)
        else:
            flusher.lose(1, "spool_full", state)
    except Exception as exc:
        flusher.lose(1, flusher.reason(exc, "session end"), state)
    else:
        flusher.sent(1, state)


def _create(flusher: Flusher, state: SessionState, folded: bool) -> bool:
    """Send the session's create (its end folded in when it already ended); False when
    nothing more can be sent for it (its events are then counted as lost)."""
    session = state.session
    children = state.direct if folded else None
    lost = state.losses() if folded else None
    try:
        body = flusher.encoder.session_create(session, children, lost)
        flusher.exporter_now().create_session(body, events=int(state.ended))
    except Spooled as spooled:
        if not spooled.accepted:
            flusher.lose(state.outstanding, "spool_full", state)
            return False
        if state.ended:
            flusher.spooled(1, state)
    except Exception as exc:
        flusher.lose(state.outstanding, flusher.reason(exc, "session create"), state)
        if isinstance(exc, RejectedError | InvalidEvent):
            state.rejected = True
        return False
    else:
        if state.ended:
            flusher.sent(1, state)
        if lost:
            state.reported = lost
    state.created = True
    return True


def _send_events(flusher: Flusher, state: SessionState) -> None:
    config = flusher.config
    limit = config.max_batch_bytes - _BATCH_OVERHEAD
    batch_size = config.batch_size
    encoder = flusher.encoder
    spans = state.events
    children = state.children
    pace = _buffer.pace
    # An exporter that reads only the JSON gets that of common events made without their
    # dicts (template.py), all of the session's in one pass; the dicts go along otherwise.
    send_raw = getattr(flusher.exporter_now(), "send_raw", None)
    if send_raw is None or not encoder.raw_ready:
        written: list[bytes | None] = [None] * len(spans)
    else:
        written, missing, total = events_json(encoder, spans, children or None, False, pace, limit)
        count = len(written)
        if not missing and count <= batch_size and total + count <= limit:
            # The common case: the session's events in one batch.
            _send_batch(flusher, state, [], written, send_raw)  # type: ignore[arg-type]
            return
    encode = encoder.event
    bodies: list[dict[str, Any]] = []
    raws: list[bytes] = []
    size = 0
    for index, text in enumerate(written):
        body = None
        raw = text
        if raw is None:  # the dict path (too big or not common: template.py said no)
            if not index & 15:
                pace()  # gives way to a computing application thread (see buffer.pace)
            span = spans[index]
            key = span._id
            kids = children.pop(key if key is not None else span.id, None) if children else None
            try:
                body = encode(span, kids)
            except InvalidEvent as exc:
                flusher.invalid(exc, state)
                continue
            raw = _to_json(body)
            if len(raw) > limit:
                shrunk = _shrink(flusher, span, kids, limit, state)
                if shrunk is None:
                    continue
                body, raw = shrunk
        if raws and (len(raws) >= batch_size or size + len(raw) + 1 > limit):
            _send_batch(flusher, state, bodies, raws, send_raw)
            bodies, raws, size = [], [], 0
        if send_raw is None:
            bodies.append(body)  # type: ignore[arg-type]  # made above: no text path here
        raws.append(raw)
        size += len(raw) + 1
    if raws:
        _send_batch(flusher, state, bodies, raws, send_raw)


def _shrink(
    flusher: Flusher, span: Event, children: list[int] | None, limit: int, state: SessionState
) -> tuple[dict[str, Any], bytes] | None:
    """An event too big for any batch, with its values cut further rather than lost."""
    factor = 4
    while factor <= 4096:
        try:
            body = flusher.encoder.shrunk(factor).event(span, children)
        except InvalidEvent as exc:
            flusher.invalid(exc, state)
            return None
        raw = _to_json(body)
        if len(raw) <= limit:
            return body, raw
        factor *= 4
    flusher.lose(1, "too_large", state)
    return None


def _send_batch(
    flusher: Flusher,
    state: SessionState,
    bodies: list[dict[str, Any]],
    raws: list[bytes],
    send_raw: Callable[[str, list[bytes]], None] | None = None,
) -> None:
    """Send a batch: ``raws`` (with ``bodies``, the same events, unless ``send_raw`` takes
    the JSON alone)."""
    if flusher.blocked is not None:
        flusher.lose(len(raws), flusher.blocked, state)
        return
    try:
        if send_raw is not None:
            send_raw(state.session.session_id, raws)
        else:
            flusher.exporter_now().send_events(state.session.session_id, bodies, raws)
    except Spooled as spooled:
        if spooled.accepted:
            flusher.spooled(len(raws), state)
        else:
            flusher.lose(len(raws), "spool_full", state)
        return
    except RejectedError as exc:
        if len(raws) == 1 or not exc.names_events:  # a blanket refusal: no bisecting
            flusher.lose(len(raws), exc.reason, state)
            key = exc.reason if exc.reason in ("tls", "redirect") else f"{exc.reason}-event"
            log_once(key, logging.ERROR, "honeytrace: event rejected: %s", exc)
            return
        # One bad event must not sink its neighbours: halve until it is found.
        middle = len(raws) // 2
        _send_batch(flusher, state, bodies[:middle], raws[:middle], send_raw)
        _send_batch(flusher, state, bodies[middle:], raws[middle:], send_raw)
        return
    except Exception as exc:
        flusher.lose(len(raws), flusher.reason(exc, "event batch"), state)
        return
    flusher.sent(len(raws), state)


def _to_json(body: dict[str, Any]) -> bytes:
    global _to_json
    from pydantic_core import to_json  # imported on the flusher thread, not at import time

    _to_json = to_json  # type: ignore[assignment]  # later calls go straight to it
    return to_json(body)
