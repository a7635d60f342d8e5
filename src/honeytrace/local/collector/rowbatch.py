"""Event rows made before the write: the collector's batch route builds the store's rows
(:func:`~honeytrace.local.rows.event_row`: the columns, the JSON text of the object fields)
while it prepares the request, outside its turn to write, so that the part of a batch that
only one process at a time can run (see :mod:`.workers`) is SQLite's own work.

The rows are what :meth:`Store.add_events` makes of the same events (``tests/test_rowbatch``
compares the stored results); a batch holding its session's own event (which
:meth:`Store.add_events` merges like a session create) takes that path whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from honeytrace.local.rows import event_row, new_id
from honeytrace.local.store import Store

__all__ = ["PreparedRows", "prepare_rows", "write_rows"]


class PreparedRows:
    """The rows of one session's events, or (``rows`` None) the events for
    :meth:`Store.add_events`."""

    __slots__ = ("events", "rows", "session_id", "start")

    def __init__(
        self,
        session_id: str,
        events: Sequence[dict[str, Any]],
        rows: list[tuple[Any, ...]] | None,
        start: Any,
    ) -> None:
        self.session_id, self.events, self.rows, self.start = session_id, events, rows, start


def prepare_rows(session_id: str, events: Sequence[dict[str, Any]]) -> PreparedRows:
    """The rows of ``events`` (validated bodies) in the session ``session_id``, as
    ``Store.add_events(session_id, events)`` would write them."""
    sid = session_id.lower()
    rows: list[tuple[Any, ...]] = []
    # lower_id inlined (isinstance, then lower): this loop runs once per event.
    for body in events:
        get = body.get
        value = get("event_id")
        eid = value.lower() if isinstance(value, str) and value else new_id()
        if eid == sid and (get("event_type") or "chain") == "session":
            return PreparedRows(session_id, events, None, None)  # a session create: merged
        value = get("parent_id")
        parent = value.lower() if isinstance(value, str) and value else sid
        rows.append(event_row(body, eid, sid, parent))
    start = events[0].get("start_time") if events else None
    return PreparedRows(sid, events, rows, start)


def write_rows(store: Store, prepared: PreparedRows) -> None:
    """Write what :func:`prepare_rows` made: the rows and their session's placeholder (when
    the session has no row yet), in one transaction."""
    if prepared.rows is None:
        store.add_events(prepared.session_id, prepared.events)
    elif prepared.rows:
        store.add_rows({prepared.session_id: prepared.start}, prepared.rows)
