"""The Local exporter's writer thread (local/writer.py): a flush answers only once the rows are
committed, store errors still count, the queue is bounded, a fork waits for the work in hand and
the child starts with a clean writer; and Store.put_events, the one-statement write it uses,
stores what add_events stores."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import honeytrace
from honeytrace import _runtime
from honeytrace.local import writer as writer_module
from honeytrace.local.exporter import LocalExporter
from honeytrace.local.store import Store
from honeytrace.local.writer import Job, Writer

T0 = 1_700_000_000_000


@honeytrace.trace_tool
def step(i: int) -> int:
    return i


def record(sessions: int, events: int) -> None:
    for n in range(sessions):
        with honeytrace.session("s", inputs={"n": n}):
            for i in range(events):
                step(i)


def count(path: str) -> int:
    """Rows another connection sees: only what is committed."""
    with sqlite3.connect(path) as other:
        return int(other.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def local_exporter() -> LocalExporter:
    flusher = _runtime._flusher
    assert flusher is not None
    exporter = flusher.exporter
    assert isinstance(exporter, LocalExporter)
    return exporter


@pytest.fixture
def path(tmp_path: Path) -> str:
    path = str(tmp_path / "w.db")
    honeytrace.configure(exporter="local", local_path=path)
    record(1, 1)  # opens the store and starts the writer
    assert honeytrace.flush(10)
    assert any(t.name == "honeytrace-store" for t in threading.enumerate())
    return path


def lock(path: str) -> sqlite3.Connection:
    """Another process's writer, as SQLite sees it: the store's writes wait for it."""
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    return blocker


def test_flush_answers_only_once_the_writer_committed(path: str) -> None:
    before = count(path)
    blocker = lock(path)
    record(3, 10)
    answers: list[bool] = []
    flushing = threading.Thread(target=lambda: answers.append(honeytrace.flush(30)))
    flushing.start()
    writer = local_exporter()._writer
    wait_for(lambda: writer._in_hand > 0)  # the batches are with the writer, which waits
    flushing.join(0.5)
    assert flushing.is_alive() and not answers  # not answered while nothing is committed
    blocker.execute("COMMIT")
    flushing.join(30)
    assert answers == [True]
    assert count(path) == before + 3 * 11  # every row there when flush() said so
    blocker.close()


def test_a_store_failing_under_the_writer_is_counted_as_before(path: str) -> None:
    with sqlite3.connect(path) as other:
        other.execute("DROP TABLE events")
    record(2, 5)
    assert not honeytrace.flush(10)
    stats = honeytrace.stats()
    assert stats.dropped == {"store_unavailable": 12} and stats.internal_errors == 0
    assert stats.sent == 2  # the fixture's session and its event


def test_the_writer_queue_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "MAX_WEIGHT", 10)
    release = threading.Event()
    seen: list[int] = []

    def process(jobs: list[Job]) -> None:
        release.wait(10)
        seen.extend(job.weight for job in jobs)

    writer = Writer(process, group_weight=100)
    assert writer.running()
    writer.put(Job(before=list, weight=6))
    wait_for(lambda: writer._in_hand == 1)  # taken: the writer is busy with it
    writer.put(Job(before=list, weight=4))  # 10 queued or in hand: still room
    third = threading.Thread(target=writer.put, args=(Job(before=list, weight=4),))
    third.start()
    third.join(0.3)
    assert third.is_alive()  # waits for room
    release.set()
    third.join(10)
    assert not third.is_alive()
    assert writer.drain(10) and seen == [6, 4, 4]
    assert writer.stop(10)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_waits_for_the_writers_work_and_the_child_starts_clean(path: str) -> None:
    before = count(path)
    blocker = lock(path)
    record(2, 3)
    honeytrace.flush(0)  # asks for a cycle, answers at once
    exporter = local_exporter()
    wait_for(lambda: exporter._writer._in_hand > 0)  # the writer holds a batch, blocked
    threading.Timer(0.3, lambda: blocker.execute("COMMIT")).start()
    pid = os.fork()
    if pid == 0:  # the child: exit code says what it saw
        code = 1
        try:
            # The fork waited for the batch in hand: it is committed.
            seen = count(path) == before + 2 * 4
            # The parent's writer is dead here and none of its locks is held.
            clean = not exporter._writer.running() and exporter._writer.drain(1.0)
            record(1, 2)  # the child's own tracing lands in the same store
            delivered = honeytrace.flush(10)
            code = 0 if seen and clean and delivered else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        assert time.monotonic() < deadline, "the child hung"
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0
    assert honeytrace.flush(10)
    assert count(path) == before + 2 * 4 + 3  # the child's session too
    blocker.close()


def test_the_local_exporter_makes_no_json_of_the_events(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pydantic_core

    calls = []
    real = pydantic_core.to_json

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pydantic_core, "to_json", counting)
    record(2, 50)
    assert honeytrace.flush(10)
    assert len(calls) <= 2  # the session events (sized once each), not the 100 events
    assert count(path) == 2 + 2 * 51


def new_id() -> str:
    return str(uuid.uuid4())


def batch() -> list[dict[str, Any]]:
    """Two sessions delivered whole, one with an event repeated (a retried batch)."""
    out: list[dict[str, Any]] = []
    for name in ("a", "b"):
        sid = new_id()
        out.append(
            {
                "event_id": sid,
                "session_id": sid,
                "event_type": "session",
                "event_name": name,
                "source": "dev",
                "start_time": T0,
                "end_time": T0 + 5,
                "duration": 5.0,
                "inputs": {"q": name},
                "metadata": {},
                "children_ids": [],
            }
        )
        for i in range(3):
            out.append(
                {
                    "event_id": new_id(),
                    "session_id": sid,
                    "parent_id": sid,
                    "event_type": "tool",
                    "event_name": f"t{i}",
                    "source": "dev",
                    "start_time": T0 + i,
                    "inputs": {"i": i},
                    "outputs": {"r": [i, "é"]},
                    "metrics": {"x": 1.5} if i else {},
                }
            )
    out.append(dict(out[1]))
    return out


def rows(store: Store) -> list[tuple[Any, ...]]:
    return sorted(tuple(row) for row in store.connection.execute("SELECT * FROM events"))


def test_put_events_stores_what_add_events_stores(tmp_path: Path) -> None:
    events = batch()
    with Store(tmp_path / "a.db") as a, Store(tmp_path / "b.db") as b:
        a.add_events(None, events)
        b.put_events(events)
        assert rows(a) == rows(b)
        # Again: idempotent on event ids, sessions merged into themselves.
        a.add_events(None, events)
        b.put_events(events)
        assert rows(a) == rows(b) and len(rows(b)) == 8


def test_put_events_merges_a_session_first_seen_through_its_events(tmp_path: Path) -> None:
    events = batch()
    early = {**events[2], "event_id": new_id()}  # an event that came before its session
    with Store(tmp_path / "a.db") as a, Store(tmp_path / "b.db") as b:
        for store in (a, b):
            store.add_events(None, [early])
            stored = store.get_event(events[0]["session_id"])
            assert stored is not None and stored["event_name"] == "unknown"  # a placeholder
        a.add_events(None, events)
        b.put_events(events)
        assert rows(a) == rows(b)
        session = b.get_event(events[0]["session_id"])
        assert session is not None and session["event_name"] == "a"


def test_put_events_takes_the_general_path_for_a_session_it_does_not_hold(
    tmp_path: Path,
) -> None:
    events = batch()[1:4]  # a session's events without the session's own event
    with Store(tmp_path / "a.db") as a, Store(tmp_path / "b.db") as b:
        a.add_events(None, events)
        b.put_events(events)
        assert rows(a) == rows(b) and len(rows(b)) == 4  # the placeholder session too


def test_a_bug_in_the_writers_accounting_loses_only_that_batch_and_says_so(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from honeytrace import _errors
    from honeytrace._deliver import fresh

    def broken(entries: Any) -> Any:
        raise RuntimeError("a bug")

    _errors.set_raise_internal_errors(False)
    monkeypatch.setattr(fresh, "_by_state", broken)
    record(2, 4)
    assert not honeytrace.flush(10)  # answered: nothing left in flight
    stats = honeytrace.stats()
    assert stats.dropped == {"internal_error": 10} and stats.internal_errors >= 1
    monkeypatch.undo()
    record(1, 1)  # the writer goes on
    assert honeytrace.flush(10)


def test_shutdown_commits_what_the_writer_holds(path: str) -> None:
    before = count(path)
    record(3, 20)
    honeytrace.shutdown(10)  # no flush first: the flusher's last cycle, then the writer's
    assert count(path) == before + 3 * 21
    stats = honeytrace.stats()
    assert stats.sent == 2 + 3 * 21 and not stats.dropped
    assert not any(t.name == "honeytrace-store" for t in threading.enumerate())
