"""The store rows of common events, made straight from the recorded spans (issue 16, goal 3).

The Local exporter keeps events as rows of the ``events`` table, not as request bodies. For
the events that :mod:`honeytrace._deliver.template` writes as JSON text (a traced function's
call with plain arguments and a plain result, no enrichment, no error, type tool or chain, no
per-function config or metadata, integer clocks), the flusher makes the row itself here, with
the same per-function templates and the same plain-value checks, instead of building the
body's dict (:meth:`.Encoder.event`) that the store's writer then turned into a row
(:func:`.rows.event_row`): the dict, its checks and the two JSON encodings of ``inputs`` and
``outputs`` go. Anything else gets None and takes the dict path.

Such a row is a *plain row*: the columns of :data:`.schema.PLAIN_COLUMNS`, the others left
to the table's defaults (``project_id`` and ``error`` NULL, the other objects ``{}``): fewer
values to bind, and none of them None (binding a None costs sqlite3 a failed adapter look-up,
a few thousand instructions). :func:`.rows.full_row` gives the row :func:`.rows.event_row`
would make of the same event; tests/test_store_event_rows.py
proves, on every event of the encoder tests' corpora, that a plain row equals it.
"""

from __future__ import annotations

import math
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from honeytrace._deliver.mask import MIN_SECRET, needs_scrub
from honeytrace._deliver.plain import _COST, BEARER, MAYBE_BEARER, _utf8
from honeytrace._deliver.template import (
    _COUNTER_MAX,
    _NO_SHAPE,
    _SHAPES_MAX,
    _inputs,
    _result,
    _shape,
    quoted,
)
from honeytrace._record.span import NO_RESULT, Event, Span
from honeytrace.local.rows import dumps

if TYPE_CHECKING:
    from honeytrace._deliver.encode import Encoder

__all__ = ["event_rows"]

_WIRE_TYPES = {"tool": "tool", "chain": "chain", "session": "chain"}  # as template.py's
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
Row = tuple[Any, ...]


def event_rows(  # noqa: PLR0915  # one loop: each call costs as much as a few checks
    encoder: Encoder,
    spans: list[Event],
    children: dict[int, list[int]] | None,
    kinds: dict[Any, Any],
) -> list[Row | None]:
    """The plain row of each of ``spans`` (None for one that takes the dict path). An event's
    children are popped from ``children`` (keyed by its id) when its row is made, and left
    there for the dict path otherwise. ``kinds``: what this function found out about each
    traced function for ``encoder`` (the caller keeps it, one per encoder). The encoder must
    be trusting (``raw_ready``: no redact hook, no ``validate``)."""
    shapes = encoder._shapes
    ids = encoder._ids
    offset = encoder._offset_ns
    own_source = encoder._source
    limits = encoder.limits
    mask = encoder._mask
    out: list[Row | None] = []
    append_out = out.append
    last_spec: Any = None
    kind_of: Any = None
    last_session: Any = None
    session_id: str | None = None
    for span in spans:
        kind = type(span)
        if (
            (kind is not Event and kind is not Span)
            or span.extra is not None
            or span.error is not None
        ):
            append_out(None)
            continue
        spec = span.spec
        if spec is not last_spec:
            last_spec = spec
            kind_of = kinds.get(spec)
            if kind_of is None:
                shape = shapes.get(spec)
                if shape is None:
                    if len(shapes) >= _SHAPES_MAX:  # bounded, as template.py's
                        shapes.clear()
                    shape = shapes[spec] = _shape(encoder, spec) or _NO_SHAPE
                if shape is _NO_SHAPE:
                    kind_of = _NO_SHAPE
                else:  # _shape checked the type, the name and the source
                    kind_of = (shape, _WIRE_TYPES[spec.event_type], spec.name, own_source)
                if len(kinds) >= _SHAPES_MAX:
                    kinds.clear()
                kinds[spec] = kind_of
        if kind_of is _NO_SHAPE:
            append_out(None)
            continue
        shape, wire_type, name, source = kind_of
        start, end = span.start, span.end
        if type(start) is not int or type(end) is not int or not end:
            append_out(None)
            continue
        session = span.session
        if session is not last_session:
            last_session = session
            given = session.session_id
            source_ok = session.source is None or session.source == own_source
            session_id = (
                given.lower()
                if source_ok and type(given) is str and given and quoted(given)
                else None
            )
        if session_id is None:
            append_out(None)
            continue
        key = span._id
        if key is None:
            key = span.id
        event_id = ids.get(key)
        if event_id is None:
            counter = key - encoder._id_base
            if 0 <= counter < _COUNTER_MAX:
                event_id = f"{encoder._id_prefix}{counter:012x}"
            else:
                event_id = encoder._rebase(key)
        parent = span.parent
        if parent is None or parent is session:
            parent_id = session_id
        else:
            parent_kind = type(parent)
            if parent_kind is Event or parent_kind is Span:
                parent_id = encoder._format(parent.id)
            else:
                foreign = parent.event_id
                if type(foreign) is not str or not foreign or quoted(foreign) is None:
                    append_out(None)
                    continue
                parent_id = foreign.lower()
        # Inputs: template.py's text where it writes them, else the encoder's dict as JSON.
        if not shape.inputs:
            inputs = "{}"
        else:
            args = span.args
            inputs = None
            if args is not None and not span.kwargs:
                plain = shape.plain.get(len(args))
                if plain is None:
                    inputs = _inputs(encoder, shape, spec, args)
                else:
                    template, cost = plain
                    max_string = limits.max_string
                    parts: list[str] = []
                    append = parts.append
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
                            append(encode_basestring(value))
                        elif kind is int:
                            if not _INT64_MIN <= value <= _INT64_MAX:
                                break
                            append(str(value))
                        elif value is None:
                            append("null")
                        elif kind is bool:
                            append("true" if value else "false")
                        elif kind is float and math.isfinite(value):
                            append(repr(value))
                        else:
                            break
                    else:
                        if cost + _COST < limits.max_total:
                            inputs = template % tuple(parts)
            if inputs is None:
                made = encoder._inputs(span)
                inputs = dumps(made) if made else "{}"
        # Outputs.
        outputs = "{}"
        if shape.outputs:
            result = span.result
            if result is not NO_RESULT:
                if type(result) is int and _INT64_MIN <= result <= _INT64_MAX:
                    outputs = '{"result":' + str(result) + "}"
                elif result is None:
                    outputs = '{"result":null}'
                else:
                    text = _result(encoder, result)
                    if text is None:
                        made_outputs = encoder._outputs(span)
                        outputs = dumps(made_outputs) if made_outputs else "{}"
                    else:
                        outputs = '{"result":' + text + "}"
        kids = children.pop(key, None) if children else None
        append_out(
            (
                event_id,
                session_id,
                parent_id,
                wire_type,
                name,
                source,
                (start + offset) // 1_000_000,
                (end + offset) // 1_000_000,
                (end - start) / 1_000_000,
                '["' + '","'.join(encoder._format_all(kids)) + '"]' if kids else "[]",
                inputs,
                outputs,
            )
        )
    return out
