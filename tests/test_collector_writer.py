"""The collector's writer thread (``collector/writer.py``) and the rows its batch route builds
before writing (``collector/rowbatch.py``): requests posted at once are each committed before
their answer, a bad batch among them is a 400 that stores nothing while the others are stored,
a write that fails in SQLite is a 500 that stores nothing of its batch, and the prepared rows
store exactly what ``Store.add_events`` stores."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from honeytrace.local.collector._http import StoreAccess
from honeytrace.local.collector.rowbatch import prepare_rows, write_rows
from honeytrace.local.collector.writer import Job, Writer
from honeytrace.local.store import Store
from tests.support.collector_server import (
    CollectorServer,
    collector_fixture,
    collector_server,  # noqa: F401 -- registers the module-scoped server fixture
    wait_for,
)

collector = collector_fixture
T0 = 1_700_000_000_000


def new_id() -> str:
    return str(uuid.uuid4())


def event(**fields: Any) -> dict[str, Any]:
    return {
        "event_id": new_id(),
        "event_type": "tool",
        "event_name": "search",
        "inputs": {"q": "x"},
        "start_time": T0,
        **fields,
    }


def stored_count(db: str, session_id: str) -> int:
    with Store(db) as store:
        found = store.connection.execute(
            "SELECT COUNT(*) FROM events WHERE session_id = ? AND event_type != 'session'",
            (session_id,),
        ).fetchone()[0]
    return int(found)


def test_concurrent_batches_with_a_bad_one_among_them(collector: CollectorServer) -> None:
    bad_sid = new_id()
    good = [(new_id(), [event(start_time=T0 + i) for i in range(40)]) for _ in range(12)]
    # The last event of the bad batch breaks the strict model: nothing of it may be stored.
    bad = [event() for _ in range(39)] + [event(start_time="soon")]

    def post(item: tuple[str, list[dict[str, Any]]]) -> httpx.Response:
        sid, events = item
        with httpx.Client(base_url=collector.url, timeout=30) as http:
            return http.post(f"/v1/sessions/{sid}/events/batch", json={"events": events})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, [*good[:6], (bad_sid, bad), *good[6:]]))
    assert answers[6].status_code == 400
    assert "events[39].start_time" in answers[6].json()["message"]
    assert all(answer.status_code == 200 for i, answer in enumerate(answers) if i != 6)
    assert stored_count(collector.db_path, bad_sid) == 0
    for sid, events in good:
        assert stored_count(collector.db_path, sid) == len(events)


def test_a_write_that_fails_in_sqlite_is_a_500_and_stores_nothing_of_it(
    collector: CollectorServer,
) -> None:
    sid, other = new_id(), new_id()
    with httpx.Client(base_url=collector.url, timeout=30) as http:
        assert http.post(f"/v1/sessions/{other}/events/batch", json={"events": [event()]})
        with sqlite3.connect(collector.db_path) as conn:  # the store exists now
            conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.event_name = 'boom'"
                " BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
            )
        events = [event(), event(event_name="boom"), event()]
        # Its own connection: after a 500 the server closes the connection it came on.
        with httpx.Client(base_url=collector.url, timeout=30) as once:
            answer = once.post(f"/v1/sessions/{sid}/events/batch", json={"events": events})
        assert answer.status_code == 500, answer.text
        assert answer.json()["success"] is False
        assert stored_count(collector.db_path, sid) == 0
        # The writer goes on: the next batch is stored.
        answer = http.post(f"/v1/sessions/{sid}/events/batch", json={"events": [event()]})
        assert answer.status_code == 200
        assert stored_count(collector.db_path, sid) == 1


def test_prepared_rows_store_what_add_events_stores(tmp_path: Path) -> None:
    sid = new_id()
    events = [
        event(parent_id=None),
        event(event_id=new_id().upper(), parent_id=sid.upper(), outputs={"a": [1, 2.5]}),
        event(event_type="model", config={"model": "m"}, metrics={"total_tokens": 3}),
        event(event_name=None, error="bad", duration=1.5, metadata={"k": "é"}),
        {"event_type": "chain", "inputs": {}},  # no id: one is made up
    ]
    with Store(tmp_path / "a.db") as by_rows, Store(tmp_path / "b.db") as by_events:
        write_rows(by_rows, prepare_rows(sid.upper(), events))
        by_events.add_events(sid.upper(), events)
        trees = [store.session_tree(sid) for store in (by_rows, by_events)]
    assert trees[0] is not None and trees[1] is not None

    def comparable(tree: dict[str, Any]) -> list[dict[str, Any]]:
        children = sorted(tree["children"], key=lambda e: (e["event_name"], str(e["error"])))
        return [{k: v for k, v in e.items() if k not in ("event_id",)} for e in children]

    assert comparable(trees[0]) == comparable(trees[1])
    assert {k: v for k, v in trees[0].items() if k != "children"} == {
        k: v for k, v in trees[1].items() if k != "children"
    }


def test_a_batch_holding_its_session_event_merges_it(tmp_path: Path) -> None:
    sid = new_id()
    events = [event(event_id=sid, event_type="session", event_name="the session"), event()]
    prepared = prepare_rows(sid, events)
    assert prepared.rows is None  # Store.add_events' path, which merges a session create
    with Store(tmp_path / "t.db") as store:
        write_rows(store, prepared)
        session = store.get_event(sid)
        assert session is not None and session["event_name"] == "the session"
        assert stored_count(str(tmp_path / "t.db"), sid) == 1


def test_the_writer_groups_what_queued_and_answers_each_job(tmp_path: Path) -> None:
    groups: list[list[str]] = []
    release, busy = threading.Event(), threading.Event()

    def run_group(jobs: list[Job]) -> None:
        busy.set()
        release.wait(10)  # the first group holds the thread while the others queue up
        groups.append([job.method for job in jobs])  # type: ignore[misc]
        for job in jobs:
            job.future.set_result(job.args)

    writer = Writer(run_group, "test-writer")

    def failing() -> tuple[Any, ...]:
        raise ValueError("bad body")

    jobs = [Job("first", (1,), None)] + [Job(f"w{i}", None, lambda i=i: (i,)) for i in range(3)]
    jobs.insert(2, Job("bad", None, failing))
    results: list[Any] = [None] * len(jobs)

    def submit(index: int) -> None:
        try:
            results[index] = writer.run(jobs[index])
        except ValueError as exc:
            results[index] = exc

    threads = [threading.Thread(target=submit, args=(0,))]
    threads[0].start()
    assert busy.wait(10)  # the writer thread is in the first group
    for index in range(1, len(jobs)):
        thread = threading.Thread(target=submit, args=(index,))
        thread.start()
        threads.append(thread)
    # every later job prepared (the bad one answered at once) and queued behind the first
    assert wait_for(lambda: writer._ready.qsize() == len(jobs) - 2, timeout=10)
    assert jobs[2].future.done()
    release.set()
    for thread in threads:
        thread.join(10)
    writer.stop()
    assert groups == [["first"], ["w0", "w1", "w2"]]  # the bad one answered alone
    assert isinstance(results[2], ValueError)
    assert results[0] == (1,) and results[1] == (0,) and results[4] == (2,)


@pytest.fixture(autouse=True)
def _no_leftover_threads() -> Any:
    yield
    assert not [t for t in threading.enumerate() if t.name.startswith("test-writer")]


def _batch_job(sid: str, count: int, log: list[tuple[str, float]] | None = None) -> Job:
    events = [event() for _ in range(count)]

    def prepare() -> tuple[Any, ...]:
        if log is not None:
            log.append(("prepare-start", time.monotonic()))
        rows = prepare_rows(sid, events)
        if log is not None:
            log.append(("prepare-end", time.monotonic()))
        return (rows,)

    return Job(write_rows, None, prepare)


def _traced_access(db: str, lock: str) -> tuple[StoreAccess, list[str]]:
    """A worker's store access with a write-turn lock file, open, and the SQL its
    connection runs from now on."""
    access = StoreAccess(db, write_lock=lock)
    access.open()
    assert access._store is not None
    statements: list[str] = []
    access._store.connection.set_trace_callback(statements.append)
    return access, statements


def test_jobs_prepared_while_waiting_for_the_write_turn_join_that_transaction(
    tmp_path: Path,
) -> None:
    db, lock = str(tmp_path / "t.db"), str(tmp_path / "t.db.serve-lock")
    access, statements = _traced_access(db, lock)
    writer = access._writer
    sids = [new_id() for _ in range(3)]
    jobs = [_batch_job(sid, 20) for sid in sids]
    holder = os.open(lock, os.O_RDWR | os.O_CREAT)  # another worker's turn to write
    fcntl.flock(holder, fcntl.LOCK_EX)
    with ThreadPoolExecutor(3) as pool:
        try:
            first = pool.submit(writer.run, jobs[0])
            # The first job is prepared and taken by the write thread, which waits for the turn
            assert wait_for(
                lambda: (
                    jobs[0].args is not None and not writer._preparing and writer._ready.empty()
                ),
                timeout=10,
            )
            later = [pool.submit(writer.run, job) for job in jobs[1:]]
            # ... while the others are prepared meanwhile.
            assert wait_for(lambda: writer._ready.qsize() == 2, timeout=10)
            assert not first.done()
        finally:
            fcntl.flock(holder, fcntl.LOCK_UN)
            os.close(holder)
        for future in [first, *later]:
            future.result(10)
    access.close()
    assert [sql for sql in statements if sql.startswith("BEGIN")] == ["BEGIN IMMEDIATE"]
    assert [stored_count(db, sid) for sid in sids] == [20, 20, 20]


def test_no_preparation_runs_while_the_write_thread_holds_the_turn(tmp_path: Path) -> None:
    access = StoreAccess(str(tmp_path / "t.db"), write_lock=str(tmp_path / "lock"))
    access.open()
    assert access._store is not None
    log: list[tuple[str, float]] = []

    def trace(sql: str) -> None:
        if sql.startswith(("BEGIN", "COMMIT")):
            log.append((sql.split(maxsplit=1)[0], time.monotonic()))

    access._store.connection.set_trace_callback(trace)
    jobs = [_batch_job(new_id(), 300, log) for _ in range(12)]
    with ThreadPoolExecutor(6) as pool:
        for future in [pool.submit(access._writer.run, job) for job in jobs]:
            future.result(30)
    access.close()
    writing = False
    for kind, _ in sorted(log, key=lambda item: item[1]):
        if kind == "BEGIN":
            writing = True
        elif kind == "COMMIT":
            writing = False
        else:
            assert not writing, "a request was being validated inside a write transaction"
    assert sum(kind == "BEGIN" for kind, _ in log) < len(jobs)  # and some were grouped


def test_the_turn_is_not_held_while_the_own_preparation_ends(tmp_path: Path) -> None:
    """A worker that gets the write turn while its prepare thread is validating a body lets
    the turn go until that preparation has ended (another worker may write meanwhile), then
    writes both jobs in one transaction."""
    db, lock = str(tmp_path / "t.db"), str(tmp_path / "t.db.serve-lock")
    access, statements = _traced_access(db, lock)
    writer = access._writer
    sids = [new_id(), new_id()]
    first_job = _batch_job(sids[0], 20)
    slow_prepare = threading.Event()
    slow_job = _batch_job(sids[1], 20)
    prepare_rows_of_slow = slow_job.prepare
    assert prepare_rows_of_slow is not None

    def blocked_prepare() -> tuple[Any, ...]:
        slow_prepare.wait(10)
        return prepare_rows_of_slow()

    slow_job.prepare = blocked_prepare
    holder = os.open(lock, os.O_RDWR | os.O_CREAT)  # another worker's turn to write
    fcntl.flock(holder, fcntl.LOCK_EX)
    held = True
    with ThreadPoolExecutor(2) as pool:
        try:
            first = pool.submit(writer.run, first_job)
            assert wait_for(
                lambda: (
                    first_job.args is not None and not writer._preparing and writer._ready.empty()
                ),
                timeout=10,
            )  # the write thread took the first job and waits for the turn
            slow = pool.submit(writer.run, slow_job)
            assert wait_for(lambda: writer._preparing, timeout=10)
            fcntl.flock(holder, fcntl.LOCK_UN)
            held = False
            # The write thread gets the turn, finds its preparation in progress, lets it go:
            assert wait_for(lambda: getattr(writer, "turns_given_back", 0) == 1, timeout=5)
            fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free for another worker
            held = True
            slow_prepare.set()
            assert wait_for(lambda: slow_job.args is not None, timeout=10)
            assert not first.done()  # waiting for the turn again
        finally:
            slow_prepare.set()
            if held:
                fcntl.flock(holder, fcntl.LOCK_UN)
            os.close(holder)
        first.result(10)
        slow.result(10)
    access.close()
    assert [sql for sql in statements if sql.startswith("BEGIN")] == ["BEGIN IMMEDIATE"]
    assert [stored_count(db, sid) for sid in sids] == [20, 20]
