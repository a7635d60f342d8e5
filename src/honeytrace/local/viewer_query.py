"""The web viewer's read queries over the store's SQLite connection (``GET /api/...``).

- :func:`list_sessions`: one page of sessions (newest first, or by duration or cost), filtered
  and searched, with the count of all matches and per-session figures (events, errors, tokens,
  cost). The page is read first, through the partial index of session rows; its figures come
  from one grouped query over those sessions' events only.
- :func:`session_view`: a session's header, totals and its *compact* tree: one short row per
  event, in depth-first order, so that a 5,000-event session is one small answer; each event's
  full fields are read when a person opens it (:func:`event_detail`).
- :func:`compare_sessions`: two sessions aligned by the path of names from the root.

Token and cost figures are read from ``metrics``, else ``metadata``: ``prompt_tokens`` (or
``input_tokens``), ``completion_tokens`` (or ``output_tokens``), ``cost_usd`` (or ``cost``). The
trace header sums them with :func:`.query.session_totals` (a figure an event reports stands for
its subtree); the session list adds up every event's own figures, which is the same whenever only
the leaf calls (the model events) report usage.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Mapping
from typing import Any

from honeytrace.local.query import JSON_COLUMNS, build_tree, is_number, parse_time_ms

__all__ = [
    "DEFERRED_BYTES",
    "SORTS",
    "TREE_COLUMNS",
    "compare_sessions",
    "event_detail",
    "event_field",
    "facets",
    "list_sessions",
    "session_view",
    "state_token",
]

JsonObject = dict[str, Any]

DEFERRED_BYTES = 256 * 1024
"""An object field whose JSON text is longer is not sent with the event's details but named in
its ``deferred`` map, and read on demand from :func:`event_field`."""

SORTS = ("start", "duration", "cost")
_SESSION_ROWS = "s.event_type = 'session' AND s.event_id = s.session_id"
# Session rows through their covering partial index, named: without statistics SQLite would
# rather take events_types (event_type = 'session') and sort every session for each page.
_SESSIONS = "events AS s INDEXED BY events_session_list"
_ERROR = "(error IS NOT NULL AND error != '')"


def _first(*paths: str) -> str:
    return "COALESCE(" + ", ".join(f"json_extract({path})" for path in paths) + ")"


_TOKENS_IN = _first(
    "metrics, '$.prompt_tokens'",
    "metrics, '$.input_tokens'",
    "metadata, '$.prompt_tokens'",
    "metadata, '$.input_tokens'",
)
_TOKENS_OUT = _first(
    "metrics, '$.completion_tokens'",
    "metrics, '$.output_tokens'",
    "metadata, '$.completion_tokens'",
    "metadata, '$.output_tokens'",
)
_TOKENS_TOTAL = _first("metrics, '$.total_tokens'", "metadata, '$.total_tokens'")
_COST = _first(
    "metrics, '$.cost_usd'", "metrics, '$.cost'", "metadata, '$.cost_usd'", "metadata, '$.cost'"
)
# The session list's cost: from metrics only, so that the cost sort reads just the events the
# store's events_metrics index names (those with metrics), not every event.
_LIST_COST = "COALESCE(json_extract(metrics, '$.cost_usd'), json_extract(metrics, '$.cost'))"
_INCOMPLETE = "json_extract(metadata, '$.incomplete')"
_DROPPED = "json_extract(metadata, '$.honeytrace.dropped_events')"
_DURATION = "COALESCE(duration, end_time - start_time)"


def state_token(conn: sqlite3.Connection) -> str:
    """Changes whenever the database does (a commit by this connection or by any other process):
    the viewer's ETags are made from it, so that polling an unchanged list costs one pragma."""
    version = conn.execute("PRAGMA data_version").fetchone()[0]
    return f"{version}.{conn.total_changes}"


# -- the session list ---------------------------------------------------------------------


def list_sessions(conn: sqlite3.Connection, params: Mapping[str, str]) -> JsonObject:
    """One page of sessions and the count of all that match.

    ``params`` (all optional): ``q`` (name, id prefix, or text in any event's inputs, outputs or
    error; case-insensitive), ``errors`` ("1": sessions with an error), ``since`` / ``until``
    (start time, epoch ms or ISO 8601), ``source``, ``model`` (``config.model`` of a model
    event), ``type`` (an event type present), ``sort`` (start, duration, cost), ``order`` (desc,
    asc), ``limit`` (1..500, default 50), ``offset``. Raises :class:`ValueError` naming a bad one.
    """
    where, args = _session_filters(params)
    sort = params.get("sort") or "start"
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
    order = (params.get("order") or "desc").lower()
    if order not in ("asc", "desc"):
        raise ValueError(f"order must be asc or desc, got {order!r}")
    limit = _int_param(params, "limit", 50, 1, 500)
    offset = _int_param(params, "offset", 0, 0, 10**12)
    key = {
        "start": "s.start_time",
        "duration": "COALESCE(s.duration, s.end_time - s.start_time)",
        # The one sort that reads every matching session's events (documented in the README).
        "cost": f"(SELECT SUM({_LIST_COST}) FROM events"
        " WHERE session_id = s.event_id AND metrics != '{}')",
    }[sort]
    # Sessions without a figure go last either way; every session row has a start time, and
    # leaving that sort key bare lets SQLite walk the index instead of sorting.
    nulls = "" if sort == "start" else f"{key} IS NULL, "
    total = conn.execute(f"SELECT COUNT(*) FROM {_SESSIONS} WHERE {where}", args).fetchone()[0]
    rows = conn.execute(
        f"""SELECT s.event_id, s.event_name, s.start_time, s.end_time,
                COALESCE(s.duration, s.end_time - s.start_time), s.source,
                {_INCOMPLETE.replace("metadata", "s.metadata")},
                {_DROPPED.replace("metadata", "s.metadata")}
            FROM {_SESSIONS} WHERE {where}
            ORDER BY {nulls}{key} {order}, s.event_id {order} LIMIT ? OFFSET ?""",
        [*args, limit, offset],
    ).fetchall()
    sessions = [
        {
            "session_id": row[0],
            "name": row[1],
            "start_time": row[2],
            "end_time": row[3],
            "duration": row[4],
            "source": row[5],
            "incomplete": bool(row[6]) or bool(row[7]),
        }
        for row in rows
    ]
    _add_figures(conn, sessions)
    return {"sessions": sessions, "total": int(total), "limit": limit, "offset": offset}


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if text in (None, ""):
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


# Six or more hex digits, one a decimal digit (so "facade" stays a word), hyphens allowed after
# the first eight as in a UUID: read as the start of an id.
_ID_PREFIX = re.compile(r"^[0-9a-fA-F]{6,8}(-[0-9a-fA-F-]*)?$")


def _session_filters(params: Mapping[str, str]) -> tuple[str, list[Any]]:
    clauses = [_SESSION_ROWS]
    args: list[Any] = []
    text = (params.get("q") or "").strip()
    if text and _ID_PREFIX.match(text) and any(char.isdigit() for char in text):
        # Looks like an id (or its start): sessions whose id, or one of whose events' id, starts
        # so; a range of the primary key, where a text search would read every event.
        low = text.lower()
        clauses.append(
            "(s.event_id >= ? AND s.event_id < ?"
            " OR s.event_id IN"
            " (SELECT session_id FROM events WHERE event_id >= ? AND event_id < ?))"
        )
        args += [low, low + "\uffff", low, low + "\uffff"]
    elif text:
        needle = text.lower()
        clauses.append(
            "(instr(lower(s.event_name), ?) > 0"
            " OR s.event_id IN (SELECT session_id FROM events WHERE instr(lower(inputs), ?) > 0"
            " OR instr(lower(outputs), ?) > 0 OR instr(lower(error), ?) > 0))"
        )
        args += [needle] * 4
    if params.get("errors") in ("1", "true"):
        clauses.append(f"s.event_id IN (SELECT session_id FROM events WHERE {_ERROR})")
    for name, operator in (("since", ">="), ("until", "<=")):
        bound = params.get(name)
        if bound:
            try:
                args.append(parse_time_ms(bound))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
            clauses.append(f"s.start_time {operator} ?")
    if params.get("source"):
        clauses.append("s.source = ?")
        args.append(params["source"])
    if params.get("model"):
        clauses.append(
            "s.event_id IN (SELECT session_id FROM events WHERE event_type = 'model'"
            " AND json_extract(config, '$.model') = ?)"
        )
        args.append(params["model"])
    if params.get("type"):
        clauses.append("s.event_id IN (SELECT session_id FROM events WHERE event_type = ?)")
        args.append(params["type"])
    return " AND ".join(clauses), args


def _add_figures(conn: sqlite3.Connection, sessions: list[JsonObject]) -> None:
    if not sessions:
        return
    marks = ", ".join("?" * len(sessions))
    rows = conn.execute(
        f"""SELECT session_id, COUNT(*) - 1, SUM({_ERROR}), SUM({_TOKENS_IN}),
                SUM({_TOKENS_OUT}), SUM({_LIST_COST})
            FROM events WHERE session_id IN ({marks}) GROUP BY session_id""",
        [session["session_id"] for session in sessions],
    ).fetchall()
    figures = {row[0]: row[1:] for row in rows}
    for session in sessions:
        events, errors, tokens_in, tokens_out, cost = figures.get(
            session["session_id"], (0, 0, None, None, None)
        )
        session.update(
            events=events, errors=errors, tokens_in=tokens_in, tokens_out=tokens_out, cost=cost
        )


def facets(conn: sqlite3.Connection) -> JsonObject:
    """The values the list's filters offer: sources, models and event types present."""

    def column(sql: str) -> list[Any]:
        return [row[0] for row in conn.execute(sql).fetchall() if row[0] not in (None, "")]

    return {
        "sources": column(
            f"SELECT DISTINCT source FROM {_SESSIONS} WHERE {_SESSION_ROWS} ORDER BY 1"
        ),
        "models": column(
            "SELECT DISTINCT json_extract(config, '$.model') FROM events"
            " INDEXED BY events_models WHERE event_type = 'model' ORDER BY 1"
        ),
        "types": column("SELECT DISTINCT event_type FROM events ORDER BY 1"),  # events_types
    }


# -- one session --------------------------------------------------------------------------

TREE_COLUMNS = (
    "event_id",
    "parent",  # index of the parent's row, -1 for the session
    "depth",
    "event_type",
    "event_name",
    "start_time",
    "duration",
    "error",  # 1 when the event has an error
    "tokens_in",
    "tokens_out",
    "cost",
    "state",  # "open" (no end yet), "incomplete" (closed at exit), or null
)


def _compact_events(conn: sqlite3.Connection, session_id: str) -> list[JsonObject]:
    rows = conn.execute(
        f"""SELECT event_id, parent_id, event_type, event_name, start_time, end_time,
                {_DURATION}, {_ERROR}, {_TOKENS_IN}, {_TOKENS_OUT}, {_TOKENS_TOTAL}, {_COST},
                {_INCOMPLETE}, {_DROPPED}, source,
                json_valid(metadata) AND json_extract(metadata, '$.cost.unpriced') IS 1
            FROM events WHERE session_id = ?
            ORDER BY start_time IS NULL, start_time, rowid""",
        (session_id,),
    ).fetchall()
    events: list[JsonObject] = []
    for row in rows:
        usage = {
            key: value
            for key, value in zip(
                ("prompt_tokens", "completion_tokens", "total_tokens", "cost"),
                row[8:12],
                strict=True,
            )
            if is_number(value)
        }
        events.append(
            {
                "event_id": row[0],
                "parent_id": row[1],
                "event_type": row[2],
                "event_name": row[3],
                "start_time": row[4],
                "end_time": row[5],
                "duration": row[6],
                "error": "1" if row[7] else None,
                "metrics": usage,
                # only what the totals read: a model call no price table knew
                "metadata": {"cost": {"unpriced": True}} if row[15] else {},
                "incomplete": bool(row[12]),
                "dropped": row[13],
                "source": row[14],
            }
        )
    return events


def session_view(conn: sqlite3.Connection, session_id: str) -> JsonObject | None:
    """``{"session", "totals", "columns", "events"}``, or None for an unknown session. The
    events are rows of :data:`TREE_COLUMNS`, depth first (children by start time), the session
    first."""
    events = _compact_events(conn, session_id)
    root = build_tree(session_id, events)
    if root is None:
        return None
    rows: list[list[Any]] = []
    stack: list[tuple[JsonObject, int, int]] = [(root, -1, 0)]
    while stack:  # iterative: a trace may nest deeper than Python's recursion limit
        event, parent, depth = stack.pop()
        index = len(rows)
        rows.append(_tree_row(event, parent, depth))
        stack.extend((child, index, depth + 1) for child in reversed(event["children"]))
    dropped = root["dropped"]
    session = {
        "session_id": session_id,
        "name": root["event_name"],
        "source": root["source"],
        "start_time": root["start_time"],
        "end_time": root["end_time"],
        "incomplete": root["incomplete"],
        "dropped_events": dropped if is_number(dropped) else None,
    }
    return {"session": session, "totals": root["totals"], "columns": TREE_COLUMNS, "events": rows}


def _tree_row(event: JsonObject, parent: int, depth: int) -> list[Any]:
    usage = event["metrics"]
    state = None
    if event["incomplete"]:
        state = "incomplete"
    elif event["duration"] is None:
        state = "open"
    return [
        event["event_id"],
        parent,
        depth,
        event["event_type"],
        event["event_name"],
        event["start_time"],
        event["duration"],
        1 if event["error"] else 0,
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        usage.get("cost"),
        state,
    ]


_SELECT_EVENT = (
    "SELECT event_id, session_id, parent_id, event_type, event_name, source, error, start_time,"
    " end_time, duration, " + ", ".join(JSON_COLUMNS) + " FROM events WHERE event_id = ?"
)


def event_detail(
    conn: sqlite3.Connection, event_id: str, deferred_bytes: int = DEFERRED_BYTES
) -> JsonObject | None:
    """The event's every field, except object fields longer than ``deferred_bytes`` of JSON:
    those are null and listed in ``deferred`` (field -> bytes), for :func:`event_field`."""
    cursor = conn.execute(_SELECT_EVENT, (event_id,))
    row = cursor.fetchone()
    if row is None:
        return None
    names = [column[0] for column in cursor.description]
    event: JsonObject = {}
    deferred: dict[str, int] = {}
    for name, stored in zip(names, row, strict=True):
        if name not in JSON_COLUMNS:
            event[name] = stored
            continue
        # Bytes are counted only when the characters alone might exceed the limit.
        size = len(stored.encode()) if len(stored) * 4 > deferred_bytes else len(stored)
        if size > deferred_bytes:
            deferred[name] = size
            event[name] = None
        else:
            event[name] = json.loads(stored)
    start, end = event["start_time"], event["end_time"]
    if not is_number(event["duration"]) and is_number(end) and is_number(start):
        event["duration"] = end - start
    event["deferred"] = deferred
    return event


def event_field(conn: sqlite3.Connection, event_id: str, field: str) -> str | None:
    """One object field's stored JSON text, whole; None when the event is absent. Raises
    :class:`ValueError` for a field that is not an object field."""
    if field not in JSON_COLUMNS:
        raise ValueError(f"field must be one of {', '.join(JSON_COLUMNS)}, got {field!r}")
    row = conn.execute(f"SELECT {field} FROM events WHERE event_id = ?", (event_id,)).fetchone()
    return None if row is None else str(row[0])


# -- compare ------------------------------------------------------------------------------


def compare_sessions(conn: sqlite3.Connection, first: str, second: str) -> JsonObject | None:
    """Two sessions side by side: ``{"a", "b", "rows"}`` where ``a`` and ``b`` are their
    headers and totals and each row is one path of event names from the root (the n-th
    sibling of a name matches the n-th), with both sides' figures (null where a side lacks
    it) and ``outputs_differ``. None when either session is unknown."""
    found = [session_view(conn, session_id) for session_id in (first, second)]
    views = [view for view in found if view is not None]
    if len(views) != 2:
        return None
    sides = [_paths(view["events"]) for view in views]
    outputs = [_outputs(conn, session_id) for session_id in (first, second)]
    rows: list[JsonObject] = []
    # Depth-first over the union of both trees: the first session's order, then what only
    # the second has, under the same parent.
    stack: list[tuple[str, ...]] = [()]
    while stack:
        path = stack.pop()
        here = [side[0].get(path) for side in sides]
        if path:
            a, b = here
            figures = [None if row is None else _figures(row) for row in here]
            differ = (
                a is not None and b is not None and outputs[0].get(a[0]) != outputs[1].get(b[0])
            )
            rows.append(
                {
                    "path": list(path),
                    "depth": len(path) - 1,
                    "event_type": (a or b)[3],  # type: ignore[index]
                    "event_name": (a or b)[4],  # type: ignore[index]
                    "a": figures[0],
                    "b": figures[1],
                    "outputs_differ": differ,
                }
            )
        children = list(sides[0][1].get(path, []))
        children += [child for child in sides[1][1].get(path, []) if child not in children]
        stack.extend(reversed(children))
    heads = [{"session": view["session"], "totals": view["totals"]} for view in views]
    return {"a": heads[0], "b": heads[1], "rows": rows}


def _paths(
    rows: list[list[Any]],
) -> tuple[dict[tuple[str, ...], list[Any]], dict[tuple[str, ...], list[tuple[str, ...]]]]:
    by_path: dict[tuple[str, ...], list[Any]] = {}
    children: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    row_paths: list[tuple[str, ...]] = []
    seen: dict[tuple[tuple[str, ...], str], int] = {}
    for row in rows:
        parent = row_paths[row[1]] if row[1] >= 0 else ()
        label = f"{row[3]}:{row[4]}"
        count = seen.get((parent, label), 0)
        seen[(parent, label)] = count + 1
        # The sessions themselves always match, whatever their names.
        path = (*parent, f"{label}#{count}") if row[1] >= 0 else ("session",)
        row_paths.append(path)
        by_path[path] = row
        children.setdefault(parent, []).append(path)
    return by_path, children


def _figures(row: list[Any]) -> JsonObject:
    return {
        "event_id": row[0],
        "duration": row[6],
        "error": bool(row[7]),
        "tokens_in": row[8],
        "tokens_out": row[9],
        "cost": row[10],
    }


def _outputs(conn: sqlite3.Connection, session_id: str) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT event_id, outputs, error FROM events WHERE session_id = ?", (session_id,)
    )
    # Parsed, so that two writers' key orders or spacing do not count as a difference.
    return {row[0]: (json.loads(row[1]), row[2] or None) for row in rows}
