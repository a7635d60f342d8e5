"""Grouped writes: ``Store.transaction`` (one commit for many calls, each call still all or
nothing), the Local exporter's ``transaction``, and the collector's group commit of
concurrent requests (``StoreAccess``)."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from honeytrace.local.collector._http import StoreAccess, _Write
from honeytrace.local.exporter import LocalExporter
from honeytrace.local.store import Store

T0 = 1_700_000_000_000


def new_id() -> str:
    return str(uuid.uuid4())


def event(**fields: Any) -> dict[str, Any]:
    return {
        "event_id": new_id(),
        "event_type": "tool",
        "event_name": "e",
        "start_time": T0,
        **fields,
    }


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "traces.db")


def count(path: str) -> int:
    """Rows another connection sees: only what is committed."""
    with sqlite3.connect(path) as other:
        return int(other.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def test_a_transaction_commits_every_call_at_its_end(path: str) -> None:
    with Store(path) as store:
        sid = new_id()
        with store.transaction():
            store.create_session({"session_id": sid, "session_name": "chat", "start_time": T0})
            store.add_events(sid, [event(), event()])
            assert count(path) == 0  # nothing committed yet: one commit for the whole block
            tree = store.session_tree(sid)  # the block's own writes are read back inside it
            assert tree is not None and len(tree["children"]) == 2
        assert count(path) == 3


def test_a_failing_call_inside_a_transaction_keeps_the_others(path: str) -> None:
    with Store(path) as store:
        sid = new_id()
        kept = event()
        with store.transaction():
            store.add_events(sid, [kept])
            with pytest.raises(KeyError):
                store.update_event(new_id(), {"metadata": {"a": 1}})
            with pytest.raises(sqlite3.Error):
                # A failure in the middle of a call (a bad statement after its first writes):
                # that call's writes are undone, not the block's.
                with store._write() as conn:
                    conn.execute(
                        "INSERT INTO events (event_id, session_id, event_type)"
                        " VALUES ('x', 'x', 'session')"
                    )
                    conn.execute("INSERT INTO nowhere VALUES (1)")
            store.update_event(kept["event_id"], {"metadata": {"b": 2}})
        assert store.get_event("x") is None
        stored = store.get_event(kept["event_id"])
        assert stored is not None and stored["metadata"] == {"b": 2}
        assert count(path) == 2  # the placeholder session and the event


def test_a_transaction_that_raises_stores_nothing_and_is_not_reentrant(path: str) -> None:
    with Store(path) as store:
        with pytest.raises(RuntimeError, match="boom"), store.transaction():
            store.add_events(new_id(), [event()])
            raise RuntimeError("boom")
        assert count(path) == 0
        with store.transaction(), pytest.raises(RuntimeError, match="already open"):
            with store.transaction():
                pass
        store.add_events(new_id(), [event()])  # plain writes commit on their own again
        assert count(path) == 2


def test_the_local_exporter_groups_calls_in_one_commit(path: str) -> None:
    exporter = LocalExporter(path, announce=False)
    try:
        sid = new_id()
        with exporter.transaction():
            exporter.create_session({"session_id": sid, "session_name": "s", "start_time": T0})
            exporter.send_events(sid, [event(parent_id=sid)])
            exporter.update_event(sid, {"end_time": T0 + 5})
            assert count(path) == 0
        assert count(path) == 2
        with Store(path) as store:
            stored = store.get_event(sid)
        assert stored is not None and stored["end_time"] == T0 + 5
    finally:
        exporter.close()


@pytest.fixture
def access(path: str) -> Iterator[StoreAccess]:
    opened = StoreAccess(path)
    opened.open()
    yield opened
    opened.close()


def test_the_collector_commits_queued_writes_together(access: StoreAccess, path: str) -> None:
    sid = new_id()
    good = _Write("add_events", (sid, [event()]))
    bad = _Write("update_event", (new_id(), {"metadata": {}}))
    after = _Write("add_events", (sid, [event()]))
    access._run_batch([good, bad, after])
    assert all(write.done for write in (good, bad, after))
    assert isinstance(bad.error, KeyError)  # answered 404 to its own request only
    assert good.error is None and after.error is None and len(after.result) == 1
    assert count(path) == 3


def test_concurrent_collector_writes_each_return_once_committed(
    access: StoreAccess, path: str
) -> None:
    sid = new_id()
    results: list[Any] = []
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            ids = access._call_prepared("add_events", lambda: (sid, [event() for _ in range(n)]))
            results.append(ids)
            # Answered means committed: another connection sees this request's events now.
            with sqlite3.connect(path) as other:
                marks = ",".join("?" * len(ids))
                seen = other.execute(
                    f"SELECT COUNT(*) FROM events WHERE event_id IN ({marks})", ids
                ).fetchone()[0]
            assert seen == len(ids)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(1, 17)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sorted(len(ids) for ids in results) == list(range(1, 17))
    assert count(path) == sum(range(1, 17)) + 1


def test_put_session_stores_what_create_session_stores(path: str) -> None:
    with Store(path) as store:
        sid = new_id().upper()
        body = {"session_id": sid, "session_name": "chat", "start_time": T0, "inputs": {"q": 1}}
        assert store.put_session(body) == sid.lower()
        other = store.create_session({**body, "session_id": new_id()})
        put = store.get_event(sid)
        assert put is not None
        skip = {"event_id", "session_id"}
        assert {k: v for k, v in put.items() if k not in skip} == {
            k: v for k, v in other.items() if k not in skip
        }
        assert put["event_name"] == "chat" and put["inputs"] == {"q": 1}


def test_column_json_is_what_the_json_module_reads_back() -> None:
    from honeytrace.local.rows import dumps

    class Opaque:
        def __str__(self) -> str:
            return "opaque!"

    plain = {"q": 'é " \n', "k": [1, 2.5, 1e16, -0.0, True, None], "n": {"deep": {}}, "7": 1}
    assert json.loads(dumps(plain)) == plain
    assert dumps({"a": float("nan"), "b": [float("inf")]}) == '{"a":null,"b":[null]}'
    assert json.loads(dumps({"o": Opaque(), 3: (1, 2)})) == {"o": "opaque!", "3": [1, 2]}
    assert json.loads(dumps("\ud800 lone surrogate")) == "\ud800 lone surrogate"


def test_a_search_gives_the_planner_statistics_of_a_grown_store(path: str) -> None:
    with Store(path) as store:
        for _ in range(11):  # past the 10,000 events from which statistics are kept
            sid = new_id()
            store.add_events(
                sid,
                [
                    event(event_type=("model", "tool", "chain")[i % 3], start_time=T0 + i)
                    for i in range(1000)
                ],
            )
        found, total = store.search(
            [{"field": "event_type", "operator": "is", "value": "model"}], None, 5
        )
        assert total == 11 * 334 and len(found) == 5
        assert [e["start_time"] for e in found] == sorted(
            (e["start_time"] for e in found), reverse=True
        )
        conn = store.connection
        stats = dict(conn.execute("SELECT idx, stat FROM sqlite_stat1").fetchall())
        assert int(stats["events_types"].split()[0]) >= 11_000


def test_the_store_connection_settings(path: str) -> None:
    with Store(path) as store:
        conn = store.connection
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA cache_size").fetchone()[0] == -16 * 1024
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 16_000
