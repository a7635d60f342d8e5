"""End to end over real HTTP: the flusher against a strict fake of the HoneyHive API."""

from __future__ import annotations

import logging

import pytest

import honeytrace
from tests.support.fake_api import FakeApi, fake_api_fixture

fake_api = fake_api_fixture


@honeytrace.trace_tool
def tool(i: int, payload: str = "") -> int:
    return i


@honeytrace.trace_chain
def chain(n: int) -> int:
    return sum(tool(i) for i in range(n))


def point_at(api: FakeApi, **options: object) -> None:
    honeytrace.configure(api_key="test-key", server_url=api.url, retry_deadline=20.0, **options)


def test_session_create_then_batches_then_end(fake_api: FakeApi) -> None:
    point_at(fake_api)
    with honeytrace.session("order", inputs={"q": "x"}, metadata={"m": 1}) as s:
        chain(3)
        assert honeytrace.flush(10)  # the session is created, its events sent, it is still open
        tool(99)
    assert honeytrace.flush(10)
    routes = [r.route for r in fake_api.requests]
    assert routes == ["sessions", "batch", "batch", "update"]
    create = fake_api.requests[0].json
    assert create["session_id"] == s.session_id
    assert create["session_name"] == "order"
    assert create["inputs"] == {"q": "x"}
    assert "end_time" not in create
    assert isinstance(create["start_time"], int)
    end = fake_api.requests[-1]
    assert end.path == f"/v1/events/{s.session_id}"
    assert isinstance(end.json["end_time"], int)
    assert end.json["duration"] >= 0
    assert len(end.json["children_ids"]) == 2
    assert len(fake_api.events_for(s.session_id)) == 5
    assert fake_api.violations == []


def test_a_session_ended_before_its_first_flush_goes_whole_in_one_request(
    fake_api: FakeApi,
) -> None:
    point_at(fake_api)
    with honeytrace.session("short", inputs={"q": 1}, metadata={"m": 2}) as s:
        chain(2)
    assert honeytrace.flush(10)
    # POST /v1/events/batch: the session event first, then its events, each naming its session.
    assert [r.route for r in fake_api.requests] == ["events"]
    events = fake_api.requests[0].json["events"]
    head = events[0]
    assert head["event_id"] == head["session_id"] == s.session_id
    assert head["event_type"] == "session"
    assert head["event_name"] == "short"
    assert isinstance(head["end_time"], int)
    assert head["duration"] >= 0
    assert len(head["children_ids"]) == 1
    assert [e["session_id"] for e in events[1:]] == [s.session_id] * 3
    session = fake_api.sessions[s.session_id]
    assert session["event_name"] == "short"
    assert session["inputs"] == {"q": 1}
    assert session["metadata"] == {"m": 2}
    assert len(fake_api.events_for(s.session_id)) == 3
    assert fake_api.violations == []


def test_many_short_sessions_share_requests_in_order(fake_api: FakeApi) -> None:
    point_at(fake_api, batch_size=50)
    ids = []
    for n in range(40):
        with honeytrace.session("short", inputs={"n": n}) as s:
            tool(n)
        ids.append(s.session_id)
    assert honeytrace.flush(10)
    requests = fake_api.requests
    assert {r.route for r in requests} == {"events"}
    assert len(requests) <= 4  # 80 events in batches of 50 (a cycle may take them in parts)
    assert set(fake_api.sessions) == set(ids)
    for n, session_id in enumerate(ids):
        assert fake_api.sessions[session_id]["inputs"] == {"n": n}
        assert fake_api.sessions[session_id]["end_time"] is not None
        assert len(fake_api.events_for(session_id)) == 1
    assert fake_api.violations == []  # among them: no event before its session


def test_every_event_has_the_wire_fields(fake_api: FakeApi) -> None:
    point_at(fake_api)
    with honeytrace.session("fields") as s:
        chain(1)
    assert honeytrace.flush(10)
    events = fake_api.events_for(s.session_id)
    by_name = {e["event_name"]: e for e in events}
    assert set(by_name) == {"chain", "tool"}
    for event in events:
        assert event["source"] == "dev"
        assert isinstance(event["start_time"], int) and isinstance(event["end_time"], int)
        assert isinstance(event["duration"], float)
        assert "inputs" in event
    assert by_name["tool"]["parent_id"] == by_name["chain"]["event_id"]
    assert by_name["chain"]["parent_id"] == s.session_id
    assert by_name["chain"]["children_ids"] == [by_name["tool"]["event_id"]]


def test_batches_are_bounded_by_count_and_bytes(fake_api: FakeApi) -> None:
    point_at(fake_api, batch_size=10, max_batch_bytes=16 * 1024)
    with honeytrace.session("many") as s:
        for i in range(35):
            tool(i)
        for i in range(10):
            tool(i, payload="x" * 4000)
    assert honeytrace.flush(10)
    # Ended before its first flush: it goes whole, its session event first (46 events).
    batches = fake_api.requests_for("events")
    assert all(len(b.json["events"]) <= 10 for b in batches)
    assert all(len(b.body) <= 16 * 1024 for b in batches)
    assert sum(len(b.json["events"]) for b in batches) == 46
    assert len(fake_api.events_for(s.session_id)) == 45
    assert len(batches) >= 4 + 3  # 35 small in fours of ten, 40 KB in 16 KB bodies


def test_an_event_too_big_for_any_batch_is_cut_further_not_lost(fake_api: FakeApi) -> None:
    point_at(fake_api, max_batch_bytes=16 * 1024)
    with honeytrace.session("big") as s:
        tool(1, payload="y" * 100_000)  # within the value limits, over a whole batch's bytes
        tool(2)
    assert honeytrace.flush(10)
    batches = fake_api.requests_for("events")
    assert batches and all(len(b.body) <= 16 * 1024 for b in batches)
    events = {e["inputs"]["i"]: e for e in fake_api.events_for(s.session_id)}
    assert set(events) == {1, 2}
    payload = events[1]["inputs"]["payload"]
    assert payload.startswith("yyyy") and "truncated" in payload and len(payload) < 16 * 1024
    stats = honeytrace.stats()
    assert stats.dropped == {} and stats.sent == 3


def test_transient_failures_are_retried_and_delivered_once(fake_api: FakeApi) -> None:
    point_at(fake_api)
    fake_api.fail_next(2, status=503, route="events")
    fake_api.fail_next(1, status=500, route="events")
    fake_api.reset_next(1, route="events")
    with honeytrace.session("flaky") as s:
        chain(3)
    assert honeytrace.flush(30)
    assert len(fake_api.events_for(s.session_id)) == 4
    stats = honeytrace.stats()
    # 2 + 1 backoffs; the reset lands on a kept-alive connection, which is re-sent at once on a
    # fresh one (a stale idle connection looks the same), so it may not need a backoff.
    assert stats.retried >= 3
    assert stats.sent == 5 and stats.dropped == {}
    assert fake_api.violations == []


def test_partial_500_retry_does_not_duplicate(fake_api: FakeApi) -> None:
    point_at(fake_api)
    fake_api.partial_500_next(1, route="events")
    with honeytrace.session("partial") as s:
        chain(5)
    assert honeytrace.flush(30)
    assert [r.fault for r in fake_api.requests_for("events")] == ["partial_500", None]
    events = fake_api.events_for(s.session_id)
    assert len(events) == 6
    assert len({e["event_id"] for e in events}) == 6


def test_retry_after_is_honoured(fake_api: FakeApi) -> None:
    point_at(fake_api)
    fake_api.fail_next(1, status=429, retry_after=1, route="events")
    with honeytrace.session("limited"):
        pass
    assert honeytrace.flush(30)
    first, second = fake_api.requests_for("events")
    assert first.status == 429
    assert second.received_at - first.received_at >= 0.9


def test_a_rejected_event_is_found_and_only_it_is_dropped(
    fake_api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    point_at(fake_api)
    fake_api.reject_events_where(lambda event: event.get("inputs", {}).get("i") == 3)
    with caplog.at_level(logging.ERROR, logger="honeytrace"), honeytrace.session("bad") as s:
        for i in range(8):
            tool(i)
    assert not honeytrace.flush(10)
    delivered = sorted(e["inputs"]["i"] for e in fake_api.events_for(s.session_id))
    assert delivered == [0, 1, 2, 4, 5, 6, 7]
    assert honeytrace.stats().dropped == {"rejected": 1}
    assert caplog.text.count("event rejected") == 1


@pytest.mark.parametrize("bad_key_status", [401, 403, 404])
def test_a_bad_key_is_reported_once_and_sending_stops(
    bad_key_status: int, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeApi(bad_key_status=bad_key_status) as api:
        honeytrace.configure(api_key="wrong-key", server_url=api.url)
        with caplog.at_level(logging.ERROR, logger="honeytrace"):
            with honeytrace.session("one"):
                tool(1)
            honeytrace.flush(10)
            with honeytrace.session("two"):
                tool(2)
            honeytrace.flush(10)
        # The first create (sessions go whole), and its one repeat that tells a bad key from a
        # passing refusal.
        assert [r.route for r in api.requests] == ["events", "events"]
        assert "refused the API key" in caplog.text
        assert caplog.text.count("Check HH_API_KEY") == 1
        assert "wrong-key" not in caplog.text
        assert honeytrace.stats().dropped == {"auth": 4}


def test_flush_returns_false_when_the_server_does_not_answer(fake_api: FakeApi) -> None:
    point_at(fake_api, timeout=30.0)
    fake_api.blackhole()
    with honeytrace.session("stuck"):
        tool(1)
    assert honeytrace.flush(0.5) is False
    fake_api.release()
    assert honeytrace.flush(30)


def test_delivery_resumes_when_the_server_comes_back(fake_api: FakeApi) -> None:
    point_at(fake_api)
    fake_api.stop()
    with honeytrace.session("outage") as s:
        chain(2)
    assert honeytrace.flush(0.5) is False  # refused: retrying in the background
    fake_api.start()
    assert honeytrace.flush(30)
    assert len(fake_api.events_for(s.session_id)) == 3
    stats = honeytrace.stats()
    assert stats.recorded == stats.sent == 4


def test_stats_add_up(fake_api: FakeApi) -> None:
    point_at(fake_api)
    fake_api.reject_events_where(lambda event: event.get("inputs", {}).get("i") == 1)
    for n in range(3):
        with honeytrace.session(f"s{n}"):
            chain(3)
    honeytrace.flush(10)
    stats = honeytrace.stats()
    assert stats.pending == 0
    assert stats.recorded == 15
    assert stats.recorded == stats.sent + stats.dropped_total + stats.spooled + stats.pending
    assert stats.dropped == {"rejected": 3}
