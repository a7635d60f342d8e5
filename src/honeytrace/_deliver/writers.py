"""Event writers generated per traced function and argument count (issue 16, goal 2).

:func:`.text_runs.events_json` writes most events with one call: a function made for the
event's function shape (:class:`.template._Shape`) and the number of its positional
arguments, in which everything constant is joined once (the type, name, source, the inputs'
keys) and each value is tested and written by straight-line code (no loop over the
arguments, no list of parts, one string built for the whole event). The writer returns None
for anything it does not take as it is (a value :func:`.plain.check_dict` would change, a
result that is not plain); the caller then writes that event by the general route.

The test of a plain value exists once, as code text (:func:`value_code`), from which every
writer is generated: a change to the rules (sizes, ``Bearer``, secrets, lone surrogates,
int64) is made here, and tests/test_encode_bodies.py compares what the writers make with the
dict path. Keys and other texts reach the generated code as names bound in its namespace,
never as code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from honeytrace._deliver.mask import MIN_SECRET, needs_scrub
from honeytrace._deliver.plain import _COST, _ITEMS, BEARER, MAYBE_BEARER, _utf8
from honeytrace._record.span import NO_RESULT

if TYPE_CHECKING:
    from honeytrace._deliver.encode import Encoder

__all__ = ["EventWriter", "event_writer", "value_code", "values_writer"]

EventWriter = Callable[..., "str | None"]
"""``write(args, result, id_head, event_id, parent_json, start_text, end_text, duration,
tail)``: the event's JSON text, or None (the general route decides)."""

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_SMALL = 1024
_SMALL_TEXTS = tuple(str(number) for number in range(_SMALL))  # str() of common ints, made once
_RESULT_COST = len("result") + _COST
_OUT = ',"outputs":{"result":'
# The outputs of a small int result, whole: one index per event.
_SMALL_OUTS = tuple(f"{_OUT}{number}}}" for number in range(_SMALL))


def value_code(value: str, out: str, cost: str | None, mask: bool) -> list[str]:
    """Lines of code that bind ``out`` to the JSON of the variable ``value`` when it is a plain
    value :func:`.plain.check_dict` keeps as it is (adding a string's length to ``cost``, when
    named), and ``return None`` otherwise. The one source of the plain-value test (module doc):
    strings within ``MAX_STRING``, not a ``Bearer`` credential, no secret inside when masking,
    carried by UTF-8; ints within int64; None, bools, finite floats."""
    secret = f" or (size >= {MIN_SECRET} and needs_scrub({value}))" if mask else ""
    lines = [
        f"kind = type({value})",
        "if kind is str:",
        f"    size = len({value})",
        "    if (",
        "        size > MAX_STRING",
        f"        or ({value}[:1] in MAYBE_BEARER and BEARER.match({value})){secret}",
        f"        or (not {value}.isascii() and not utf8({value}))",
        "    ):",
        "        return None",
        f"    {cost} += size",
        f"    {out} = encode_basestring({value})",
        "elif kind is int:",
        f"    if 0 <= {value} < {_SMALL}:",
        f"        {out} = SMALL[{value}]",
        f"    elif {_INT64_MIN} <= {value} <= {_INT64_MAX}:",
        f"        {out} = str({value})",
        "    else:",
        "        return None",
        f"elif {value} is None:",
        f"    {out} = 'null'",
        "elif kind is bool:",
        f"    {out} = 'true' if {value} else 'false'",
        f"elif kind is float and isfinite({value}):",
        f"    {out} = repr({value})",
        "else:",
        "    return None",
    ]
    if cost is None:  # (the line naming it)
        lines.remove("    None += size")
    return lines


def _namespace(encoder: Encoder) -> dict[str, Any]:
    limits = encoder.limits
    return {
        "MAX_STRING": limits.max_string,
        "MAX_TOTAL": limits.max_total,
        "MAX_ITEMS": min(_ITEMS, limits.max_items),
        "MAYBE_BEARER": MAYBE_BEARER,
        "BEARER": BEARER,
        "needs_scrub": needs_scrub,
        "utf8": _utf8,
        "encode_basestring": encode_basestring,
        "isfinite": math.isfinite,
        "SMALL": _SMALL_TEXTS,
        "SMALL_OUTS": _SMALL_OUTS,
        "NO_RESULT": NO_RESULT,
    }


def _indent(lines: list[str], depth: int) -> list[str]:
    return ["    " * depth + line for line in lines]


def _make(source: str, namespace: dict[str, Any], name: str) -> Callable[..., Any]:
    exec(compile(source, f"<honeytrace writer {name}>", "exec"), namespace)
    return namespace[name]  # type: ignore[no-any-return]


Part = tuple[bool, str]
"""A piece of a writer's text: (True, constant text) or (False, a variable's name)."""


def _fstring(parts: list[Part]) -> str:
    """The f-string (as code) of ``parts``: constant texts written as literal characters,
    escaped (:func:`_literal`), so that a key's text is never code; the compiler joins
    adjacent constants, one piece fewer to build per event."""
    code = [_literal(text) if constant else "{" + text + "}" for constant, text in parts]
    return "f'" + "".join(code) + "'"


def _literal(text: str) -> str:
    """``text`` as the characters of a single-quoted f-string literal: printable ASCII as it
    is (quotes, backslashes and braces escaped), anything else as a ``\\U`` escape. (No
    codec: a forked child of a process whose other thread was importing cannot look one up.)"""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif " " <= char <= "~":
            out.append(char)
        else:
            out.append(f"\\U{ord(char):08x}")
    return "".join(out)


_ESCAPES = {"\\": "\\\\", "'": "\\'", "{": "{{", "}": "}}"}


def _values(
    count: int,
    keys: tuple[str, ...],
    masked: tuple[bool, ...] | None,
    defaults: tuple[Any, ...],
    skip: int,
    cost: int,
    encoder: Encoder,
    namespace: dict[str, Any],
) -> tuple[list[str], list[Part]]:
    """The lines that test and write the inputs' values (the ``count`` positional arguments in
    ``args``, the receiver left out when ``skip``, then the ``defaults``, bound in
    ``namespace``), and the object's parts in order: key, value, key, value, ... end."""
    lines = [f"{', '.join(f'a{i}' for i in range(count))}{',' if count == 1 else ''} = args"]
    if not count:
        lines = []
    mask = encoder._mask
    max_string, max_total = encoder.limits.max_string, encoder.limits.max_total
    sources = [f"a{i}" for i in range(skip, count)]
    for index, value in enumerate(defaults):
        namespace[f"D{index}"] = value
        sources.append(f"D{index}")
    parts: list[Part] = []
    # The size budget, counted only where the values could exceed it (all of them strings
    # of max_string characters): most functions' never can.
    counted: str | None = "cost"
    if cost + len(sources) * max_string + _COST < max_total:
        counted = None
    for index, (key, source) in enumerate(zip(keys, sources, strict=True)):
        parts.append((True, ("," if index else "{") + encode_basestring(key) + ":"))
        if masked is not None and masked[index]:  # a secret name: the value is not looked at
            parts.append((True, '"***"'))
            continue
        lines += value_code(source, f"v{index}", counted, mask)
        parts.append((False, f"v{index}"))
    parts.append((True, "}" if keys else "{}"))
    if counted is not None:
        lines = [f"cost = {cost}", *lines, f"if cost + {_COST} >= MAX_TOTAL:", "    return None"]
    return lines, parts


_UNROLLED = 3  # lists up to this long (a generator's few items) are written without a loop


def _short_list_code(mask: bool, max_string: int, max_total: int) -> list[str]:
    """``if count == 1: ... elif count == 2: ...``: a short list's items tested and written one
    by one (no loop, no list of texts, one string built), ending with ``out`` bound (the
    general loop follows in an ``else``). The size budget is counted only where the items
    could exceed it."""
    lines: list[str] = []
    for count in range(1, _UNROLLED + 1):
        counted = 2 + count * (max_string + _COST) + _RESULT_COST + _COST >= max_total
        lines.append(f"{'if' if count == 1 else 'elif'} count == {count}:")
        names = ", ".join(f"i{index}" for index in range(count))
        body = [f"{names}{',' if count == 1 else ''} = result"]
        if counted:
            body.append(f"listed = {2 + count * _COST}")
        for index in range(count):
            body += value_code(f"i{index}", f"t{index}", "listed" if counted else None, mask)
        if counted:
            body += [f"if 2 + listed + {_RESULT_COST + _COST} >= MAX_TOTAL:", "    return None"]
        texts = ",".join(f"{{t{index}}}" for index in range(count))
        body.append(f"out = f'{{OUT_LIST}}{texts}]}}}}'")
        lines += _indent(body, 1)
    lines.append("else:")
    return lines


def _outputs_code(mask: bool, max_string: int, max_total: int) -> list[str]:
    """Lines that bind ``out`` to the outputs part of the event (``,"outputs":{...}``, or
    nothing when no result was recorded), or ``return None``: a small int indexes a table, a
    list (a generator's items) is written item by item; any other result goes to
    ``RESULT`` (:func:`.template._result`)."""
    return [
        "kind = type(result)",
        "if kind is int and 0 <= result < " + str(_SMALL) + ":",
        "    out = SMALL_OUTS[result]",
        "elif result is NO_RESULT:",
        "    out = ''",
        "elif result is None:",
        "    out = OUT_NULL",
        "elif kind is list:",
        "    count = len(result)",
        *_indent(_short_list_code(mask, max_string, max_total), 1),
        "        if count > MAX_ITEMS:",
        "            return None",
        "        listed = 2",
        "        texts = []",
        "        for item in result:",
        *_indent(value_code("item", "text", "listed", mask), 3),
        f"            listed += {_COST}",
        "            texts.append(text)",
        f"        if 2 + listed + {_RESULT_COST + _COST} >= MAX_TOTAL:",
        "            return None",
        "        out = OUT_LIST + ','.join(texts) + ']}'",
        "else:",
        "    text = RESULT(ENCODER, result)",
        "    if text is None:",
        "        return None",
        "    out = OUT + text + '}'",
    ]


def event_writer(
    encoder: Encoder,
    head: str,
    inputs: tuple[tuple[str, ...], tuple[bool, ...] | None, int, tuple[Any, ...], int] | None,
    count: int,
    outputs: bool,
    result: Callable[[Encoder, Any], str | None],
) -> EventWriter:
    """The writer of the events of one function shape called with ``count`` positional
    arguments: ``head`` is the constant text from ``,"event_type"`` to ``"inputs":``;
    ``inputs`` the keys, which are masked, their size cost, the default values that complete
    the call and whether the receiver is left out (None: inputs are not captured, ``{}``);
    ``result`` writes a result that is neither a small int nor a list (None: not plain)."""
    namespace = _namespace(encoder)
    namespace.update(OUT=_OUT, OUT_LIST=_OUT + "[", OUT_NULL=_OUT + "null}", RESULT=result)
    namespace["ENCODER"] = encoder
    mask = encoder._mask
    lines: list[str] = []
    parts: list[Part]
    if inputs is None:
        parts = [(True, "{}")]
    else:
        keys, masked, cost, defaults, skip = inputs
        value_lines, parts = _values(count, keys, masked, defaults, skip, cost, encoder, namespace)
        lines += value_lines
    if outputs:
        lines += _outputs_code(mask, encoder.limits.max_string, encoder.limits.max_total)
    else:
        lines.append("out = ''")
    whole: list[Part] = [
        (True, '{"event_id":"'),
        (False, "id_head"),
        (False, "event_id"),
        (True, '","parent_id":'),
        (False, "parent"),
        (True, head),
        *parts,
        (False, "out"),
        (True, ',"start_time":'),
        (False, "start"),
        (True, ',"end_time":'),
        (False, "end"),
        (True, ',"duration":'),
        (False, "duration"),
        (True, "e-6"),
        (False, "tail"),
        (True, "}"),
    ]
    lines.append("return " + _fstring(whole))
    source = (
        "def write(args, result, id_head, event_id, parent, start, end, duration, tail):\n"
        + "\n".join(_indent(lines, 1))
        + "\n"
    )
    return _make(source, namespace, "write")


def values_writer(
    encoder: Encoder,
    inputs: tuple[tuple[str, ...], tuple[bool, ...] | None, int, tuple[Any, ...], int],
    count: int,
) -> Callable[[tuple[Any, ...]], str | None]:
    """``write(args)``: the inputs object's JSON of a call with ``count`` positional
    arguments (see :func:`event_writer`), or None when a value is not plain. For the store's
    rows (local/event_rows.py), which hold the inputs' JSON alone."""
    namespace = _namespace(encoder)
    keys, masked, cost, defaults, skip = inputs
    value_lines, parts = _values(count, keys, masked, defaults, skip, cost, encoder, namespace)
    lines = [*value_lines, "return " + _fstring(parts)]
    source = "def write(args):\n" + "\n".join(_indent(lines, 1)) + "\n"
    return _make(source, namespace, "write")
