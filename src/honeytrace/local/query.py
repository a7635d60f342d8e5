"""The read side of the trace store (:mod:`.store`): search filters compiled to SQL, and
a session's events nested into a tree with its totals.

Search (``POST /v1/events/search``): every filter must hold (AND). A ``field`` is a column
(``event_type``, ``event_name``, ``error``, ``start_time``, ``duration``, ``metadata``, ...) or a
dotted path into an object column (``metadata.user``, ``config.model``). Operators:

- ``exists`` / ``not exists``: a column is non-null (an object column non-empty); a path is
  present, even with a null value.
- ``is`` / ``is not``: equality, null-safe; a missing field "is not" anything but null.
- ``contains`` / ``not contains``: case-insensitive substring of the value's text (an object's
  JSON text); a missing field does "not contain" anything.
- ``greater than`` / ``less than``: numbers compare with numbers, strings with strings.
- ``after`` / ``before``: times in epoch milliseconds; the value may be milliseconds or an ISO
  8601 string (UTC when it has no offset).

A filter's ``type`` (``string``, ``number``, ``boolean``, ``datetime``) converts its value first,
so ``{"value": "0.5", "type": "number"}`` compares as a number. JSON booleans compare as 1 and 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "JSON_COLUMNS",
    "SCALAR_COLUMNS",
    "build_tree",
    "compile_search",
    "is_number",
    "parse_time_ms",
    "session_totals",
]

JsonObject = dict[str, Any]

SCALAR_COLUMNS = (
    "event_id",
    "session_id",
    "parent_id",
    "event_type",
    "event_name",
    "source",
    "project_id",
    "error",
    "start_time",
    "end_time",
    "duration",
)
JSON_COLUMNS = (
    "children_ids",
    "config",
    "inputs",
    "outputs",
    "metadata",
    "feedback",
    "metrics",
    "user_properties",
)
_OBJECT_COLUMNS = frozenset(JSON_COLUMNS) - {"children_ids"}
_COMPARISONS = {"greater than": ">", "less than": "<", "after": ">", "before": "<"}


def is_number(value: object) -> bool:
    """True for an int or float that is not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- search -------------------------------------------------------------------------------


def compile_search(
    filters: Iterable[Mapping[str, Any]], date_range: Mapping[str, Any] | None
) -> tuple[str, list[Any]]:
    """A SQL ``WHERE`` condition and its parameters; :class:`ValueError` names what is wrong."""
    clauses: list[str] = []
    params: list[Any] = []
    for index, search_filter in enumerate(filters):
        try:
            clause, clause_params = _compile_filter(search_filter)
        except ValueError as exc:
            raise ValueError(f"filters[{index}]: {exc}") from None
        clauses.append(clause)
        params.extend(clause_params)
    if date_range:
        for key, operator in (("start_time", ">="), ("end_time", "<=")):
            bound = date_range.get(key)
            if bound is None:
                continue
            try:
                params.append(parse_time_ms(bound))
            except ValueError as exc:
                raise ValueError(f"dateRange.{key}: {exc}") from None
            clauses.append(f"start_time {operator} ?")
    return " AND ".join(clauses) or "1", params


def _compile_filter(search_filter: Mapping[str, Any]) -> tuple[str, list[Any]]:
    field = search_filter.get("field")
    operator = search_filter.get("operator")
    value = search_filter.get("value")
    kind = search_filter.get("type")
    if not isinstance(field, str) or not field:
        raise ValueError("field must be a non-empty string")
    expr, exists = _field_sql(field)
    if operator == "exists":
        return exists, []
    if operator == "not exists":
        return f"NOT ({exists})", []
    if operator in ("is", "is not"):
        sql = "IS" if operator == "is" else "IS NOT"
        return f"{expr} {sql} ?", [_convert(value, kind, field)]
    if operator in ("contains", "not contains"):
        if value is None:
            raise ValueError(f"{operator!r} on {field} needs a value")
        text = _convert(value, kind or "string", field)
        needle = str(text).lower()
        found = f"instr(lower(CAST({expr} AS TEXT)), ?) > 0"
        if operator == "contains":
            return found, [needle]
        return f"({expr} IS NULL OR NOT ({found}))", [needle]
    if operator in _COMPARISONS:
        default = "datetime" if operator in ("after", "before") else "number"
        bound = _convert(value, kind or default, field, lenient=kind is None)
        if bound is None:
            raise ValueError(f"{operator!r} on {field} needs a value")
        family = "'text'" if isinstance(bound, str) else "'integer', 'real'"
        return f"(typeof({expr}) IN ({family}) AND {expr} {_COMPARISONS[operator]} ?)", [bound]
    raise ValueError(f"unknown operator {operator!r}")


def _field_sql(field: str) -> tuple[str, str]:
    """The SQL expression of a field and the condition that it exists."""
    column, _, path = field.partition(".")
    if not path:
        if column in _OBJECT_COLUMNS or column == "children_ids":
            return column, f"{column} NOT IN ('{{}}', '[]')"
        if column in SCALAR_COLUMNS:
            return column, f"{column} IS NOT NULL"
        raise ValueError(f"unknown field {field!r}")
    if column not in _OBJECT_COLUMNS:
        raise ValueError(f"unknown field {field!r}: only object fields have dotted paths")
    keys = path.split(".")
    if any(not key or '"' in key for key in keys):
        raise ValueError(f"bad path in field {field!r}")
    # The path is a SQL literal, not a parameter, so that the expression can be repeated
    # freely; quotes are doubled, and the JSON keys are quoted so any other character is safe.
    json_path = "$" + "".join(f'."{key}"' for key in keys)
    literal = "'" + json_path.replace("'", "''") + "'"
    return f"json_extract({column}, {literal})", f"json_type({column}, {literal}) IS NOT NULL"


def _convert(value: Any, kind: Any, field: str, *, lenient: bool = False) -> Any:
    """The filter's value as the type it names; ``lenient`` keeps a value that does not
    convert (a comparison without a type may be between strings)."""
    if value is None:
        return None
    try:
        if kind is None:
            return int(value) if isinstance(value, bool) else value
        if kind == "string":
            return str(value).lower() if isinstance(value, bool) else str(value)
        if kind == "boolean":
            return _boolean(value)
        if kind == "number":
            return _number(value)
        if kind == "datetime":
            return parse_time_ms(value)
    except ValueError as exc:
        if lenient:
            return value
        raise ValueError(f"{field}: {exc}") from None
    raise ValueError(f"unknown type {kind!r}")


def _boolean(value: Any) -> int:
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return 1
    if text in ("false", "0"):
        return 0
    raise ValueError(f"{value!r} is not a boolean")


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        return int(value)
    if is_number(value):
        return value  # type: ignore[no-any-return]
    number = float(str(value).strip())  # ValueError names the value
    return int(number) if number.is_integer() else number


_FRACTION = re.compile(r"(\.\d+)")


def parse_time_ms(value: Any) -> int | float:
    """Epoch milliseconds from a number (taken as milliseconds) or an ISO 8601 string."""
    if is_number(value):
        return value  # type: ignore[no-any-return]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} is not a time")
    text = value.strip()
    try:
        return _number(text)
    except ValueError:
        pass
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    # Python 3.10's fromisoformat wants exactly 3 or 6 digits of fraction.
    text = _FRACTION.sub(lambda match: (match.group(1) + "000000")[:7], text, count=1)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


# -- session tree -------------------------------------------------------------------------


def build_tree(session_id: str, events: list[JsonObject]) -> JsonObject | None:
    """Nest a session's events (already ordered by start time) under their parents'
    ``children`` lists and add ``totals`` to the session; None when the session row is absent.

    An event whose parent is not in the session (or whose parents form a cycle) hangs from the
    session itself, so that everything stored is shown.
    """
    root = next((event for event in events if event["event_id"] == session_id), None)
    if root is None:
        return None
    by_id = {event["event_id"]: event for event in events}
    for event in events:
        event["children"] = []
    for event in events:
        if event is root:
            continue
        parent = by_id.get(event["parent_id"])
        (root if parent is None or parent is event else parent)["children"].append(event)
    _attach_strays(root, events, by_id)
    root["totals"] = session_totals(root, [event for event in events if event is not root])
    return root


def _attach_strays(root: JsonObject, events: list[JsonObject], by_id: JsonObject) -> None:
    moved = False
    while True:
        reachable: set[int] = set()
        stack = [root]
        while stack:
            event = stack.pop()
            reachable.add(id(event))
            stack.extend(event["children"])
        stray = next((event for event in events if id(event) not in reachable), None)
        if stray is None:
            break
        by_id[stray["parent_id"]]["children"].remove(stray)
        root["children"].append(stray)
        moved = True
    if moved:
        root["children"].sort(key=_start_key)


def _start_key(event: JsonObject) -> tuple[bool, float]:
    start = event.get("start_time")
    return (False, float(start)) if isinstance(start, int | float) else (True, 0.0)


_USAGE_KEYS = {
    "prompt_tokens": "prompt_tokens",
    "input_tokens": "prompt_tokens",
    "completion_tokens": "completion_tokens",
    "output_tokens": "completion_tokens",
    "total_tokens": "total_tokens",
    "cost": "cost",
    "cost_usd": "cost",  # what the flusher's pricing writes (wins over "cost": read later)
}


def session_totals(root: JsonObject, events: list[JsonObject]) -> JsonObject:
    """What ``honeytrace show`` and the tree endpoint sum up for a session:

    - ``events``: events in the session, the session itself not counted;
    - ``errors``: events with a non-empty ``error``, the session included;
    - ``duration``: the session's own, else from its earliest start to its latest end (ms);
    - ``tokens``: ``prompt_tokens``, ``completion_tokens``, ``total_tokens`` (``input_tokens``
      and ``output_tokens`` count as prompt and completion), and ``cost``: read from each
      event's ``metrics``, else its ``metadata``. A figure an event reports stands for its
      whole subtree, otherwise its children's are added up, so a parent that records the sum
      of its children is not counted twice. None when no event reports any. ``cost_usd``
      (what the flusher's pricing writes) counts as ``cost``;
    - ``unpriced``: model events whose cost no price table knew (``metadata.cost.unpriced``),
      so that a total is never read as complete when it is not.
    """
    everything = [root, *events]
    duration = root.get("duration")
    if not is_number(duration):
        starts = [e["start_time"] for e in everything if is_number(e.get("start_time"))]
        ends = [e["end_time"] for e in everything if is_number(e.get("end_time"))]
        duration = max(ends) - min(starts) if starts and ends else None
    usage = _subtree_usage(root)
    tokens: JsonObject | None = None
    if any(key != "cost" for key in usage):
        prompt = usage.get("prompt_tokens", 0)
        completion = usage.get("completion_tokens", 0)
        tokens = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": usage.get("total_tokens", prompt + completion),
        }
    return {
        "events": len(events),
        "errors": sum(1 for event in everything if event.get("error")),
        "duration": duration,
        "tokens": tokens,
        "cost": usage.get("cost"),
        "unpriced": sum(1 for event in events if _unpriced(event)),
    }


def _unpriced(event: JsonObject) -> bool:
    metadata = event.get("metadata")
    cost = metadata.get("cost") if isinstance(metadata, Mapping) else None
    return isinstance(cost, Mapping) and bool(cost.get("unpriced"))


def _own_usage(event: JsonObject) -> dict[str, float]:
    usage: dict[str, float] = {}
    for source in ("metadata", "metrics"):  # metrics last: it wins over metadata
        fields = event.get(source)
        if not isinstance(fields, Mapping):
            continue
        for key, total_key in _USAGE_KEYS.items():
            if is_number(fields.get(key)):
                usage[total_key] = fields[key]
    if "total_tokens" not in usage and ("prompt_tokens" in usage or "completion_tokens" in usage):
        usage["total_tokens"] = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
    return usage


def _subtree_usage(root: JsonObject) -> dict[str, float]:
    # Post-order without recursion: a trace may nest deeper than Python's recursion limit.
    order: list[JsonObject] = []
    stack = [root]
    while stack:
        event = stack.pop()
        order.append(event)
        stack.extend(event["children"])
    sums: dict[int, dict[str, float]] = {}
    for event in reversed(order):
        own = _own_usage(event)
        usage = dict(own)
        for child in event["children"]:
            for key, amount in sums[id(child)].items():
                if key not in own:
                    usage[key] = usage.get(key, 0) + amount
        sums[id(event)] = usage
    return sums[id(root)]
