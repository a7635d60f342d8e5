"""Sessions still open when the flusher takes them go to the local store without the flusher
waiting for the writer thread (local/open_sessions.py, issue 16 goal 3): the flusher goes on
with its next cycles while the writer is held up, flush() still answers only once everything is
committed, and a create that fails loses what it carried and leaves the session to be created
by its next delivery, as on the create path."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

import honeytrace
from honeytrace._record import buffer
from honeytrace.local.store import Store
from tests.test_local_writer import count, local_exporter, lock, record, step, wait_for


@pytest.fixture
def path(tmp_path: Path) -> str:
    path = str(tmp_path / "o.db")
    honeytrace.configure(exporter="local", local_path=path)
    record(1, 1)  # opens the store and starts the writer
    assert honeytrace.flush(10)
    return path


def flush_in_background() -> tuple[threading.Thread, list[bool]]:
    answers: list[bool] = []
    thread = threading.Thread(target=lambda: answers.append(honeytrace.flush(30)))
    thread.start()
    return thread, answers


def session_row(path: str, name: str) -> dict[str, Any]:
    with Store(path) as store:
        (row,) = [s for s in store.list_sessions(100) if s["name"] == name]
        tree = store.session_tree(row["session_id"])
    assert tree is not None
    return tree


def test_the_flusher_goes_on_while_the_writer_stores_an_open_session(path: str) -> None:
    before = count(path)
    blocker = lock(path)  # the writer's next statement waits (up to its 5 s busy timeout)
    try:
        with honeytrace.session("open"):
            step(1)
            step(2)
            first, first_answer = flush_in_background()  # takes the session while open
            writer = local_exporter()._writer
            wait_for(lambda: writer._in_hand > 0, timeout=3)  # the writer is held up
            # The flusher is not: it takes what comes next while the writer still waits.
            record(2, 3)
            second, _ = flush_in_background()
            wait_for(lambda: not buffer.QUEUE, timeout=3)
            assert writer._in_hand > 0 and first.is_alive() and not first_answer
            step(3)
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    assert honeytrace.flush(30)
    first.join(30)
    second.join(30)
    assert first_answer == [True]
    assert count(path) == before + 4 + 2 * 4
    tree = session_row(path, "open")
    assert [child["event_name"] for child in tree["children"]] == ["step"] * 3
    assert tree["end_time"] is not None and tree["event_name"] == "open"
    stats = honeytrace.stats()
    assert not stats.dropped and stats.sent == 2 + 4 + 2 * 4


def test_a_failed_create_loses_what_it_carried_and_the_next_delivery_creates(
    path: str,
) -> None:
    exporter = local_exporter()
    store = exporter._store
    assert store is not None
    store.connection.execute("PRAGMA busy_timeout=50")  # a short wait for the lock: it fails
    blocker = lock(path)
    try:
        with honeytrace.session("retried", inputs={"q": 1}):
            step(1)
            step(2)
            assert not honeytrace.flush(10)  # the create failed: its two events lost
            blocker.execute("COMMIT")
            step(3)
    finally:
        if blocker.in_transaction:
            blocker.execute("COMMIT")
        blocker.close()
    assert honeytrace.flush(10)
    stats = honeytrace.stats()
    assert sum(stats.dropped.values()) == 2 and stats.internal_errors == 0
    assert stats.sent == 2 + 2  # the fixture's, the session and its last event
    tree = session_row(path, "retried")  # created by the next delivery, with what it carries
    assert tree["inputs"] == {"q": 1} and tree["end_time"] is not None
    assert [child["inputs"] for child in tree["children"]] == [{"i": 3}]


def test_a_long_session_taken_many_times_is_stored_whole(path: str) -> None:
    """Events of one session taken over many cycles (created once, then its batches and
    end, all through the writer without waits) read back as one session."""
    before = count(path)
    with honeytrace.session("long"):
        for part in range(5):
            for i in range(20):
                step(part * 20 + i)
            assert honeytrace.flush(10)
    assert honeytrace.flush(10)
    tree = session_row(path, "long")
    assert [child["outputs"]["result"] for child in tree["children"]] == list(range(100))
    assert count(path) == before + 101
    with sqlite3.connect(path) as db:
        (placeholders,) = db.execute("SELECT COUNT(*) FROM events WHERE placeholder").fetchone()
    assert placeholders == 0


def writes(path: str) -> list[str]:
    """The statements the writer's connection runs from now on (its SQL text, first word)."""
    store = local_exporter()._store
    assert store is not None
    seen: list[str] = []
    store.connection.set_trace_callback(lambda sql: seen.append(sql.split(None, 1)[0].upper()))
    return seen


def test_an_open_sessions_create_and_events_go_in_the_writers_batch_statement(
    path: str,
) -> None:
    """An open session's create (a session row) and its events join the statement of the
    batches queued with them, its later events need no placeholder, and its end is one
    statement: three statements in all, no transaction of their own (instead of one for its
    create, one per delivery of events and one for its end: 16 statements, each taking the
    GIL back from the busy flusher)."""
    before = count(path)
    seen = writes(path)
    with honeytrace.session("joined", inputs={"q": 2}):
        step(1)
        step(2)
        assert honeytrace.flush(10)  # taken while open: the create and two events
        assert seen.count("INSERT") == 1 and "BEGIN" not in seen
        step(3)
    assert honeytrace.flush(10)  # the last event (a session it stored: no placeholder), the end
    assert seen == ["INSERT", "INSERT", "UPDATE"]
    tree = session_row(path, "joined")
    assert tree["inputs"] == {"q": 2} and tree["end_time"] is not None
    assert [child["inputs"] for child in tree["children"]] == [{"i": 1}, {"i": 2}, {"i": 3}]
    assert count(path) == before + 4
    stats = honeytrace.stats()
    assert not stats.dropped and stats.sent == 2 + 4


def test_an_open_sessions_end_alone_goes_as_a_call(path: str) -> None:
    """A delivery that carries only the session's end (no events came since the last) is a
    call on the writer thread: the end as an update, counted once."""
    seen = writes(path)
    with honeytrace.session("end-alone"):
        step(1)
        assert honeytrace.flush(10)
    assert seen.count("INSERT") == 1 and "UPDATE" not in seen
    assert honeytrace.flush(10)
    assert seen.count("INSERT") == 1 and seen.count("UPDATE") == 1
    tree = session_row(path, "end-alone")
    assert tree["end_time"] is not None and len(tree["children"]) == 1
    stats = honeytrace.stats()
    assert not stats.dropped and stats.sent == 2 + 2


def test_events_that_are_not_plain_rows_of_an_open_session_stay_in_it(path: str) -> None:
    """Events the flusher does not make rows of (here: model events with config and metrics,
    as the LLM integrations record) reach the writer's batch as bodies: each keeps its open
    session, never a placeholder session of its own."""

    @honeytrace.trace_model
    def call(prompt: str) -> str:
        honeytrace.enrich_span(config={"model": "m1"}, metrics={"prompt_tokens": 3})
        return prompt.upper()

    before = count(path)
    with honeytrace.session("open-with-bodies"):
        for part in range(3):
            call(f"p{part}")
            assert honeytrace.flush(10)  # taken while the session is still open
    assert honeytrace.flush(10)
    tree = session_row(path, "open-with-bodies")
    assert [child["outputs"] for child in tree["children"]] == [
        {"result": "P0"},
        {"result": "P1"},
        {"result": "P2"},
    ]
    assert [child["config"] for child in tree["children"]] == [{"model": "m1"}] * 3
    assert count(path) == before + 4
    with sqlite3.connect(path) as db:
        (placeholders,) = db.execute("SELECT COUNT(*) FROM events WHERE placeholder").fetchone()
    assert placeholders == 0
