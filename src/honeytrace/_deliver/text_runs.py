"""A session's events written as JSON text in one pass (issue 16, goal 2): the loop of
:func:`.template.event_json`, run over many events.

What repeats from one event to the next is worked out once for the run of events that share
it: the traced function's shape (template.py), the session's id and whether the fast path
serves it, the text of the millisecond the clock is in. Each event's text is exactly
``event_json``'s (tests/test_encode_bodies.py compares them, and both with the dict path).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from honeytrace._deliver.mask import MIN_SECRET, needs_scrub
from honeytrace._deliver.plain import _COST, _ITEMS, BEARER, MAYBE_BEARER, _utf8
from honeytrace._deliver.template import (
    _INT64_MAX,
    _INT64_MIN,
    _NO_SHAPE,
    _RESULT_COST,
    _SHAPES_MAX,
    _SMALL,
    _SMALL_TEXTS,
    _inputs,
    _result,
    _shape,
    _top,
    quoted,
)
from honeytrace._record.span import NO_RESULT, Event, Span

if TYPE_CHECKING:
    from honeytrace._deliver.encode import Encoder

__all__ = ["events_json"]

_NO_LIMIT = 1 << 62  # bytes: no event is this long
_PACE_EVERY = 64  # events written between two calls of the flusher's pace()
_OUT_HEAD = ',"outputs":{"result":'
_OUT_LIST_HEAD = ',"outputs":{"result":['


def events_json(  # noqa: PLR0915  # one loop: each call costs as much as a few checks
    encoder: Encoder,
    spans: list[Event],
    children: dict[int, list[int]] | None,
    with_session: bool = False,
    pace: Callable[[], None] | None = None,
    limit: int | None = None,
) -> tuple[list[bytes | None], int, int]:
    """:func:`event_json` of each of ``spans`` (one loop: what repeats from one event to the
    next, its function's shape, its session's id, the clock's millisecond, is worked out once
    for the run of events that share it). An event's children are popped from ``children``
    (keyed by its id) as it is written; one that takes the dict path gets None and leaves its
    children there, as does one whose JSON is longer than ``limit`` bytes (the dict path cuts
    it). ``pace`` is called every 64 events (the flusher's :func:`.buffer.pace`). Returns the
    texts, how many events got None, and the bytes of the texts."""
    shapes = encoder._shapes
    ids = encoder._ids
    base, prefix = encoder._id_base, encoder._id_prefix
    offset = encoder._offset_ns
    own_source = encoder._source
    limits = encoder.limits
    max_string, max_total = limits.max_string, limits.max_total
    max_items = min(_ITEMS, limits.max_items)
    mask = encoder._mask
    out: list[bytes | None] = []
    missing = total = 0  # events left to the dict path; bytes written
    append_out = out.append
    last_spec: Any = None
    shape: Any = None
    last_session: Any = None
    session_ok = False
    session_json: str | None = None
    session_tail = ""
    # The text of the last millisecond written, and the clock readings (ns) it covers.
    ms_low = ms_high = 0
    ms_text = ""
    if pace is not None:  # in slices, with a pace() before each
        for index in range(0, len(spans), _PACE_EVERY):
            pace()
            part, left, size = events_json(
                encoder, spans[index : index + _PACE_EVERY], children, with_session, None, limit
            )
            out += part
            missing += left
            total += size
        return out, missing, total
    top = _top(base)
    most = limit if limit is not None else _NO_LIMIT
    for span in spans:
        kind = type(span)
        if (
            (kind is not Event and kind is not Span)
            or span.extra is not None
            or span.error is not None
        ):
            append_out(None)
            missing += 1
            continue
        spec = span.spec
        if spec is not last_spec:
            shape = shapes.get(spec)
            if shape is None:
                if len(shapes) >= _SHAPES_MAX:  # bounded: specs made per call cannot grow it
                    shapes.clear()
                shape = shapes[spec] = _shape(encoder, spec) or _NO_SHAPE
            last_spec = spec
        if shape is _NO_SHAPE:
            append_out(None)
            missing += 1
            continue
        start, end = span.start, span.end
        if type(start) is not int or type(end) is not int or not end:
            append_out(None)
            missing += 1
            continue
        session = span.session
        if session is not last_session:
            last_session = session
            source = session.source
            session_json = encoder._session_json(session)
            session_ok = session_json is not None and (source is None or source == own_source)
            if session_ok and with_session:
                session_tail = ',"session_id":' + session_json  # type: ignore[operator]
        if not session_ok:
            append_out(None)
            missing += 1
            continue
        # Ids: ours are hex (nothing to escape); a session's or a remote parent's are quoted.
        # This process's share their upper half (see _record.span.new_id), and the counter
        # below 2**48 (so the fourth group is "8000"): the prefix's text, then the last 12
        # hex digits of the id.
        key = span._id
        if key is None:
            key = span.id
        if key >> 48 == top:
            id_head, event_id = prefix, hex(key)[-12:]
        else:
            id_head, event_id = "", ids.get(key) or encoder._rebase(key)
            base, prefix = encoder._id_base, encoder._id_prefix
            top = _top(base)
        parent = span.parent
        if parent is None or parent is session:
            parent_json = session_json
        else:
            parent_kind = type(parent)
            if parent_kind is Event or parent_kind is Span:
                parent_json = '"' + encoder._format(parent.id) + '"'
            else:
                foreign = parent.event_id
                parent_json = quoted(foreign) if type(foreign) is str else None
                if parent_json is None:
                    append_out(None)
                    missing += 1
                    continue
        # Inputs.
        if not shape.inputs:
            inputs = "{}"
        else:
            args = span.args
            inputs = None
            if args is not None and not span.kwargs:
                # _inputs(), inline for the commonest calls: a known count of plain arguments
                # that fill their names exactly (no defaults, no receiver, no secret name).
                plain = shape.writers.get(len(args))
                if plain is None:
                    inputs = _inputs(encoder, shape, spec, args)
                else:
                    writer, cost = plain
                    parts: list[str] = []
                    for value in args:
                        kind = type(value)
                        if kind is str:
                            size = len(value)
                            if (
                                size > max_string
                                or (value[:1] in MAYBE_BEARER and BEARER.match(value))
                                or (size >= MIN_SECRET and mask and needs_scrub(value))
                                or (not value.isascii() and not _utf8(value))
                            ):
                                break
                            cost += size
                            parts.append(encode_basestring(value))
                        elif kind is int:
                            if 0 <= value < _SMALL:
                                parts.append(_SMALL_TEXTS[value])
                            elif _INT64_MIN <= value <= _INT64_MAX:
                                parts.append(str(value))
                            else:
                                break
                        elif value is None:
                            parts.append("null")
                        elif kind is bool:
                            parts.append("true" if value else "false")
                        elif kind is float and math.isfinite(value):
                            parts.append(repr(value))
                        else:
                            break
                    else:
                        if cost + _COST < max_total:
                            inputs = writer(*parts)
            if inputs is None:
                given = encoder._inputs(span)
                inputs = encoder._text(given) if given else "{}"
        # Outputs: ``,"outputs":{"result":<json>}``, or nothing.
        result_json = out_head = out_tail = ""
        if shape.outputs:
            result = span.result
            if result is not NO_RESULT:
                out_head, out_tail = _OUT_HEAD, "}"
                kind = type(result)
                if kind is int:
                    if 0 <= result < _SMALL:
                        result_json = _SMALL_TEXTS[result]
                    elif _INT64_MIN <= result <= _INT64_MAX:
                        result_json = str(result)
                    else:
                        out_head = ""  # beyond int64: the encoder's own code decides
                elif result is None:
                    result_json = "null"
                elif kind is list and len(result) <= max_items:
                    # _result(), inline for a generator's items: a list of plain values.
                    cost = 2
                    parts = []
                    for value in result:
                        kind = type(value)
                        if kind is str:
                            size = len(value)
                            if (
                                size > max_string
                                or (value[:1] in MAYBE_BEARER and BEARER.match(value))
                                or (size >= MIN_SECRET and mask and needs_scrub(value))
                                or (not value.isascii() and not _utf8(value))
                            ):
                                break
                            cost += size
                            parts.append(encode_basestring(value))
                        elif kind is int:
                            if 0 <= value < _SMALL:
                                parts.append(_SMALL_TEXTS[value])
                            elif _INT64_MIN <= value <= _INT64_MAX:
                                parts.append(str(value))
                            else:
                                break
                        elif value is None:
                            parts.append("null")
                        elif kind is bool:
                            parts.append("true" if value else "false")
                        elif kind is float and math.isfinite(value):
                            parts.append(repr(value))
                        else:
                            break
                        cost += _COST
                    else:
                        # The list's own budget check, then the outputs object's.
                        if cost + _COST < max_total and 2 + cost + _RESULT_COST + _COST < max_total:
                            out_head, out_tail = _OUT_LIST_HEAD, "]}"
                            result_json = ",".join(parts)
                    if not result_json:
                        out_head = ""
                else:
                    result_json = _result(encoder, result) or ""
                    if not result_json:
                        out_head = ""
                if not out_head:  # not plain: the encoder's own code decides
                    made = encoder._outputs(span)
                    if made is not None:
                        out_head, result_json, out_tail = ',"outputs":', encoder._text(made), ""
        # Clocks: epoch milliseconds (most events of a busy cycle share their millisecond
        # with the one before: its text is reused), and the duration in ms written as the
        # integer nanoseconds with an exponent: "4567e-6" is the exact decimal of
        # (end - start) / 1e6, and parses to the same float the dicts hold (both are the
        # correctly rounded double of that number).
        if ms_low <= start <= end < ms_high:  # both in the last millisecond written
            start_text = end_text = ms_text
        else:
            if ms_low <= start < ms_high:
                start_text = ms_text
            else:
                ms = (start + offset) // 1_000_000
                start_text = ms_text = str(ms)
                ms_low = ms * 1_000_000 - offset
                ms_high = ms_low + 1_000_000
            if start <= end < ms_high:
                end_text = ms_text
            else:
                ms = (end + offset) // 1_000_000
                end_text = ms_text = str(ms)
                ms_low = ms * 1_000_000 - offset
                ms_high = ms_low + 1_000_000
        if children:
            kids = children.pop(key, None)
            if kids:
                raw = (
                    f'{{"event_id":"{id_head}{event_id}","parent_id":{parent_json}{shape.head}{inputs}'
                    f'{out_head}{result_json}{out_tail},"start_time":{start_text}'
                    f',"end_time":{end_text},"duration":{end - start}e-6,"children_ids":["'
                    + '","'.join(encoder._format_all(kids))
                    + f'"]{session_tail}}}'
                ).encode()
                if len(raw) > most:
                    children[key] = kids  # the dict path needs them
                    append_out(None)
                    missing += 1
                else:
                    append_out(raw)
                    total += len(raw)
                continue
        raw = (
            f'{{"event_id":"{id_head}{event_id}","parent_id":{parent_json}{shape.head}{inputs}'
            f'{out_head}{result_json}{out_tail},"start_time":{start_text},"end_time":{end_text}'
            f',"duration":{end - start}e-6{session_tail}}}'
        ).encode()
        size = len(raw)
        if size > most:
            append_out(None)
            missing += 1
        else:
            append_out(raw)
            total += size
    return out, missing, total
