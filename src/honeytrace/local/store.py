"""The embedded SQLite store of sessions and events: the Local exporter writes it, the collector
serves it over HTTP, and ``honeytrace sessions`` / ``honeytrace show`` print it.

One table, ``events``, holds every event; a session is the event whose ``event_id`` equals its
``session_id`` (``event_type`` "session"). Scalar fields are columns, indexed by session, parent
and start time (times are kept exactly as given); object fields are JSON text, which
:meth:`Store.search` reaches into with SQLite's JSON functions.

Concurrency: the file is in WAL mode, so readers never wait for the writer, and any number of
processes may write to it. Every write is one short ``BEGIN IMMEDIATE`` transaction, committed
before the method returns; a writer waits up to ``busy_timeout`` seconds for the lock and then
raises :class:`StoreBusyError`, which tells its caller to retry later. A :class:`Store` holds one
connection and is not thread-safe: use it from one thread at a time (the collector's writes run
on one writer thread per process; a second thread may also open its own Store on the same file).

Write semantics follow the HoneyHive API (``api/API.md``):

- Sessions: :meth:`Store.create_session` is idempotent on ``session_id``; a second create merges
  ``metadata``/``user_properties`` and sets ``end_time``/``duration``/``outputs``/``error`` and a
  non-empty ``children_ids`` when given.
- Events are idempotent on ``event_id``: the first write wins and a repeated insert is ignored,
  so a retried batch neither duplicates events nor undoes an update made in between.
- Events may arrive before their session's create (``POST /v1/events`` without a session, an
  out-of-order client): a *placeholder* session row is made so the tree is reachable at once,
  and the real create, when it comes, fills it in as if it had come first.
- :meth:`Store.update_event` on an unknown ``event_id`` raises :class:`KeyError`: nothing is
  answered before it is committed, so an update sent after its create was acknowledged always
  finds its row, and a parked update for a row that may never come would hide a lost create.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from honeytrace.local import bulk, reading, schema, session_writes
from honeytrace.local.query import build_tree, compile_search, is_number
from honeytrace.local.rows import (
    as_dict,
    event_row,
    is_uuid,
    lower_id,
    new_id,
    row_to_event,
    update_row,
)

__all__ = ["Store", "StoreBusyError"]

Body = Mapping[str, Any]
JsonObject = dict[str, Any]
Row = tuple[Any, ...]
"""A plain row (local/event_rows.py), which add_events and put_events take beside bodies."""

_CACHE_KIB = 16 * 1024
_CHECKPOINT_PAGES = 16_000  # of 4 KiB: 64 MiB of WAL between checkpoints
# The planner's statistics (Store._refresh_plan_stats): from this many events on, and when
# the table doubled since (so their cost, a scan of the indexes, stays proportional to writes).
_STATS_MIN_ROWS, _STATS_EVERY_S = 10_000, 300.0
_KNOWN_SESSIONS = 4096  # session ids a Store remembers as stored (put_events), at most
_UPDATE_MERGED = ("metadata", "feedback", "metrics", "config", "user_properties")


class StoreBusyError(Exception):
    """The database stayed locked by other writers beyond the busy timeout: retry later."""


class Store:
    """Sessions and events in one SQLite file (see the module docstring for the rules).

    ``path`` is created with its parent directories if absent. ``busy_timeout`` is how long, in
    seconds, a write waits for another process's lock before :class:`StoreBusyError`.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 5.0) -> None:
        self.path = os.fspath(path)
        self._grouped = False  # inside transaction(): each write is a savepoint
        self._stats_due = 0.0  # when search may next look at the planner's statistics
        self._sessions: set[str] = set()  # sessions whose row is stored (put_events)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False lets a lock-holding owner (the collector) call from any thread;
        # isolation_level=None leaves transactions to us (BEGIN IMMEDIATE ... COMMIT).
        self._conn = sqlite3.connect(
            self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            self._conn.row_factory = sqlite3.Row
            self._enable_wal(busy_timeout)
            with _busy_as_error():
                # In WAL mode NORMAL survives a crash of the process (what matters for "answered
                # means stored"); only an OS crash or power loss can drop the last commits.
                self._conn.execute("PRAGMA synchronous=NORMAL")
            # Event ids are random UUIDs, so each insert lands on a random page of the id
            # index: past SQLite's default 2 MiB cache (about 40k events) every insert reads
            # one back from the OS. 16 MiB keeps the index of a few 100k events in memory;
            # the cache only grows as pages are used.
            self._conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
            # A checkpoint copies each page changed since the last one back into the file once:
            # the id index's pages change in nearly every commit, so checkpointing every 64 MiB
            # of WAL instead of SQLite's 4 MiB copies them a sixteenth as often (about 12% less
            # CPU per event written by the Local exporter). The WAL file is cut back to that
            # size after a checkpoint, and deleted when the last connection closes.
            self._conn.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_PAGES}")
            self._conn.execute(f"PRAGMA journal_size_limit={_CHECKPOINT_PAGES * 4096}")
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    def _enable_wal(self, busy_timeout: float) -> None:
        """Switch a new file to WAL. SQLite answers "locked" at once (no busy wait) when two
        connections make that switch together, so it is retried here until the timeout."""
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise StoreBusyError(f"the trace store is busy: {exc}") from exc
                time.sleep(0.01)

    def _migrate(self) -> None:
        with _busy_as_error():
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version == schema.SCHEMA_VERSION:
            return  # the common case, a reader (the CLI) included: no write lock needed
        with self._write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > schema.SCHEMA_VERSION:
                raise sqlite3.DatabaseError(
                    f"{self.path} was written by a newer honeytrace (schema {version})"
                )
            for statement in schema.SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")

    @property
    def connection(self) -> sqlite3.Connection:
        """The open connection, for read-only queries (:mod:`.viewer_query`); the same
        one-thread-at-a-time rule applies."""
        return self._conn

    def close(self) -> None:
        """Close the connection; the Store is not usable afterwards. Idempotent."""
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writes ---------------------------------------------------------------------------

    def create_session(self, body: Body) -> JsonObject:
        """Create or merge a session, as ``POST /v1/sessions`` does; returns the stored session.

        A missing or non-UUID ``session_id`` gets a fresh UUIDv4. ``event_name`` is
        ``session_name``, else ``event_name``, else "unknown"; ``source`` defaults to "unknown"
        and ``start_time`` to now.
        """
        session_id = self.put_session(body)
        stored = self.get_event(session_id)
        assert stored is not None  # committed just above; rows are never deleted
        return stored

    def put_session(self, body: Body) -> str:
        """:meth:`create_session` without reading the stored session back (the Local
        exporter's create, once per session); returns its id."""
        given = lower_id(body.get("session_id"))
        # A session's id is random (uuid4): it is what people see shortened and search by.
        session_id = given if given is not None and is_uuid(given) else str(uuid.uuid4())
        name = body.get("session_name") or body.get("event_name")
        with self._write() as conn:
            session_writes.upsert_session(conn, session_id, {**body, "event_name": name})
        self._remember((session_id,))
        return session_id

    def add_events(
        self,
        session_id: str | None,
        events: Iterable[Body | Row],
        placeholders: Mapping[str, Body] | None = None,
        moves: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Add events, as create-event-batch does; returns their ids, in order.

        ``session_id`` overrides each event's own; when None, each event keeps its own
        (a fresh session id when it has none). ``parent_id`` defaults to the session, a
        missing ``event_id`` gets a UUIDv4, and a session event whose id is its session's is
        merged like a session create. Ids are stored in lower case. All events are committed
        in one transaction, written with a few multi-row statements
        (:func:`~honeytrace.local.bulk.insert_rows`).

        ``placeholders`` (session id -> ``event_name``, ``source``, ``start_time``,
        ``end_time``, ``duration``) names and times the sessions of these events that are still
        placeholders (the OTLP ingest: a trace's root span describes its session); a real
        session create is left as it is, and a later one still fills these in.

        ``moves`` (placeholder session id -> session id) first moves the events of placeholder
        sessions into other sessions and drops the placeholders (the OTLP ingest: spans of a
        trace stored in the trace's own session before a span of it named its real session).
        Given (even empty), it also marks the OTLP ingest: moves are remembered in the store and
        events that land in a placeholder moved before follow it there.
        """
        forced = lower_id(session_id)
        ids: list[str] = []
        rows: list[tuple[Any, ...]] = []
        sessions: dict[str, Any] = {}  # session id -> start time of its first event
        upserts: list[tuple[str, Body]] = []
        # lower_id inlined (isinstance, then lower): this loop runs once per event.
        for body in events:
            if isinstance(body, tuple):  # a plain row (local/event_rows.py): made already
                sid = body[1] if forced is None else forced
                ids.append(body[0])
                if sid not in sessions:
                    sessions[sid] = body[6]
                rows.append(body if sid == body[1] else (body[0], sid, *body[2:]))
                continue
            get = body.get
            sid = forced
            if sid is None:
                value = get("session_id")
                sid = value.lower() if isinstance(value, str) and value else str(uuid.uuid4())
            value = get("event_id")
            eid = value.lower() if isinstance(value, str) and value else new_id()
            ids.append(eid)
            if eid == sid and (get("event_type") or "chain") == "session":
                upserts.append((sid, body))
                continue
            if sid not in sessions:
                sessions[sid] = get("start_time")
            value = get("parent_id")
            parent = value.lower() if isinstance(value, str) and value else sid
            rows.append(event_row(body, eid, sid, parent))
        with self._write() as conn:
            for old, new in (moves or {}).items():
                bulk.move_placeholder(conn, old.lower(), new.lower())
            if upserts:
                session_writes.put_sessions(conn, upserts)
            if sessions:
                now = _now_ms()
                conn.executemany(
                    schema.INSERT_PLACEHOLDER,
                    [(sid, sid, t if is_number(t) else now) for sid, t in sessions.items()],
                )
            if placeholders:
                conn.executemany(
                    schema.DESCRIBE_PLACEHOLDER,
                    [
                        (*(fields.get(key) for key in schema.PLACEHOLDER_FIELDS), sid.lower())
                        for sid, fields in placeholders.items()
                    ],
                )
            bulk.insert_rows(conn, rows)
            if moves is not None:
                bulk.follow_moves(conn, moves, sessions)
        return ids

    def put_events(self, events: Sequence[Body | Row]) -> None:
        """:meth:`add_events` ``(None, events)`` for the Local exporter's batches of sessions
        delivered whole (each session's own event before its events), as ONE statement when
        it can: one call into SQLite, its own transaction, that runs without the GIL from
        start to end (each statement of a longer transaction takes the GIL back, and on the
        writer thread that waits for the flusher to give it up: up to 5 ms each time).

        Events of a session whose own event is not among ``events`` (a session longer than a
        batch, a session still open when the flusher took it: local/open_sessions.py) go in the
        same statement when this Store stored that session (:meth:`_remember`), else in the
        same transaction after a placeholder for their session (ignored when it is stored), as
        :meth:`add_events` makes. Sessions whose row already exists (a placeholder made by an
        earlier event, or just now) are merged after that, in a second transaction (its failure
        then raises, though the events stayed). Events without a session take
        :meth:`add_events` whole."""
        now = _now_ms()
        batch = session_writes.split_batch(events, self._sessions, now)
        if batch is None:
            self.add_events(None, events)  # a session to make up: the general path
            return
        heads, bodies, started, others, wide = batch
        if not heads:
            return
        one_kind = not wide or wide == len(heads)  # (one statement takes one kind of row)
        stored = self._put_rows(heads, one_kind, others, now)
        if stored == len(heads) and len(bodies) == len(started):
            self._remember(started)
            return  # every row was new: nothing to merge
        with self._write() as conn:
            for sid, body in bodies:  # merging a row made just above again changes nothing
                session_writes.upsert_session(conn, sid, body)
        self._remember(started)

    def _put_rows(
        self, rows: list[Row], one_kind: bool, others: Mapping[str, Any], now: int
    ) -> int:
        """put_events' write: ``rows`` in one statement, its own transaction, when it can;
        else in a transaction, after placeholders for ``others`` (session id -> start time).
        Returns how many rows were new."""
        if one_kind and not others and len(rows) <= bulk.chunk_limit(rows) and not self._grouped:
            with _busy_as_error():
                return bulk.insert_chunk(self._conn, rows)
        with self._write() as conn:
            if others:  # (a session whose own event comes later here is merged after)
                conn.executemany(
                    schema.INSERT_PLACEHOLDER,
                    [(sid, sid, t if is_number(t) else now) for sid, t in others.items()],
                )
            return bulk.insert_rows(conn, rows)

    def _remember(self, sessions: Iterable[str]) -> None:
        """Note sessions whose row this connection committed (a real session, never a
        placeholder): rows are never deleted, so later events of theirs need no placeholder
        (:meth:`put_events`). Bounded: forgotten all at once when full (then a placeholder is
        tried again, ignored)."""
        if self._grouped:
            return  # (not committed yet: the block may still roll back)
        known = self._sessions
        if len(known) > _KNOWN_SESSIONS:
            known.clear()
        known.update(sessions)

    def add_rows(self, sessions: Mapping[str, Any], rows: Sequence[tuple[Any, ...]]) -> None:
        """The write half of :meth:`add_events`, for rows made beforehand with
        :func:`~honeytrace.local.rows.event_row` (the collector makes them before its turn to
        write, see ``collector/rowbatch.py``): a placeholder for each of ``sessions`` (id ->
        start time of its first event) that has no row yet, then the rows; one transaction."""
        with self._write() as conn:
            if sessions:
                now = _now_ms()
                conn.executemany(
                    schema.INSERT_PLACEHOLDER,
                    [(sid, sid, t if is_number(t) else now) for sid, t in sessions.items()],
                )
            bulk.insert_rows(conn, list(rows))

    def add_event(self, event: Body) -> str:
        """Add one event, as ``POST /v1/events`` does; returns its id. Without a
        ``session_id`` the event starts a new session of its own."""
        return self.add_events(None, [event])[0]

    def update_event(self, event_id: str, body: Body) -> None:
        """Apply ``PUT /v1/events/{event_id}``: merge ``metadata``, ``feedback``, ``metrics``,
        ``config`` and ``user_properties`` (shallow), replace ``outputs`` (None keeps them), set
        ``duration`` and ``end_time``, and ``children_ids`` when non-empty. Other keys are
        ignored. Raises :class:`KeyError` when no event has this id."""
        event_id = event_id.lower()
        changes: JsonObject = {}
        if isinstance(body.get("outputs"), Mapping):
            changes["outputs"] = dict(body["outputs"])
        for field in ("duration", "end_time"):
            if body.get(field) is not None:
                changes[field] = body[field]
        if body.get("children_ids"):
            changes["children_ids"] = list(body["children_ids"])
        merged = [field for field in _UPDATE_MERGED if isinstance(body.get(field), Mapping)]
        if changes and not merged:
            # Nothing to merge with what is stored (a session's end, most often): one
            # statement, atomic by itself, instead of a transaction that reads the row first
            # (four statements, each taking the GIL back on the Local exporter's writer).
            with _busy_as_error():
                if not update_row(self._conn, event_id, changes):
                    raise KeyError(event_id)
            return
        with self._write() as conn:
            row = conn.execute(schema.SELECT + " WHERE event_id = ?", (event_id,)).fetchone()
            if row is None:
                raise KeyError(event_id)
            current = row_to_event(row)
            merges = {field: {**as_dict(current[field]), **body[field]} for field in merged}
            update_row(conn, event_id, {**merges, **changes})

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several writes (any of the write methods) into one transaction, committed
        when the block ends: a commit writes every page it touched to the WAL, so a batch of
        many small calls (a flusher cycle's sessions, concurrent collector requests) costs one
        commit instead of one each. Inside, each call still applies all or nothing (a
        savepoint): one that raises leaves the others' writes in place. The block itself
        commits everything or, when it raises, nothing. Not reentrant."""
        if self._grouped:
            raise RuntimeError("Store.transaction() is already open")
        conn = self._conn
        with _busy_as_error():
            conn.execute("BEGIN IMMEDIATE")
            self._grouped = True
            try:
                yield
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                self._grouped = False

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taken at once (IMMEDIATE) so that it can only wait at
        its start, for at most the busy timeout, instead of failing to upgrade a read lock;
        a savepoint inside :meth:`transaction`."""
        conn = self._conn
        begin, commit, rollback = (
            ("SAVEPOINT w", "RELEASE w", "ROLLBACK TO w")
            if self._grouped
            else ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
        )
        with _busy_as_error():
            conn.execute(begin)
            try:
                yield conn
                conn.execute(commit)
            except BaseException:
                conn.execute(rollback)
                if self._grouped:
                    conn.execute(commit)  # a rolled-back savepoint stays open until released
                raise

    def reprice(
        self, price: Callable[[JsonObject], bool], since_ms: float | None = None
    ) -> tuple[int, int]:
        """Run ``price(event)`` (:meth:`honeytrace._deliver.pricing.Pricer.price` with
        ``again=True``) on every stored model event with token usage that started at or after
        ``since_ms``, and store the ``metrics`` and ``metadata`` it rewrote; one transaction.
        Returns (events rewritten, of which left unpriced)."""
        with self._write() as conn:
            return bulk.reprice(conn, price, since_ms)

    # -- reads ----------------------------------------------------------------------------

    def get_event(self, event_id: str) -> JsonObject | None:
        """The event (or session) with this id, as the API's JSON, or None."""
        with _busy_as_error():
            row = self._conn.execute(
                schema.SELECT + " WHERE event_id = ?", (event_id.lower(),)
            ).fetchone()
        return None if row is None else row_to_event(row)

    def session_tree(self, session_id: str) -> JsonObject | None:
        """The session event with its events nested under ``children`` lists (by start time,
        then arrival) and its ``totals``, or None for an unknown session; see
        :func:`honeytrace.local.query.build_tree` for the details."""
        session_id = session_id.lower()
        with _busy_as_error():
            rows = self._conn.execute(
                schema.SELECT
                + " WHERE session_id = ? ORDER BY start_time IS NULL, start_time, rowid",
                (session_id,),
            ).fetchall()
        return build_tree(session_id, [row_to_event(row) for row in rows])

    def search(
        self,
        filters: Sequence[Body] | None = None,
        date_range: Body | None = None,
        limit: int = 1000,
        page: int = 1,
    ) -> tuple[list[JsonObject], int]:
        """Events matching every filter (``EventSearchFilter``: ``field``, ``operator``,
        ``value``, optional ``type``) with a start time inside ``date_range`` (ISO 8601
        ``start_time``/``end_time``, inclusive), newest first; returns one page and the count of
        all matches. Raises :class:`ValueError` naming a bad field, operator or value."""
        if limit < 1 or page < 1:
            raise ValueError("limit and page must be at least 1")
        where, params = compile_search(filters or (), date_range)
        self._refresh_plan_stats()
        with _busy_as_error():
            count = self._conn.execute(
                f"SELECT COUNT(*) FROM events WHERE {where}", params
            ).fetchone()[0]
            rows = self._conn.execute(
                f"{schema.SELECT} WHERE {where}"
                " ORDER BY start_time DESC, rowid DESC LIMIT ? OFFSET ?",
                [*params, limit, (page - 1) * limit],
            ).fetchall()
        return [row_to_event(row) for row in rows], int(count)

    def _refresh_plan_stats(self) -> None:
        """Give SQLite's planner the table's statistics (``ANALYZE``, about a second at a million
        events) when there are none or the table has since doubled. Without
        them a search on a common value (``event_type`` is "model") takes the value's index and
        sorts a third of the table (1.5 s at a million events) instead of walking the start
        time index backwards to the first page (under a millisecond); a sampled ANALYZE misjudges
        that too (it sees 1000 rows of one type in a row). Checked at most every few
        minutes; a store that cannot be written (read-only, busy) keeps the old plans."""
        now = time.monotonic()
        if now < self._stats_due:
            return
        self._stats_due = now + _STATS_EVERY_S
        if not reading.plan_stats_stale(self._conn, _STATS_MIN_ROWS):
            return
        try:
            with self._write() as writing:
                writing.execute("ANALYZE events")
        except (StoreBusyError, sqlite3.OperationalError):
            pass

    def list_sessions(self, limit: int = 50) -> list[JsonObject]:
        """The newest sessions first: ``session_id``, ``name``, ``start_time``, ``end_time``,
        ``duration`` (stored, else end minus start, else None), ``events`` (not counting the
        session itself), ``errors`` (events with an error, the session included), and the
        ``tokens`` (``total_tokens``) and ``cost`` (``cost_usd``) of its model events, None
        when none reports any."""
        with _busy_as_error():
            return reading.list_sessions(self._conn, limit)

    def iter_sessions_events(self, since: float | None = None) -> Iterator[JsonObject]:
        """Every event of every session that started at or after ``since`` (epoch ms; None:
        all), each session's own row first, sessions oldest first. Read lazily, row by row, so
        that exporting a large store holds one event at a time."""
        with _busy_as_error():
            yield from reading.iter_sessions_events(self._conn, since)

    def latest_session_id(self) -> str | None:
        """The id of the session that started last, or None when there is none."""
        sessions = self.list_sessions(1)
        return str(sessions[0]["session_id"]) if sessions else None

    def find_session_ids(self, prefix: str, limit: int = 10) -> list[str]:
        """Ids of sessions that start with ``prefix`` (case-insensitive), at most ``limit``."""
        with _busy_as_error():
            return reading.find_session_ids(self._conn, prefix, limit)


# -- helpers ------------------------------------------------------------------------------


@contextmanager
def _busy_as_error() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        if _is_busy(exc):
            raise StoreBusyError(f"the trace store is busy: {exc}") from exc
        raise


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    message = str(exc).lower()
    return "locked" in message or "busy" in message


_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6  # result codes, named by sqlite3 only from Python 3.11


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
