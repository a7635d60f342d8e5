"""The exporter of the embedded default: finished bodies into the local SQLite store.

Called from the flusher thread; the store's work runs on the exporter's own writer thread
(:mod:`.writer`), in the order it was asked for, so that SQLite writes one batch while the
flusher encodes the next. Batches of sessions delivered whole are handed over without
waiting (:meth:`LocalExporter.submit_events`: the flusher's accounting runs once they are
committed), and so are sessions still open (:meth:`LocalExporter.deliver_open`,
:mod:`.open_sessions`); late updates wait for their answer as before. The flusher makes the rows
of the common events itself (:meth:`LocalExporter.event_rows`, :mod:`.event_rows`). The
flusher waits for the writer (:meth:`LocalExporter.drain`) before it answers a flush. It lives
with the store (``local/``), not with the delivery machinery, so that delivery never imports
the local world; the runtime picks it.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import sys
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from honeytrace._deliver.exporters import Body, RetryableError, Unavailable
from honeytrace._errors import internal_error
from honeytrace.local.event_rows import event_rows as make_event_rows
from honeytrace.local.open_sessions import deliver as deliver_open_session
from honeytrace.local.paths import why_unusable
from honeytrace.local.store import Store, StoreBusyError
from honeytrace.local.writer import Job, Writer

__all__ = ["LocalExporter"]

STORE_UNAVAILABLE = "store_unavailable"
"""The ``stats().dropped`` reason of events the local store could not take."""


class LocalExporter:
    """Writes into the embedded SQLite store, from the flusher thread only.

    ``option`` names where the path came from, for the error line when the store is unusable
    (a directory, an unwritable place, a file that is not a SQLite database): that line is the
    one the user sees, and the events are dropped as ``store_unavailable``. The store is
    opened again on the next write, so a path that is fixed while the app runs recovers.
    """

    def __init__(
        self, path: str, option: str = "local_path / HONEYTRACE_LOCAL_PATH", announce: bool = True
    ) -> None:
        self.path = path
        self.option = option
        self._store: Store | None = None
        self._announced = not announce  # the line saying where traces go, once
        # Batches queued together go as one statement (Store.put_events), up to its largest.
        self._writer = Writer(self._process, group_weight=_GROUP_EVENTS)
        self._rows_encoder: Any = None
        self._row_kinds: dict[Any, Any] = {}
        _exporters.add(self)

    def event_rows(
        self, encoder: Any, spans: list[Any], children: dict[int, list[int]] | None
    ) -> list[tuple[Any, ...] | None]:
        """The store's rows of the common events among ``spans``, made from the spans on the
        flusher (:func:`.event_rows.event_rows`; None for the others, which take the dict
        path). ``encoder`` must be trusting (``raw_ready``)."""
        if encoder is not self._rows_encoder:  # what is known per function, per encoder
            self._rows_encoder = encoder
            self._row_kinds = {}
        return make_event_rows(encoder, spans, children, self._row_kinds)

    needs_json = False
    """The flusher need not make the JSON of the bodies (nor size batches by it): they are
    stored as columns, never sent."""

    # -- the writer thread ----------------------------------------------------------------

    def submit_events(
        self,
        before: Callable[[], list[Body]],
        after: Callable[[BaseException | None], None],
        weight: int,
    ) -> None:
        """Store events of several sessions (as :meth:`create_events`) on the writer thread,
        without waiting: ``before()``, run there in order, gives the bodies (it drops those
        that may no longer go); ``after(error)`` gets None once they are committed, or the
        error :meth:`create_events` would have raised. Batches queued together are committed
        together (then all or none of them is stored). Runs at once on the calling thread
        when there is no writer thread."""
        job = Job(before=before, after=after, weight=weight)
        if self._writer.running():
            self._writer.put(job)
        else:
            self._process([job])

    def submit_call(self, fn: Callable[[], None], weight: int = 0) -> None:
        """Run ``fn`` on the writer thread once what was queued before it is done (the
        flusher's follow-ups of the batches it handed over), without waiting; ``weight``: the
        events it carries (they count towards the writer's bound)."""
        if self._writer.running():
            self._writer.put(Job(call=fn, weight=weight))
        else:
            fn()

    def deliver_open(self, flusher: Any, state: Any) -> None:
        """Deliver a session that was still open when the flusher first took it (or one that
        cannot go whole) without waiting for the writer: :func:`.open_sessions.deliver`, in
        place of the create path's calls that each wait for their answer."""
        deliver_open_session(self, flusher, state)

    def drain(self, timeout: float) -> bool:
        """Wait until everything handed to the writer is committed and accounted; False when
        ``timeout`` (seconds) passed first."""
        return self._writer.drain(timeout)

    def _process(self, jobs: list[Job]) -> None:
        """The writer's work: consecutive batches as one ``add_events`` (one transaction),
        calls one by one."""
        index = 0
        while index < len(jobs):
            job = jobs[index]
            if job.before is None:
                _run_call(job)
                index += 1
                continue
            group = []
            while index < len(jobs) and jobs[index].before is not None:
                group.append(jobs[index])
                index += 1
            self._write(group)

    def _write(self, group: list[Job]) -> None:
        parts: list[list[Body]] = []
        for job in group:
            try:
                parts.append(job.before() if job.before is not None else [])
            except Exception:
                internal_error("deliver sessions")
                parts.append([])
        events = [body for part in parts for body in part]
        error: BaseException | None = None
        if events:
            try:
                self._call_here("put_events", events)
            except Exception as exc:
                error = exc
        for job, part in zip(group, parts, strict=True):
            if part and job.after is not None:
                try:
                    job.after(error)
                except Exception:
                    internal_error("deliver sessions")

    def _open(self) -> Store:
        if self._store is None:
            try:
                self._store = Store(self.path)
            except StoreBusyError as exc:
                raise RetryableError(str(exc)) from exc
            except (OSError, sqlite3.DatabaseError) as exc:
                raise self._unavailable(exc) from None
        return self._store

    def create_session(self, body: Body, *, events: int = 0) -> None:
        """Insert or merge the session row."""
        self._call("put_session", body)

    def send_events(
        self, session_id: str, events: list[Body], raw: list[bytes] | None = None
    ) -> None:
        """Insert events, idempotent on ``event_id``."""
        self._call("add_events", session_id, events)

    def create_events(self, events: list[Body], raw: list[bytes] | None = None) -> None:
        """Events of several sessions, sessions as session events, in one transaction: as
        ``POST /v1/events/batch`` does (each event keeps its own ``session_id``)."""
        self._call("add_events", None, events, urgent=False)

    def update_event(self, event_id: str, body: Body, *, events: int = 0) -> None:
        """Merge an update, as ``PUT /v1/events/{event_id}`` does. ``events`` is 1 for the end
        of a session on the create path (whose create waited for its answer), which goes
        before the batches queued; other updates (late enrichments) go after them."""
        self._call("update_event", event_id, body, urgent=events > 0)

    def _call(self, method: str, *args: Any, urgent: bool = True) -> None:
        """``Store.<method>(*args)`` on the writer thread, waiting for it; on this thread when
        there is no writer (or this is the writer). ``urgent`` calls go before the batches
        queued, right after the piece in hand: the create path's, which concern a session
        created by an earlier call that waited, never what the batches hold. Others go after
        the batches queued (an update may be about an event in one of them)."""
        writer = self._writer
        if not writer.running():
            self._call_here(method, *args)
            return
        try:
            call = functools.partial(self._call_here, method, *args)
            writer.call(call, _CALL_TIMEOUT_S, urgent=urgent)
        except TimeoutError as exc:
            raise RetryableError(str(exc)) from None

    def _call_here(self, method: str, *args: Any) -> None:
        store = self._open()
        try:
            getattr(store, method)(*args)
        except StoreBusyError as exc:
            raise RetryableError(str(exc)) from exc
        except sqlite3.DatabaseError as exc:
            # Only the storage's own failures (read-only, disk full, a file replaced under
            # us); an IntegrityError or a ProgrammingError would be a bug of ours.
            if type(exc) not in (sqlite3.DatabaseError, sqlite3.OperationalError):
                raise
            self._close_store()
            raise self._unavailable(exc) from None
        if not self._announced:
            self._announced = True
            _announce(self.path)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit every call made inside the block at once, when it ends (one commit for a
        cycle of many sessions instead of one per call; :meth:`Store.transaction`), on the
        calling thread: for an exporter whose writer thread has not started. A call
        that fails inside raises as usual and stores nothing, the others are kept; a failure
        of the commit itself raises here (:class:`RetryableError` when the store is busy),
        and then nothing of the block was stored."""
        store = self._open()
        try:
            with store.transaction():
                yield
        except StoreBusyError as exc:
            raise RetryableError(str(exc)) from exc
        except sqlite3.ProgrammingError:
            if self._store is store:
                raise
            # A call inside failed the storage and closed this store (see _call), which
            # raised then: the calls after it went to a reopened store, each committed.

    def close(self) -> None:
        """Finish what the writer holds (bounded), stop it, and close the database connection
        (left open when the writer is stuck in it: closing it under its feet would crash)."""
        writer = self._writer
        if not writer.stop(_CLOSE_TIMEOUT_S):
            return
        self._close_store()

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _unavailable(self, exc: BaseException) -> Unavailable:
        where = os.path.abspath(self.path)
        return Unavailable(
            f"honeytrace: cannot store traces at {where} (set by {self.option}): "
            f"{why_unusable(where, exc)}. Events are dropped and counted in "
            f"honeytrace.stats().dropped[{STORE_UNAVAILABLE!r}]; point local_path or "
            "HONEYTRACE_LOCAL_PATH at a writable file.",
            STORE_UNAVAILABLE,
        )


_CALL_TIMEOUT_S = 120.0  # a call waits for the writer at most this long (each statement waits
# at most the store's busy timeout, 5 s, for another process's lock)
_CLOSE_TIMEOUT_S = 30.0
_GROUP_EVENTS = 1024  # (bulk.PADDED_PLAIN's largest statement: see there)


def _run_call(job: Job) -> None:
    try:
        assert job.call is not None
        job.result = job.call()
    except BaseException as exc:  # handed to the caller waiting for it
        if job.done is None:
            internal_error("store writer")
        else:
            job.error = exc


_exporters: weakref.WeakSet[LocalExporter] = weakref.WeakSet()
_inherited: list[Store] = []


def _after_fork_in_child() -> None:
    """A forked child never uses the parent's connection again, nor closes it (SQLite forbids
    carrying a connection across fork): it is kept, untouched, and the next write opens a new
    one (the child normally makes a new exporter anyway)."""
    for exporter in list(_exporters):
        if exporter._store is not None:
            _inherited.append(exporter._store)
            exporter._store = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

_announced_paths: set[str] = set()


def _announce(path: str) -> None:
    """Say once per process where local traces go: a new user should not have to guess."""
    if path in _announced_paths:
        return
    _announced_paths.add(path)
    where = path if os.path.isabs(path) else os.path.relpath(os.path.abspath(path))
    sys.stderr.write(
        f"honeytrace: traces are saved to {where}; see them with `honeytrace show latest` "
        "(set HH_API_KEY to send them to HoneyHive instead)\n"
    )
