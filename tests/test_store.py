"""The embedded SQLite store: API semantics (idempotency, merges, defaults), the session tree,
search, the session list, and several processes writing one file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from honeytrace.local.store import Store, StoreBusyError

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
T0 = 1_700_000_000_000


def new_id() -> str:
    return str(uuid.uuid4())


def event(**fields: Any) -> dict[str, Any]:
    return {"event_id": new_id(), "event_type": "tool", "event_name": "e", "inputs": {}, **fields}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "deep" / "dir" / "traces.db") as opened:
        yield opened


def session(store: Store, **fields: Any) -> str:
    body = {"session_id": new_id(), "session_name": "chat", "start_time": T0, **fields}
    return str(store.create_session(body)["session_id"])


# -- file and schema ----------------------------------------------------------------------


def test_creates_parent_directories_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "traces.db"
    Store(path).close()
    assert path.is_file()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(events)")}
    assert {"events_session", "events_parent", "events_start"} <= indexes


def test_reopening_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    with Store(path) as first:
        sid = session(first)
    with Store(path) as second:
        assert second.get_event(sid) is not None


# -- sessions -----------------------------------------------------------------------------


def test_create_session_defaults(store: Store) -> None:
    stored = store.create_session({"session_id": "not-a-uuid", "start_time": T0})
    assert stored["session_id"] != "not-a-uuid"
    assert uuid.UUID(stored["session_id"]).version == 4
    assert stored["event_id"] == stored["session_id"]
    assert stored["event_type"] == "session"
    assert stored["event_name"] == "unknown"
    assert stored["source"] == "unknown"
    assert stored["parent_id"] is None
    assert stored["start_time"] == T0 and isinstance(stored["start_time"], int)


def test_create_session_without_id_or_time_gets_fresh_ones(store: Store) -> None:
    first = store.create_session({})
    second = store.create_session({})
    assert first["session_id"] != second["session_id"]
    assert isinstance(first["start_time"], int) and first["start_time"] > T0


def test_session_name_wins_over_event_name(store: Store) -> None:
    named = store.create_session({"session_name": "chat", "event_name": "other"})
    fallback = store.create_session({"event_name": "other"})
    assert named["event_name"] == "chat"
    assert fallback["event_name"] == "other"


def test_second_create_merges_and_fills(store: Store) -> None:
    sid = session(store, metadata={"a": 1, "keep": "x"}, user_properties={"u": 1}, source="dev")
    again = store.create_session(
        {
            "session_id": sid,
            "session_name": "renamed",
            "metadata": {"a": 2, "b": 3},
            "user_properties": {"v": 2},
            "end_time": T0 + 100,
            "duration": 100.5,
            "outputs": {"answer": 42},
        }
    )
    assert again["metadata"] == {"a": 2, "keep": "x", "b": 3}
    assert again["user_properties"] == {"u": 1, "v": 2}
    assert again["end_time"] == T0 + 100 and again["duration"] == 100.5
    assert again["outputs"] == {"answer": 42}
    assert again["event_name"] == "chat"  # a repeated create does not rename
    assert again["source"] == "dev"
    assert again["start_time"] == T0
    assert store.list_sessions() and len(store.list_sessions()) == 1


def test_events_before_their_session_make_a_placeholder_the_create_fills(store: Store) -> None:
    sid = new_id()
    store.add_events(sid, [event(start_time=T0 + 5)])
    placeholder = store.get_event(sid)
    assert placeholder is not None and placeholder["event_name"] == "unknown"
    store.update_event(sid, {"metadata": {"from_update": True}})
    store.create_session(
        {"session_id": sid, "session_name": "late", "source": "sdk", "start_time": T0,
         "inputs": {"q": 1}, "metadata": {"m": 1}}
    )  # fmt: skip
    stored = store.get_event(sid)
    assert stored is not None
    assert stored["event_name"] == "late" and stored["source"] == "sdk"
    assert stored["start_time"] == T0 and stored["inputs"] == {"q": 1}
    assert stored["metadata"] == {"from_update": True, "m": 1}


# -- events -------------------------------------------------------------------------------


def test_add_events_defaults_and_session_override(store: Store) -> None:
    sid = session(store)
    other = new_id()
    ids = store.add_events(
        sid,
        [
            {"event_type": "chain", "inputs": {"x": 1}, "session_id": other},
            {"event_type": "model", "inputs": {}, "event_id": "custom-id", "parent_id": "p"},
        ],
    )
    assert len(ids) == 2 and ids[1] == "custom-id"
    first = store.get_event(ids[0])
    assert first is not None
    assert uuid.UUID(first["event_id"]).version == 4
    assert first["session_id"] == sid  # the argument wins over the body
    assert first["parent_id"] == sid  # top level: the session is the parent
    assert first["event_name"] == "unknown" and first["source"] == "unknown"
    second = store.get_event("custom-id")
    assert second is not None and second["parent_id"] == "p"
    assert store.get_event(other) is None


def test_a_retried_batch_does_not_duplicate_nor_undo_updates(store: Store) -> None:
    sid = session(store)
    batch = [event(start_time=T0 + i, metadata={"n": i}) for i in range(3)]
    assert store.add_events(sid, batch) == [e["event_id"] for e in batch]
    store.update_event(batch[0]["event_id"], {"metadata": {"updated": True}})
    store.add_events(sid, batch)  # the retry of a batch whose answer was lost
    _, count = store.search([{"field": "event_type", "operator": "is", "value": "tool"}])
    assert count == 3
    first = store.get_event(batch[0]["event_id"])
    assert first is not None and first["metadata"] == {"n": 0, "updated": True}


def test_add_event_without_session_starts_one(store: Store) -> None:
    event_id = store.add_event({"event_type": "chain", "inputs": {}, "start_time": T0})
    stored = store.get_event(event_id)
    assert stored is not None
    tree = store.session_tree(stored["session_id"])
    assert tree is not None and [c["event_id"] for c in tree["children"]] == [event_id]
    assert stored["session_id"] in [s["session_id"] for s in store.list_sessions()]


def test_a_session_event_in_a_batch_merges_into_the_session(store: Store) -> None:
    sid = session(store, metadata={"a": 1})
    store.add_events(
        sid, [{"event_id": sid, "event_type": "session", "inputs": {}, "metadata": {"b": 2}}]
    )
    stored = store.get_event(sid)
    assert stored is not None and stored["metadata"] == {"a": 1, "b": 2}
    assert stored["event_type"] == "session"
    assert store.list_sessions()[0]["events"] == 0


def test_times_are_stored_as_given(store: Store) -> None:
    sid = session(store)
    [eid] = store.add_events(sid, [event(start_time=T0, end_time=T0 + 2, duration=1.25)])
    stored = store.get_event(eid)
    assert stored is not None
    assert stored["start_time"] == T0 and type(stored["start_time"]) is int
    assert stored["duration"] == 1.25 and type(stored["duration"]) is float


def test_non_finite_numbers_become_null(store: Store) -> None:
    sid = session(store)
    [eid] = store.add_events(sid, [event(metrics={"score": float("nan"), "ok": 1})])
    stored = store.get_event(eid)
    assert stored is not None and stored["metrics"] == {"score": None, "ok": 1}


# -- updates ------------------------------------------------------------------------------


def test_update_merges_replaces_and_keeps(store: Store) -> None:
    sid = session(store)
    [eid] = store.add_events(
        sid,
        [event(metadata={"a": 1}, metrics={"m": 1}, feedback={"f": 1}, config={"c": 1},
               user_properties={"u": 1}, outputs={"old": True}, children_ids=["x"])],
    )  # fmt: skip
    store.update_event(
        eid,
        {"metadata": {"b": 2}, "metrics": {"m": 2}, "feedback": {"g": 2}, "config": {"d": 2},
         "user_properties": {"v": 2}, "outputs": None, "duration": 7.5, "end_time": T0 + 9,
         "children_ids": [], "inputs": {"ignored": True}, "error": "ignored", "junk": 1},
    )  # fmt: skip
    stored = store.get_event(eid)
    assert stored is not None
    assert stored["metadata"] == {"a": 1, "b": 2}
    assert stored["metrics"] == {"m": 2}
    assert stored["feedback"] == {"f": 1, "g": 2}
    assert stored["config"] == {"c": 1, "d": 2}
    assert stored["user_properties"] == {"u": 1, "v": 2}
    assert stored["outputs"] == {"old": True}  # null keeps
    assert stored["children_ids"] == ["x"]  # an empty list is ignored
    assert stored["duration"] == 7.5 and stored["end_time"] == T0 + 9
    assert stored["inputs"] == {} and stored["error"] is None  # not part of an update
    store.update_event(eid, {"outputs": {"new": 1}, "children_ids": ["y", "z"]})
    stored = store.get_event(eid)
    assert stored is not None
    assert stored["outputs"] == {"new": 1} and stored["children_ids"] == ["y", "z"]


def test_update_of_an_unknown_event_raises_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        store.update_event(new_id(), {"metadata": {"a": 1}})
    assert store.list_sessions() == []  # nothing was made up for it


def test_an_update_with_nothing_to_merge_is_one_statement(store: Store) -> None:
    """An update that only sets fields (a session's end, most often) needs no read of the
    row first: one statement, atomic by itself; one that merges reads the row in a
    transaction. Both raise KeyError for an unknown event and change nothing then."""
    session_id = store.create_session({"session_name": "one", "metadata": {"a": 1}})["event_id"]
    seen: list[str] = []
    store.connection.set_trace_callback(lambda sql: seen.append(sql.split(None, 1)[0]))
    store.update_event(session_id, {"end_time": T0 + 9, "outputs": {"x": 1}, "children_ids": []})
    assert seen == ["UPDATE"]
    with pytest.raises(KeyError):
        store.update_event(str(uuid.uuid4()), {"end_time": T0 + 9})
    seen.clear()
    store.update_event(session_id, {"metadata": {"b": 2}, "duration": 4.5})
    assert seen == ["BEGIN", "SELECT", "UPDATE", "COMMIT"]
    stored = store.get_event(session_id)
    assert stored is not None and stored["end_time"] == T0 + 9 and stored["duration"] == 4.5
    assert stored["outputs"] == {"x": 1} and stored["metadata"] == {"a": 1, "b": 2}
    assert stored["children_ids"] == []


def test_session_end_update(store: Store) -> None:
    sid = session(store)
    store.update_event(sid, {"end_time": T0 + 50, "duration": 50, "outputs": {"r": 1}})
    [listed] = store.list_sessions()
    assert listed["duration"] == 50 and listed["end_time"] == T0 + 50


# -- the session tree ---------------------------------------------------------------------


def test_session_tree_nests_orders_and_totals(store: Store) -> None:
    sid = session(store, duration=1000)
    chain = event(event_type="chain", start_time=T0 + 10, event_name="chain")
    late = event(start_time=T0 + 30, event_name="late", parent_id=chain["event_id"])
    early = event(
        event_type="model",
        start_time=T0 + 20,
        event_name="early",
        parent_id=chain["event_id"],
        metadata={"prompt_tokens": 3, "completion_tokens": 4, "cost": 0.5},
    )
    failing = event(
        event_type="model",
        start_time=T0 + 40,
        event_name="failing",
        error="ValueError: boom",
        metrics={"input_tokens": 10, "output_tokens": 1, "total_tokens": 11},
    )
    orphan = event(start_time=T0 + 5, event_name="orphan", parent_id=new_id())
    store.add_events(sid, [late, chain, failing])
    store.add_events(sid, [early, orphan])
    tree = store.session_tree(sid)
    assert tree is not None and tree["event_id"] == sid
    assert [c["event_name"] for c in tree["children"]] == ["orphan", "chain", "failing"]
    assert [c["event_name"] for c in tree["children"][1]["children"]] == ["early", "late"]
    assert tree["totals"] == {
        "events": 5,
        "errors": 1,
        "duration": 1000,
        "tokens": {"prompt_tokens": 13, "completion_tokens": 5, "total_tokens": 18},
        "cost": 0.5,
        "unpriced": 0,
    }


def test_tree_totals_do_not_count_a_parents_sum_twice(store: Store) -> None:
    sid = session(store)
    chain = event(event_type="chain", metadata={"total_tokens": 10})
    child = event(parent_id=chain["event_id"], metadata={"total_tokens": 10})
    store.add_events(sid, [chain, child])
    tree = store.session_tree(sid)
    assert tree is not None and tree["totals"]["tokens"]["total_tokens"] == 10


def test_tree_duration_falls_back_to_the_span_of_events(store: Store) -> None:
    sid = session(store)
    store.add_events(sid, [event(start_time=T0 + 10, end_time=T0 + 30)])
    tree = store.session_tree(sid)
    assert tree is not None
    assert tree["totals"]["duration"] == 30 and tree["totals"]["tokens"] is None


def test_tree_survives_a_parent_cycle(store: Store) -> None:
    sid = session(store)
    a, b = new_id(), new_id()
    store.add_events(sid, [event(event_id=a, parent_id=b), event(event_id=b, parent_id=a)])
    tree = store.session_tree(sid)
    assert tree is not None
    seen: list[str] = []
    stack = list(tree["children"])
    while stack:
        node = stack.pop()
        seen.append(node["event_id"])
        stack.extend(node["children"])
    assert sorted(seen) == sorted([a, b])


def test_tree_of_an_unknown_session_is_none(store: Store) -> None:
    assert store.session_tree(new_id()) is None


# -- search -------------------------------------------------------------------------------


@pytest.fixture
def searchable(store: Store) -> Store:
    sid = session(store, start_time=T0 - 1000)
    store.add_events(
        sid,
        [
            event(event_name="alpha", start_time=T0 + 1, duration=5,
                  metadata={"user": "Bob", "score": 0.9, "flag": True}, config={"model": "gpt-4o"}),
            event(event_name="beta", start_time=T0 + 2, duration=50, error="Boom",
                  metadata={"user": "alice", "score": 0.2, "flag": False, "gone": None}),
            event(event_name="gamma", start_time=T0 + 3, event_type="model",
                  metadata={"score": "high"}, config={"model": "claude"}),
        ],
    )  # fmt: skip
    return store


def names(store: Store, *filters: dict[str, Any], **kwargs: Any) -> list[str]:
    events, _ = store.search(list(filters), **kwargs)
    return [e["event_name"] for e in events]


@pytest.mark.parametrize(
    ("search_filter", "expected"),
    [
        ({"field": "metadata.user", "operator": "exists", "value": None}, ["beta", "alpha"]),
        ({"field": "metadata.gone", "operator": "exists", "value": None}, ["beta"]),
        ({"field": "metadata.user", "operator": "not exists", "value": None}, ["gamma", "chat"]),
        ({"field": "error", "operator": "exists", "value": None}, ["beta"]),
        ({"field": "config", "operator": "exists", "value": None}, ["gamma", "alpha"]),
        ({"field": "metadata.user", "operator": "is", "value": "Bob"}, ["alpha"]),
        ({"field": "config.model", "operator": "is not", "value": "claude"},
         ["beta", "alpha", "chat"]),
        ({"field": "event_type", "operator": "is", "value": "model"}, ["gamma"]),
        ({"field": "metadata.flag", "operator": "is", "value": True}, ["alpha"]),
        ({"field": "metadata.flag", "operator": "is", "value": "false", "type": "boolean"},
         ["beta"]),
        ({"field": "metadata.user", "operator": "contains", "value": "LIC"}, ["beta"]),
        ({"field": "metadata.user", "operator": "not contains", "value": "o"},
         ["gamma", "beta", "chat"]),
        ({"field": "metadata", "operator": "contains", "value": "gone"}, ["beta"]),
        ({"field": "metadata.score", "operator": "greater than", "value": 0.5}, ["alpha"]),
        ({"field": "metadata.score", "operator": "less than", "value": "0.5", "type": "number"},
         ["beta"]),
        ({"field": "duration", "operator": "greater than", "value": "10"}, ["beta"]),
        ({"field": "event_name", "operator": "greater than", "value": "b"},
         ["gamma", "beta", "chat"]),
        ({"field": "start_time", "operator": "after", "value": T0 + 1}, ["gamma", "beta"]),
        ({"field": "start_time", "operator": "before", "value": "2023-11-14T22:13:20.002Z"},
         ["alpha", "chat"]),
        ({"field": "start_time", "operator": "after", "value": "2023-11-14T22:13:20.0015+00:00",
          "type": "datetime"}, ["gamma", "beta"]),
    ],
)  # fmt: skip
def test_search_operators(
    searchable: Store, search_filter: dict[str, Any], expected: list[str]
) -> None:
    assert names(searchable, search_filter) == expected


def test_search_filters_combine_with_and(searchable: Store) -> None:
    assert names(
        searchable,
        {"field": "event_type", "operator": "is", "value": "tool"},
        {"field": "metadata.score", "operator": "less than", "value": 1},
    ) == ["beta", "alpha"]


def test_search_pages_newest_first_with_the_total_count(store: Store) -> None:
    sid = session(store, start_time=T0 - 1)
    store.add_events(sid, [event(event_name=f"e{i}", start_time=T0 + i) for i in range(7)])
    tool = {"field": "event_type", "operator": "is", "value": "tool"}
    pages = [store.search([tool], limit=3, page=page) for page in (1, 2, 3, 4)]
    assert [[e["event_name"] for e in events] for events, _ in pages] == [
        ["e6", "e5", "e4"],
        ["e3", "e2", "e1"],
        ["e0"],
        [],
    ]
    assert {count for _, count in pages} == {7}


def test_search_date_range_is_inclusive(searchable: Store) -> None:
    window = {"start_time": "2023-11-14T22:13:20.001Z", "end_time": "2023-11-14T22:13:20.002Z"}
    assert names(searchable, date_range=window) == ["beta", "alpha"]


@pytest.mark.parametrize(
    ("search_filter", "date_range", "message"),
    [
        ({"field": "nope", "operator": "is", "value": 1}, None, "unknown field"),
        ({"field": "event_name.x", "operator": "is", "value": 1}, None, "dotted"),
        ({"field": "metadata.a", "operator": "like", "value": 1}, None, "operator"),
        ({"field": "duration", "operator": "greater than", "value": "x", "type": "number"},
         None, "duration"),
        ({"field": "start_time", "operator": "after", "value": "x", "type": "datetime"},
         None, "ISO"),
        (None, {"start_time": "yesterday", "end_time": "2024-01-01T00:00:00Z"},
         "dateRange.start_time"),
    ],
)  # fmt: skip
def test_search_rejects_bad_filters_by_name(
    store: Store, search_filter: dict[str, Any] | None, date_range: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        store.search([search_filter] if search_filter else [], date_range)


def test_search_values_are_parameters_not_sql(searchable: Store) -> None:
    hostile = "x' OR 1=1 --"
    assert names(searchable, {"field": "event_name", "operator": "is", "value": hostile}) == []
    path = {"field": "metadata.a'b", "operator": "exists", "value": None}
    assert names(searchable, path) == []


# -- session list -------------------------------------------------------------------------


def test_list_sessions_latest_and_prefix(store: Store) -> None:
    old = session(store, session_name="old", start_time=T0, end_time=T0 + 2500)
    new = session(store, session_name="new", start_time=T0 + 10)
    store.add_events(new, [event(), event(error="E: x"), event()])
    listed = store.list_sessions()
    assert [(s["name"], s["events"], s["errors"]) for s in listed] == [("new", 3, 1), ("old", 0, 0)]
    assert listed[1]["duration"] == 2500  # end minus start when no duration was given
    assert listed[0]["duration"] is None
    assert [s["name"] for s in store.list_sessions(1)] == ["new"]
    assert store.latest_session_id() == new
    assert store.find_session_ids(old[:8].upper()) == [old]
    assert store.find_session_ids("zzzz") == []


def test_latest_of_an_empty_store_is_none(store: Store) -> None:
    assert store.latest_session_id() is None and store.list_sessions() == []


# -- concurrency --------------------------------------------------------------------------

WRITER = """
import sys, uuid
from honeytrace.local.store import Store, StoreBusyError

path, worker, batches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def retry(call, *args):
    while True:  # what the Local exporter's caller does with StoreBusyError
        try:
            return call(*args)
        except StoreBusyError:
            pass

store = retry(Store, path)
for b in range(batches):
    sid = str(uuid.UUID(int=worker * 1_000_000 + b))
    retry(store.create_session, {"session_id": sid, "session_name": f"w{worker}"})
    events = [
        {"event_id": f"{worker}-{b}-{i}", "event_type": "tool", "inputs": {"i": i}}
        for i in range(5)
    ]
    retry(store.add_events, sid, events)
    retry(store.update_event, f"{worker}-{b}-0", {"metadata": {"done": True}})
store.close()
print("ok")
"""


@pytest.mark.slow
def test_several_processes_write_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "shared" / "traces.db")
    workers, batches = 4, 40
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WRITER), path, str(w), str(batches)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "ok"
    with Store(path) as store:
        _, count = store.search([{"field": "event_type", "operator": "is", "value": "tool"}])
        assert count == workers * batches * 5
        assert len(store.list_sessions(10_000)) == workers * batches
        _, done = store.search([{"field": "metadata.done", "operator": "is", "value": True}])
        assert done == workers * batches


def test_two_threads_with_their_own_stores(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            with Store(path) as own:
                sid = session(own)
                for b in range(20):
                    own.add_events(sid, [event(event_name=f"{worker}-{b}")])
        except BaseException as exc:  # reported below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with Store(path) as store:
        assert store.search([{"field": "event_type", "operator": "is", "value": "tool"}])[1] == 40


def test_a_lock_held_past_the_busy_timeout_raises_store_busy(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    with Store(path) as writer, Store(path, busy_timeout=0.05) as blocked:
        sid = session(writer)
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process's long write
        try:
            with pytest.raises(StoreBusyError):
                blocked.add_events(sid, [event()])
            assert blocked.get_event(sid) is not None  # WAL: readers are not blocked
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        blocked.add_events(sid, [event()])  # free again: the same Store works
        assert blocked.list_sessions()[0]["events"] == 1
