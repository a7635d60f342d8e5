"""The store's writes of session events, inside a transaction of
:class:`~honeytrace.local.store.Store`: a batch's sessions (new ones in one statement) and the
merge of a repeated create into the stored session."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Container, Mapping, Sequence
from typing import Any

from . import bulk, schema
from .rows import (
    PLAIN_WIDTH,
    as_dict,
    event_row,
    event_values,
    insert_row,
    new_id,
    plain_row,
    row_to_event,
    session_row,
    update_row,
)

Body = Mapping[str, Any]

# Fields a repeated session create merges into the stored ones, and those it sets when given.
_SESSION_MERGED = ("metadata", "user_properties")
_SESSION_SET = ("end_time", "duration", "outputs", "error")
_LOOKUP_CHUNK = 500


def put_sessions(conn: sqlite3.Connection, upserts: list[tuple[str, Body]]) -> None:
    """The session events of a batch: the sessions not stored yet (nearly always all of
    them: a session goes whole once it ended) as new rows in one statement, after one
    look-up of which exist; the others merged one by one (:func:`upsert_session`), in
    their order, after the new rows (so a repeat of a new session merges into it)."""
    known: set[str] = set()
    ids = list(dict.fromkeys(sid for sid, _ in upserts))
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        part = ids[start : start + _LOOKUP_CHUNK]
        marks = ", ".join("?" * len(part))
        found = conn.execute(f"SELECT event_id FROM events WHERE event_id IN ({marks})", part)
        known.update(row[0] for row in found)
    rows: list[tuple[Any, ...]] = []
    merges: list[tuple[str, Body]] = []
    now = _now_ms()
    for sid, body in upserts:
        if sid in known:
            merges.append((sid, body))
        else:
            known.add(sid)
            rows.append(session_row(body, sid, now))
    bulk.insert_rows(conn, rows)
    for sid, body in merges:
        upsert_session(conn, sid, body)


def split_batch(
    events: Sequence[Body | tuple[Any, ...]], known: Container[str], now: int
) -> tuple[list[tuple[Any, ...]], list[tuple[str, Body]], set[str], dict[str, Any], int] | None:
    """:meth:`Store.put_events <honeytrace.local.store.Store.put_events>`'s reading of a
    batch: the rows to insert (each session's own row first, in their order, then the
    events'), the session bodies with their ids (to merge where the row existed), the sessions
    whose own event is there, the others that events name and ``known`` does not hold
    (session id -> start time of its first event: they need a placeholder), and how many rows
    have every column. None when an event has no session (the general path makes one up)."""
    heads: list[tuple[Any, ...]] = []
    rows: list[tuple[Any, ...]] = []
    bodies: list[tuple[str, Body]] = []
    started: set[str] = set()
    others: dict[str, Any] = {}
    wide = 0  # rows of every column (not plain rows)
    for body in events:
        if isinstance(body, tuple):  # a plain row (local/event_rows.py): made already
            sid = body[1]
            if sid not in started and sid not in others and sid not in known:
                others[sid] = body[6]
            rows.append(body)
            continue
        get = body.get
        value = get("session_id")
        if not (isinstance(value, str) and value):
            return None
        sid = value.lower()
        value = get("event_id")
        eid = value.lower() if isinstance(value, str) and value else new_id()
        if eid == sid and (get("event_type") or "chain") == "session":
            if sid not in started:
                started.add(sid)
                head = plain_row(session_row(body, sid, now))
                wide += len(head) != PLAIN_WIDTH
                heads.append(head)
            bodies.append((sid, body))
            continue
        if sid not in started and sid not in others and sid not in known:
            others[sid] = get("start_time")
        value = get("parent_id")
        parent = value.lower() if isinstance(value, str) and value else sid
        row = plain_row(event_row(body, eid, sid, parent))
        wide += len(row) != PLAIN_WIDTH
        rows.append(row)
    heads.extend(rows)
    return heads, bodies, started, others, wide


def upsert_session(conn: sqlite3.Connection, session_id: str, body: Body) -> None:
    """One session create (``POST /v1/sessions``, or a session event of a batch) merged into
    the store: a new row, the real create of a placeholder, or a repeat that sets and merges
    the fields it gives."""
    row = conn.execute(schema.SELECT + " WHERE event_id = ?", (session_id,)).fetchone()
    values = event_values(body)
    values.update(event_type="session", parent_id=None, placeholder=0)
    values.setdefault("start_time", _now_ms())
    if row is None:
        values.update(event_id=session_id, session_id=session_id)
        insert_row(conn, values, or_ignore=False)
        return
    current = row_to_event(row)
    if row["placeholder"]:
        # The real create of a session first seen through its events: it is the first
        # create, except that what updates merged into the placeholder is kept.
        changes = dict(values)
        if body.get("start_time") is None:
            del changes["start_time"]
    else:
        changes = {
            field: values[field]
            for field in _SESSION_SET
            if field in values and body.get(field) is not None
        }
        if body.get("children_ids"):
            changes["children_ids"] = values["children_ids"]
    for field in _SESSION_MERGED:
        if isinstance(body.get(field), Mapping):
            changes[field] = {**as_dict(current[field]), **body[field]}
    update_row(conn, session_id, changes)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
