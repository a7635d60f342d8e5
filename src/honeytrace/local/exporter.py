"""The exporter of the embedded default: finished bodies into the local SQLite store.

Runs on the flusher thread only. It lives with the store (``local/``), not with the delivery
machinery, so that delivery never imports the local world; the runtime picks it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from honeytrace._deliver.exporters import Body, RetryableError
from honeytrace.local.store import Store, StoreBusyError

__all__ = ["LocalExporter"]


class LocalExporter:
    """Writes into the embedded SQLite store, from the flusher thread only."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._store: Store | None = None
        self._announced = False

    def _open(self) -> Store:
        if self._store is None:
            try:
                self._store = Store(self.path)
            except StoreBusyError as exc:
                raise RetryableError(str(exc)) from exc
        return self._store

    def create_session(self, body: Body, *, events: int = 0) -> None:
        """Insert or merge the session row."""
        self._call("create_session", body)

    def send_events(
        self, session_id: str, events: list[Body], raw: list[bytes] | None = None
    ) -> None:
        """Insert events, idempotent on ``event_id``."""
        self._call("add_events", session_id, events)

    def update_event(self, event_id: str, body: Body, *, events: int = 0) -> None:
        """Merge an update, as ``PUT /v1/events/{event_id}`` does."""
        self._call("update_event", event_id, body)

    def _call(self, method: str, *args: Any) -> None:
        store = self._open()
        try:
            getattr(store, method)(*args)
        except StoreBusyError as exc:
            raise RetryableError(str(exc)) from exc
        if not self._announced:
            self._announced = True
            _announce(self.path)

    def close(self) -> None:
        """Close the database connection."""
        if self._store is not None:
            self._store.close()
            self._store = None


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
