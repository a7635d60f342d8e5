"""The store's longer read queries, on a connection (:class:`~honeytrace.local.store.Store`
calls them under its busy-as-error guard)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from honeytrace.local import schema
from honeytrace.local.query import is_number
from honeytrace.local.rows import JsonObject, row_to_event


def list_sessions(conn: sqlite3.Connection, limit: int) -> list[JsonObject]:
    """:meth:`Store.list_sessions <honeytrace.local.store.Store.list_sessions>`."""
    # INDEXED BY: the partial index of session rows, already in start order; the planner,
    # without statistics, would rather take events_types and sort every session.
    rows = conn.execute(
        """SELECT s.event_id, s.event_name, s.start_time, s.end_time, s.duration,
            (SELECT COUNT(*) FROM events e WHERE e.session_id = s.event_id) - 1,
            (SELECT COUNT(*) FROM events e WHERE e.session_id = s.event_id
                AND e.error IS NOT NULL AND e.error != ''),
            (SELECT SUM(COALESCE(json_extract(e.metrics, '$.total_tokens'),
                json_extract(e.metrics, '$.prompt_tokens')
                + COALESCE(json_extract(e.metrics, '$.completion_tokens'), 0),
                json_extract(e.metrics, '$.completion_tokens'))) FROM events e
                WHERE e.session_id = s.event_id AND e.event_type = 'model'),
            (SELECT SUM(json_extract(e.metrics, '$.cost_usd')) FROM events e
                WHERE e.session_id = s.event_id AND e.event_type = 'model')
        FROM events s INDEXED BY events_sessions
        WHERE s.event_type = 'session' AND s.event_id = s.session_id
        ORDER BY s.start_time DESC, s.rowid DESC LIMIT ?""",
        (limit,),
    ).fetchall()
    keys = (
        "session_id",
        "name",
        "start_time",
        "end_time",
        "duration",
        "events",
        "errors",
        "tokens",
        "cost",
    )
    sessions = [dict(zip(keys, row, strict=True)) for row in rows]
    for session in sessions:
        start, end = session["start_time"], session["end_time"]
        if session["duration"] is None and is_number(start) and is_number(end):
            session["duration"] = end - start
    return sessions


def iter_sessions_events(conn: sqlite3.Connection, since: float | None) -> Iterator[JsonObject]:
    """:meth:`Store.iter_sessions_events
    <honeytrace.local.store.Store.iter_sessions_events>`."""
    where, params = ("", ()) if since is None else (" AND s.start_time >= ?", (since,))
    columns = ", ".join(f"e.{column}" for column in schema.COLUMNS)
    cursor = conn.execute(
        f"""SELECT {columns}, e.placeholder FROM events e JOIN events s
            ON s.event_id = e.session_id AND s.event_type = 'session'
        WHERE s.event_id = s.session_id{where}
        ORDER BY s.start_time, s.rowid, e.event_id != e.session_id,
            e.start_time IS NULL, e.start_time, e.rowid""",
        params,
    )
    for row in cursor:
        yield row_to_event(row)


def plan_stats_stale(conn: sqlite3.Connection, min_rows: int) -> bool:
    """Whether the table has at least ``min_rows`` rows and no planner statistics (``ANALYZE``),
    or has doubled since they were made."""
    try:
        stat = conn.execute("SELECT stat FROM sqlite_stat1 WHERE idx = 'events_types'").fetchone()
    except sqlite3.OperationalError:  # no statistics table yet
        stat = None
    try:
        stated = int(str(stat[0]).split()[0]) if stat else 0
    except ValueError:
        stated = 0
    rows = conn.execute("SELECT max(rowid) FROM events").fetchone()[0] or 0
    return rows >= min_rows and rows >= 2 * stated


def find_session_ids(conn: sqlite3.Connection, prefix: str, limit: int) -> list[str]:
    """:meth:`Store.find_session_ids <honeytrace.local.store.Store.find_session_ids>`."""
    rows = conn.execute(
        "SELECT event_id FROM events WHERE event_type = 'session'"
        " AND event_id = session_id AND substr(lower(event_id), 1, ?) = ?"
        " ORDER BY start_time DESC LIMIT ?",
        (len(prefix), prefix.lower(), limit),
    ).fetchall()
    return [str(row[0]) for row in rows]
