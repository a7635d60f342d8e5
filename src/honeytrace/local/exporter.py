"""The exporter of the embedded default: finished bodies into the local SQLite store.

Runs on the flusher thread only. It lives with the store (``local/``), not with the delivery
machinery, so that delivery never imports the local world; the runtime picks it.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from honeytrace._deliver.exporters import Body, RetryableError, Unavailable
from honeytrace.local.paths import why_unusable
from honeytrace.local.store import Store, StoreBusyError

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
        self._call("add_events", None, events)

    def update_event(self, event_id: str, body: Body, *, events: int = 0) -> None:
        """Merge an update, as ``PUT /v1/events/{event_id}`` does."""
        self._call("update_event", event_id, body)

    def _call(self, method: str, *args: Any) -> None:
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
            self.close()
            raise self._unavailable(exc) from None
        if not self._announced:
            self._announced = True
            _announce(self.path)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit every call made inside the block at once, when it ends (one commit for a
        cycle of many sessions instead of one per call; :meth:`Store.transaction`). A call
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
        """Close the database connection."""
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
