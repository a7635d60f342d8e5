"""The store's bulk writes, inside a transaction of :class:`~honeytrace.local.store.Store`:
event rows as multi-row ``INSERT OR IGNORE`` statements of a few padded sizes, repricing, and
the OTLP ingest's moves of placeholder sessions."""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import schema
from .rows import JsonObject, row_to_event, update_row


def insert_rows(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> int:
    """Insert event rows (``INSERT OR IGNORE``) inside the transaction in progress, a chunk
    per statement (:func:`insert_chunk`), in their order; returns how many were new. A row
    has every column (:func:`~honeytrace.local.rows.event_row`) or is a plain row (those of
    :data:`~honeytrace.local.schema.PLAIN_COLUMNS`, local/event_rows.py)."""
    stored = 0
    for run in _runs(rows):
        top = _sizes(run[0])[-1]
        stored += sum(
            insert_chunk(conn, run[start : start + top]) for start in range(0, len(run), top)
        )
    return stored


def _sizes(row: tuple[Any, ...]) -> tuple[int, ...]:
    return PADDED if len(row) == len(schema.COLUMNS) else PADDED_PLAIN


def chunk_limit(rows: list[tuple[Any, ...]]) -> int:
    """The most rows of this kind (that of the first) one statement takes."""
    return _sizes(rows[0])[-1] if rows else PADDED[-1]


def _runs(rows: list[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    """``rows`` cut where their width changes (each run is one kind of statement)."""
    if not rows:
        return []
    width = len(rows[0])
    if all(len(row) == width for row in rows):  # the common case: one kind
        return [rows]
    runs: list[list[tuple[Any, ...]]] = []
    for _, run in itertools.groupby(rows, len):
        runs.append(list(run))
    return runs


def insert_chunk(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> int:
    """Insert at most :func:`chunk_limit` rows of one width (``INSERT OR IGNORE``) in one statement:
    one call into SQLite, which runs without the GIL from start to end, where ``executemany``
    takes it back after every row (and on a thread beside a busy one waits up to a switch
    interval, 5 ms, each time). Its row count is rounded up to one of a few sizes by repeating
    the last row (ignored as a duplicate), so that a few prepared statements serve every batch;
    returns how many rows were new."""
    total = len(rows)
    if not total:
        return 0
    size = next(size for size in _sizes(rows[0]) if size >= total)
    values = list(itertools.chain.from_iterable(rows))
    if size > total:
        values.extend(rows[-1] * (size - total))
    columns = schema.COLUMNS if len(rows[0]) == len(schema.COLUMNS) else schema.PLAIN_COLUMNS
    return int(conn.execute(schema.insert_events(size, columns), values).rowcount)


# The statement sizes of _insert_chunk: every size up to 16 rows, then steps of 1.5 and 1.33
# (at most a third of a statement repeated rows, which cost about a microsecond each). Up to 1024
# rows of plain rows, 512 of others: a statement is prepared once per size and connection, which
# grows faster than its rows (0.9 ms at 64 rows, 6.8 at 512, 18 at 1024), but each statement on
# the Local exporter's writer thread costs a hand-over of the GIL and each commit rewrites the
# pages it touched into the WAL: 1024-row statements of plain rows (a writer group,
# local/exporter.py) took 10-20% less of the writer's CPU per event than 512 and wrote 57 MiB of
# WAL for 50k events instead of 62.5. 1024 rows stay under SQLite's 32766 variables (999 before
# 3.32: 52 rows of 19 values). Statements of 2048 rows (groups of 2048 events) wrote a fifth less
# WAL but took more of the writer's CPU per row beside a busy flusher, and fewer events per second
# (A/B, issue 16: 42.9k against 49.5k, 51.9k against 57.4k).
PADDED = (*range(1, 17), 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
PADDED_PLAIN = (*PADDED, 768, 1024)  # plain rows: only the Local exporter's writer makes them
if sqlite3.sqlite_version_info < (3, 32, 0):
    PADDED = PADDED_PLAIN = (*range(1, 17), 24, 32, 48)


def reprice(
    conn: sqlite3.Connection, price: Callable[[JsonObject], bool], since_ms: float | None
) -> tuple[int, int]:
    """:meth:`Store.reprice <honeytrace.local.store.Store.reprice>`, in the transaction of
    ``conn``."""
    where = (
        "event_type = 'model' AND (json_type(metrics, '$.prompt_tokens') IS NOT NULL"
        " OR json_type(metrics, '$.completion_tokens') IS NOT NULL)"
    )
    params: list[Any] = []
    if since_ms is not None:
        where += " AND start_time >= ?"
        params.append(since_ms)
    rewritten = unpriced = 0
    for row in conn.execute(f"{schema.SELECT} WHERE {where}", params).fetchall():
        event = row_to_event(row)
        if not price(event):
            continue
        rewritten += 1
        cost = event["metadata"].get("cost")
        unpriced += bool(isinstance(cost, Mapping) and cost.get("unpriced"))
        changes = {"metrics": event["metrics"], "metadata": event["metadata"]}
        update_row(conn, event["event_id"], changes)
    return rewritten, unpriced


def follow_moves(
    conn: sqlite3.Connection, moves: Mapping[str, str], sessions: Iterable[str]
) -> None:
    """Remember each move (placeholder -> session) of an OTLP request, so that spans of the
    trace that come later without naming its session follow it, even when another process
    (a ``serve`` worker) took the request that named it; then move the placeholders among
    ``sessions`` (those this request's events went to) that an earlier move names."""
    conn.executemany(schema.REMEMBER_MOVE, [(o.lower(), n.lower()) for o, n in moves.items()])
    for sid in sessions:
        row = conn.execute(schema.MOVED_TO, (sid,)).fetchone()
        if row is not None:
            move_placeholder(conn, sid, row[0])


def move_placeholder(conn: sqlite3.Connection, old: str, new: str) -> None:
    """Move the events of placeholder session ``old`` into session ``new`` and drop the
    placeholder (nothing when ``old`` is not a stored placeholder)."""
    row = conn.execute(
        "SELECT placeholder FROM events WHERE event_id = ? AND session_id = ?", (old, old)
    ).fetchone()
    if old == new or row is None or not row[0]:
        return  # the common case: nothing was stored under it
    conn.execute(
        "UPDATE events SET session_id = ?,"
        " parent_id = CASE WHEN parent_id = ? THEN ? ELSE parent_id END"
        " WHERE session_id = ? AND event_id != ?",
        (new, old, new, old, old),
    )
    conn.execute("DELETE FROM events WHERE event_id = ?", (old,))
    conn.execute(schema.INSERT_PLACEHOLDER, (new, new, time.time_ns() // 1_000_000))
