"""Sessions that ended before their first delivery go whole, many to a request
(``POST /v1/events/batch``), and a long session's record stays small (issue #16, goals 1 and 5):
against the strict fake API and against ``honeytrace serve``'s app."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import honeytrace
from honeytrace._deliver.session_state import SESSION_CHILDREN
from tests.support.collector_server import (
    CollectorServer,
    collector_fixture,
    collector_server,  # noqa: F401 -- registers the module-scoped server fixture
)
from tests.support.fake_api import FakeApi, fake_api_fixture

fake_api = fake_api_fixture
collector = collector_fixture


@honeytrace.trace_tool
def tool(i: int) -> int:
    return i


@honeytrace.trace_chain
def chain(n: int) -> int:
    return sum(tool(i) for i in range(n))


def point_at(url: str, **options: Any) -> None:
    honeytrace.configure(api_key="test-key", server_url=url, retry_deadline=20.0, **options)


def test_sessions_split_over_batches_keep_their_order(fake_api: FakeApi) -> None:
    point_at(fake_api.url, batch_size=5)
    ids = []
    for n in range(6):
        with honeytrace.session(f"s{n}", inputs={"n": n}) as s:
            chain(10)  # 11 events and the session: each spans batches
        ids.append(s.session_id)
    assert honeytrace.flush(20)
    assert {r.route for r in fake_api.requests} == {"events"}
    assert all(len(r.json["events"]) <= 5 for r in fake_api.requests)
    for n, session_id in enumerate(ids):
        session = fake_api.sessions[session_id]
        assert session["event_name"] == f"s{n}" and session["inputs"] == {"n": n}
        assert len(fake_api.events_for(session_id)) == 11
    # The fake records an event that arrives before its session's record: none did.
    assert fake_api.violations == []
    assert honeytrace.stats().sent == 6 * 12


def test_an_open_session_keeps_the_create_path_and_its_end_is_small(fake_api: FakeApi) -> None:
    point_at(fake_api.url)
    events = SESSION_CHILDREN + 500
    with honeytrace.session("long") as s:
        for i in range(events):
            tool(i)
            if i == 10:
                assert honeytrace.flush(10)  # created while open: create, batches, end
    assert honeytrace.flush(20)
    routes = [r.route for r in fake_api.requests]
    assert routes[0] == "sessions" and routes[-1] == "update"
    end = fake_api.requests[-1]
    # Past SESSION_CHILDREN children the end lists none (children_ids is optional; each
    # event names its parent): the request stays a few hundred bytes whatever the length.
    assert "children_ids" not in end.json
    assert len(end.body) < 1024
    session = fake_api.sessions[s.session_id]
    assert session["end_time"] is not None
    assert len(fake_api.events_for(s.session_id)) == events
    assert all(e["parent_id"] == s.session_id for e in fake_api.events_for(s.session_id))
    assert fake_api.violations == []


def test_a_short_session_lists_all_its_children(fake_api: FakeApi) -> None:
    point_at(fake_api.url)
    with honeytrace.session("short") as s:
        for i in range(3):
            tool(i)
    assert honeytrace.flush(10)
    head = fake_api.requests[0].json["events"][0]
    children = [e["event_id"] for e in fake_api.events_for(s.session_id)]
    assert head["event_id"] == s.session_id and head["children_ids"] == children


def test_events_lost_after_the_session_event_are_marked_on_its_record(
    fake_api: FakeApi,
) -> None:
    def redact(event: dict[str, Any]) -> dict[str, Any]:
        if event.get("inputs", {}).get("i") == 2:
            raise ValueError("not this one")
        return event

    point_at(fake_api.url, redact=redact)
    with honeytrace.session("marked") as s:
        for i in range(4):
            tool(i)
    assert not honeytrace.flush(10)  # one event was dropped: not everything arrived
    assert [r.route for r in fake_api.requests] == ["events", "update"]
    session = fake_api.sessions[s.session_id]
    assert session["metadata"]["honeytrace"] == {"dropped_events": {"redact_error": 1}}
    assert len(fake_api.events_for(s.session_id)) == 3
    assert fake_api.violations == []


def test_honeytrace_serve_shows_sessions_sent_whole(collector: CollectorServer) -> None:
    point_at(collector.url)
    ids = []
    for n in range(3):
        with honeytrace.session("served", inputs={"n": n}, metadata={"team": "a"}) as s:
            chain(2)
            s.set_outputs({"answer": n})
        ids.append(s.session_id)
    assert honeytrace.flush(10)
    assert honeytrace.stats().dropped == {}
    for n, session_id in enumerate(ids):
        tree = httpx.get(f"{collector.url}/v1/sessions/{session_id}", timeout=10).json()
        assert tree["event_type"] == "session" and tree["event_name"] == "served"
        assert tree["inputs"] == {"n": n} and tree["outputs"] == {"answer": n}
        assert tree["metadata"]["team"] == "a"
        assert isinstance(tree["start_time"], int) and tree["end_time"] >= tree["start_time"]
        (top,) = tree["children"]
        assert top["event_name"] == "chain"
        assert [c["event_name"] for c in top["children"]] == ["tool", "tool"]


def test_fan_out_takes_items_from_a_generator_and_raises_its_error() -> None:
    import threading

    from honeytrace._deliver.threads import fan_out

    done: list[int] = []
    lock = threading.Lock()

    def made() -> Any:
        yield from range(1, 9)
        raise RuntimeError("the eighth was the last")

    def work(item: int) -> None:
        with lock:
            done.append(item)

    with pytest.raises(RuntimeError, match="last"):
        fan_out(made(), work, 4, count=9)
    assert sorted(done) == list(range(1, 9))


def test_a_spooled_request_of_whole_sessions_counts_as_their_create(tmp_path: Any) -> None:
    # Dropped from the spool (expired, refused), it takes the later requests of its first
    # session with it, as a dropped POST /v1/sessions does, and its refusals count as a
    # create's when a bad key is being told from a passing refusal.
    from honeytrace._deliver.spool import Spool

    spool = Spool(tmp_path, 1 << 20)
    assert spool.put("POST", "/v1/events/batch", b'{"events":[]}', 2, "s")
    assert spool.put("POST", "/v1/sessions/s/events/batch", b'{"events":[]}', 1, "s")
    whole, batch = spool.replayable()
    assert whole.is_create and not batch.is_create
