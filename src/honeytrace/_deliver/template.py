"""The JSON of a common event, written as text: no dict, no serializer (issue 16, goal 2).

Most events are a traced function's call with plain arguments (str, int, float, bool, None)
and a plain result (or, for a generator, a list of plain items), with no enrichment, no error
and no per-function config or metadata. For an exporter that reads only the JSON of the events
(HTTP, ``none``: ``send_raw``), such an event's body is formatted straight into its JSON text:
the constant parts of each traced function's body (its type, name, source and the keys of its
inputs, escaped) are made once per function (:class:`_Shape`), ids and clocks are formatted
into them, and each value is written by the rule that fits its type. The flusher writes a
session's events in one pass (:func:`.text_runs.events_json`): what repeats from one event
to the next (the function's shape, the session's id, the millisecond of the clock) is worked
out once per run of events that share it; ids are the process's prefix and the id's last 12
hex digits; the duration is the integer nanoseconds with ``e-6`` (the exact decimal of the
dicts' float).

The result is the JSON of exactly the body :meth:`.Encoder.event` builds: a value is written
here only where :func:`.plain.check_dict` would accept it unchanged (the same checks, in the same
order: sizes, ``Bearer`` prefixes, secrets, lone surrogates, the size budget), and written as
the JSON of that same value; an inputs or outputs object that does not pass is made by the
encoder's own code and serialized as usual, and an event this module does not cover at all
(enriched, failed, a model event, a redact hook, ``validate=True``...) gets None here and
takes the dict path. tests/test_encode_bodies.py parses these bytes, validates them against
the strict models and compares them with the dict path on every kind of event it records.
"""

from __future__ import annotations

import math
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from honeytrace._deliver.mask import MIN_SECRET, needs_scrub
from honeytrace._deliver.plain import (
    _COST,
    _ITEMS,
    _KEY_RULES,
    _ODD_KEY,
    _SECRET_KEY,
    BEARER,
    MAYBE_BEARER,
    _key_rule,
    _utf8,
)
from honeytrace._record.span import Event

if TYPE_CHECKING:
    from honeytrace._deliver.encode import Encoder
    from honeytrace._record.signature import Spec

__all__ = ["event_json", "quoted"]

_VERSION_MASK = ~(0xF000 << 64) & ~(0xC000 << 48)
_VERSION_BITS = (0x4000 << 64) | (0x8000 << 48)


_LOW_MASK = (1 << 64) - 1 & ~(0xC000 << 48)
_VARIANT = 0x8000 << 48
_HIGH_TEXTS: dict[int, str] = {}
_NO_BASE = -(1 << 200)
_COUNTER_MAX = 1 << 48  # ids below this above their prefix format as "...-8000-<12 hex>"


def _top(base: int) -> int:
    """What ``id >> 48`` is for the ids written as prefix and last 12 hex digits of the
    id (-1, which no id matches, when the prefix is 0: hex() would then be shorter)."""
    return base >> 48 if base > 0 else -1


def _format_id(value: int) -> str:
    """The lower-case UUIDv4 string of an id (version and variant bits forced): the same text
    as ``_record.span.format_id``. The ids of one process share their upper half (a prefix
    drawn once, see ``_record.span.new_id``): its text (with the version digit) is made once,
    and only the counter half is formatted for each id."""
    high = value >> 64
    text = _HIGH_TEXTS.get(high)
    if text is None:
        if len(_HIGH_TEXTS) >= 64:  # bounded: ids from elsewhere (remote parents) are rare
            _HIGH_TEXTS.clear()
        full = f"{(high << 64 & _VERSION_MASK) | _VERSION_BITS:032x}"
        text = _HIGH_TEXTS[high] = f"{full[:8]}-{full[8:12]}-{full[12:16]}-"
    low = (value & _LOW_MASK) | _VARIANT
    return f"{text}{low >> 48:04x}-{low & 0xFFFFFFFFFFFF:012x}"


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_WIRE_TYPES = {"tool": "tool", "chain": "chain", "session": "chain"}  # "model": priced, dicts
_MASKED = '"***"'
_SECRET: Any = object()  # stands for the value of a secret name
_SHAPES_MAX = 4096
_RESULT_COST = len("result") + _COST
_NO_SHAPE: Any = object()  # cached "this function never takes the fast path"
_SMALL = 1024
_SMALL_TEXTS = tuple(str(number) for number in range(_SMALL))  # str() of common ints, made once
_Keys = tuple[str, tuple[bool, ...] | None, int, tuple[str, ...], int, tuple[str, ...]]
"""The inputs of one kind of call: the object's JSON with ``%s`` for each value, whether each
value is masked (a secret name; None when none is), the keys' size cost (as plain.check_dict
counts it), the names of the defaults that complete the call, 1 when the receiver is left
out, and the keys in order."""


class _Shape:
    """What is constant in the bodies of one traced function, for one encoder."""

    __slots__ = ("fast", "head", "inputs", "names", "outputs", "plain")

    def __init__(self, head: str, inputs: bool, outputs: bool, spec: Spec) -> None:
        self.head = head  # ',"event_type":...,"inputs":'
        self.inputs = inputs  # whether inputs are captured
        self.outputs = outputs
        # The inputs' keys per number of positional arguments (None: such a call does not
        # take this path).
        self.names: dict[int, _Keys | None] = {}
        # The same, for the counts whose keys need nothing but the values (no defaults to
        # add, no receiver to drop, no secret name): (template, cost).
        self.plain: dict[int, tuple[str, int]] = {}
        # The whole event's writer per number of positional arguments (-1: a call with
        # keyword arguments or none recorded), False where none serves (text_runs.py).
        self.fast: dict[int, Any] = {}


def quoted(text: str) -> str | None:
    """``text`` as a JSON string, or None when UTF-8 cannot carry it (a lone surrogate)."""
    if not text.isascii() and not _utf8(text):
        return None
    return encode_basestring(text)


def _shape(encoder: Encoder, spec: Spec) -> _Shape | None:
    event_type = spec.event_type
    name = spec.name
    source = encoder._source
    if (
        not encoder._plain  # tighter limits than the fast path serves
        or type(event_type) is not str
        or event_type not in _WIRE_TYPES
        or type(name) is not str
        or type(source) is not str
        or spec.config is not None
        or spec.metadata is not None
    ):
        return None
    name_json, source_json = quoted(name), quoted(source)
    if name_json is None or source_json is None:
        return None
    capture_inputs = spec.capture_inputs
    if capture_inputs is None:
        capture_inputs = encoder._capture_inputs
    capture_outputs = spec.capture_outputs
    if capture_outputs is None:
        capture_outputs = encoder._capture_outputs
    head = (
        f',"event_type":"{_WIRE_TYPES[event_type]}","event_name":{name_json}'
        f',"source":{source_json},"inputs":'
    )
    return _Shape(head, bool(capture_inputs), bool(capture_outputs), spec)


def _keys(encoder: Encoder, spec: Spec, count: int) -> _Keys | None:
    """The inputs' keys of a call with ``count`` positional arguments and no keyword ones, in
    :meth:`.Spec.bind`'s order: the positional names, then the defaults not given, the
    receiver (``self``/``cls``) left out."""
    names = spec._names
    if count > len(names):
        return None  # *args, or no signature: bind's other shapes
    given = names[:count]
    defaults = tuple(key for key in spec._defaults if key not in given)
    keys = [*given, *defaults]
    skip = 0
    if spec._skip_first:
        if count:
            skip = 1
            del keys[0]
        elif names[0] in defaults:
            defaults = tuple(key for key in defaults if key != names[0])
            keys = list(defaults)
    limits = encoder.limits
    if len(keys) > _ITEMS or len(keys) > limits.max_items:
        return None
    fragments: list[str] = []
    masked: list[bool] = []
    cost = 2
    for key in keys:
        if type(key) is not str:
            return None
        rule = _KEY_RULES.get(key)
        if rule is None:
            rule = _key_rule(key)
        if rule == _ODD_KEY:
            return None
        masked.append(rule == _SECRET_KEY and encoder._mask)
        fragments.append(encode_basestring(key).replace("%", "%%") + ":%s")
        cost += len(key) + _COST
    template = "{" + ",".join(fragments) + "}"
    return template, tuple(masked) if any(masked) else None, cost, defaults, skip, tuple(keys)


def event_json(
    encoder: Encoder, span: Event, children: list[int] | None, with_session: bool = False
) -> bytes | None:
    """The JSON of ``encoder.event(span, children)`` (plus its ``session_id`` as :mod:`.fresh`
    adds it, when ``with_session``), or None when this event takes the dict path (see the
    module doc). The encoder must be trusting (no redact hook, no ``validate``)."""
    from honeytrace._deliver.text_runs import events_json  # (it imports this module)

    if not children:
        return events_json(encoder, [span], None, with_session)[0][0]
    key = span._id
    if key is None:
        key = span.id
    return events_json(encoder, [span], {key: children}, with_session)[0][0]


def _inputs(encoder: Encoder, shape: _Shape, spec: Spec, args: tuple[Any, ...]) -> str | None:
    """The inputs object of a call made with positional arguments only, or None."""
    count = len(args)
    names = shape.names
    if count in names:
        keys = names[count]
    else:
        keys = names[count] = _keys(encoder, spec, count)
        if keys is not None and keys[1] is None and not keys[3] and not keys[4]:
            shape.plain[count] = (keys[0], keys[2])
    if keys is None:
        return None
    template, masked, cost, defaults, skip, _ = keys
    if defaults:
        found = spec._defaults
        args = (*args, *(found[key] for key in defaults))
    if skip:
        args = args[1:]
    if masked is not None:  # a secret name: its value is not even looked at
        pairs = zip(masked, args, strict=True)
        args = tuple(_SECRET if secret else value for secret, value in pairs)
    limits = encoder.limits
    max_string = limits.max_string
    mask = encoder._mask
    parts: list[str] = []
    append = parts.append
    for value in args:
        kind = type(value)
        if kind is str:
            size = len(value)
            if (
                size > max_string
                or (value[:1] in MAYBE_BEARER and BEARER.match(value))
                or (mask and size >= MIN_SECRET and needs_scrub(value))
                or (not value.isascii() and not _utf8(value))
            ):
                return None
            cost += size
            append(encode_basestring(value))
        elif kind is int:
            if not _INT64_MIN <= value <= _INT64_MAX:
                return None
            append(str(value))
        elif value is None:
            append("null")
        elif kind is bool:
            append("true" if value else "false")
        elif kind is float:
            if not math.isfinite(value):
                return None
            append(repr(value))
        elif value is _SECRET:
            append(_MASKED)
        else:  # a container or another type: the encoder's own code decides
            return None
    if cost + _COST >= limits.max_total:
        return None
    return template % tuple(parts)


def _result(encoder: Encoder, result: Any) -> str | None:
    """The JSON of a plain result (or of a list of plain items: a generator's), or None."""
    kind = type(result)
    if kind is int:
        return str(result) if _INT64_MIN <= result <= _INT64_MAX else None
    if result is None:
        return "null"
    if kind is bool:
        return "true" if result else "false"
    limits = encoder.limits
    if kind is str:
        text = _string(result, limits.max_string, encoder._mask)
        if text is None or len(result) + 2 + _RESULT_COST + _COST >= limits.max_total:
            return None
        return text
    if kind is float:
        return repr(result) if math.isfinite(result) else None
    if kind is not list and kind is not tuple:
        return None
    # A list (a copy: the walker's check works on one too) at level 2 of the outputs.
    items = list(result)
    if len(items) > _ITEMS or len(items) > limits.max_items:
        return None
    max_string = limits.max_string
    mask = encoder._mask
    cost = 2
    parts: list[str] = []
    append = parts.append
    for value in items:
        kind = type(value)
        if kind is str:
            text = _string(value, max_string, mask)
            if text is None:
                return None
            cost += len(value)
            append(text)
        elif kind is int:
            if not _INT64_MIN <= value <= _INT64_MAX:
                return None
            append(str(value))
        elif value is None:
            append("null")
        elif kind is bool:
            append("true" if value else "false")
        elif kind is float:
            if not math.isfinite(value):
                return None
            append(repr(value))
        else:
            return None
        cost += _COST
    # The list's own budget check, then the outputs object's (check_dict's, one level up).
    if cost + _COST >= limits.max_total or 2 + cost + _RESULT_COST + _COST >= limits.max_total:
        return None
    return "[" + ",".join(parts) + "]"


def _string(value: str, max_string: int, mask: bool) -> str | None:
    size = len(value)
    if (
        size > max_string
        or (value[:1] in MAYBE_BEARER and BEARER.match(value))
        or (mask and size >= MIN_SECRET and needs_scrub(value))
        or (not value.isascii() and not _utf8(value))
    ):
        return None
    return encode_basestring(value)
