"""A session's events written as JSON text in one pass (issue 16, goal 2): the loop of
:func:`.template.event_json`, run over many events.

What repeats from one event to the next is worked out once for the run of events that share
it: the traced function's shape (template.py), the session's id and whether the fast path
serves it, the text of the millisecond the clock is in. Each event's text is exactly
``event_json``'s (tests/test_encode_bodies.py compares them, and both with the dict path).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from honeytrace._deliver.template import (
    _NO_SHAPE,
    _SHAPES_MAX,
    _inputs,
    _keys,
    _result,
    _shape,
    _top,
    quoted,
)
from honeytrace._deliver.writers import EventWriter, event_writer
from honeytrace._record.span import NO_RESULT, Event, Span

if TYPE_CHECKING:
    from honeytrace._deliver.encode import Encoder

__all__ = ["events_json"]

_NO_LIMIT = 1 << 62  # bytes: no event is this long
_PACE_EVERY = 64  # events written between two calls of the flusher's pace()
_OUT_HEAD = ',"outputs":{"result":'
_WRITERS_MAX = 64  # writers kept per function (one per argument count)


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
    fast_writers: Any = None
    ids = encoder._ids
    take_id = ids.pop
    base, prefix = encoder._id_base, encoder._id_prefix
    offset = encoder._offset_ns
    own_source = encoder._source
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
            if shape is not _NO_SHAPE:
                fast_writers = shape.fast
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
        event_id = take_id(key, None)  # formatted by its session's create (_format_all)
        if event_id is not None:
            id_head = ""
        elif key >> 48 == top:
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
        tail = session_tail
        kids = None
        if children:
            kids = children.pop(key, None)
            if kids:
                tail = ',"children_ids":["' + '","'.join(encoder._format_all(kids)) + '"]' + tail
        # The rest, with one call: the writer made for this function and argument count
        # (writers.py), or the general route for what it does not take.
        args = span.args
        write = fast_writers.get(len(args) if args is not None and not span.kwargs else -1)
        if write is None:
            write = _make_writer(encoder, shape, spec, args, span.kwargs)
        text = write(
            args,
            span.result,
            id_head,
            event_id,
            parent_json,
            start_text,
            end_text,
            end - start,
            tail,
        )
        if text is None:
            text = _general(
                encoder,
                shape,
                span,
                f'{{"event_id":"{id_head}{event_id}","parent_id":{parent_json}{shape.head}',
                f',"start_time":{start_text},"end_time":{end_text},"duration":{end - start}e-6'
                f"{tail}}}",
            )
        raw = text.encode()
        size = len(raw)
        if size > most:
            if kids:
                children[key] = kids  # type: ignore[index]  # the dict path needs them
            append_out(None)
            missing += 1
        else:
            append_out(raw)
            total += size
    return out, missing, total


def _make_writer(
    encoder: Encoder, shape: Any, spec: Any, args: tuple[Any, ...] | None, kwargs: Any
) -> EventWriter:
    """The writer of ``shape``'s events called with ``args`` (writers.py), made once per
    argument count and kept on the shape; one that returns None where the general route
    serves."""
    fast = shape.fast
    count = len(args) if args is not None and not kwargs else -1
    if len(fast) >= _WRITERS_MAX:  # bounded: calls of *args functions vary their count
        fast.clear()
    write: EventWriter = _no_writer
    if not shape.inputs:
        write = event_writer(encoder, shape.head, None, count, shape.outputs, _result)
    elif count >= 0:
        keys = _keys(encoder, spec, count)
        if keys is not None:
            _, masked, cost, defaults, skip, names = keys
            found = spec._defaults
            inputs = (names, masked, cost, tuple(found[key] for key in defaults), skip)
            write = event_writer(encoder, shape.head, inputs, count, shape.outputs, _result)
    fast[count] = write
    return write


def _no_writer(*_: Any) -> None:
    return None


def _general(encoder: Encoder, shape: Any, span: Event, head: str, tail: str) -> str:
    """An event's text by the general route: its inputs and outputs by :mod:`.template`'s
    functions where they are plain, else by the encoder's own code (as the dicts)."""
    inputs = "{}"
    if shape.inputs:
        args = span.args
        written = None
        if args is not None and not span.kwargs:
            written = _inputs(encoder, shape, span.spec, args)
        if written is None:
            given = encoder._inputs(span)
            written = encoder._text(given) if given else "{}"
        inputs = written
    outputs = ""
    if shape.outputs:
        result = span.result
        if result is not NO_RESULT:
            text = _result(encoder, result)
            if text is not None:
                outputs = _OUT_HEAD + text + "}"
            else:  # not plain: the encoder's own code decides
                made = encoder._outputs(span)
                if made is not None:
                    outputs = ',"outputs":' + encoder._text(made)
    return head + inputs + outputs + tail
