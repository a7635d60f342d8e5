"""The fake HoneyHive API itself, driven with plain httpx: strictness, state, and every fault."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from honeytrace._deliver.models import ErrorBody, SessionStartResponse
from tests.support.fake_api import FakeApi, fake_api_fixture  # noqa: F401 -- registers `fake_api`

HEADERS = {"Authorization": "Bearer test-key", "User-Agent": "honeytrace/0-test"}


def new_id() -> str:
    return str(uuid.uuid4())


def event(parent: str, **fields: Any) -> dict[str, Any]:
    """A valid batch event, as honeytrace builds them."""
    return {
        "event_id": new_id(),
        "parent_id": parent,
        "event_type": "tool",
        "event_name": "search",
        "source": "test",
        "inputs": {"q": "x"},
        "start_time": 1_700_000_000_000,
        "end_time": 1_700_000_000_005,
        "duration": 5.5,
        **fields,
    }


@pytest.fixture
def client(fake_api: FakeApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake_api.url, headers=HEADERS, timeout=10.0) as http:
        yield http


def create(client: httpx.Client, session_id: str | None = None, **fields: Any) -> httpx.Response:
    body = {"session_id": session_id or new_id(), "session_name": "chat", **fields}
    return client.post("/v1/sessions", json=body)


def batch(client: httpx.Client, session_id: str, *events: dict[str, Any]) -> httpx.Response:
    return client.post(f"/v1/sessions/{session_id}/events/batch", json={"events": list(events)})


def in_thread(call: Any) -> tuple[threading.Thread, list[Any]]:
    """Run ``call`` in a daemon thread; the list gets its result or its exception."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


# --- the valid flow -------------------------------------------------------------------------


def test_session_batch_update_flow(fake_api: FakeApi, client: httpx.Client) -> None:
    sid = new_id()
    answer = create(client, sid, start_time=1_700_000_000_000, metadata={"a": 1})
    assert answer.status_code == 200
    session = SessionStartResponse.model_validate(answer.json())
    assert (session.event_id, session.session_id) == (sid, sid)
    assert answer.json()["event_name"] == "chat" and answer.json()["source"] == "unknown"

    first, second = event(sid), event(sid, event_type="model", outputs={"text": "hi"})
    answer = batch(client, sid, first, second)
    assert (answer.status_code, answer.json()) == (200, {"success": True})

    update = {"outputs": {"answer": 42}, "end_time": 1_700_000_000_100, "duration": 100.0}
    answer = client.put(f"/v1/events/{sid}", json={**update, "metadata": {"b": 2}})
    assert answer.status_code == 200

    assert fake_api.wait_for_events(2)
    assert [e["event_id"] for e in fake_api.events_for(sid)] == [
        first["event_id"],
        second["event_id"],
    ]
    assert all(e["session_id"] == sid for e in fake_api.events.values())
    stored = fake_api.sessions[sid]
    assert stored["metadata"] == {"a": 1, "b": 2}
    assert stored["outputs"] == {"answer": 42} and stored["end_time"] == 1_700_000_000_100
    assert [(r.method, r.route, r.status) for r in fake_api.requests] == [
        ("POST", "sessions", 200),
        ("POST", "batch", 200),
        ("PUT", "update", 200),
    ]
    assert fake_api.requests[1].json == {"events": [first, second]}
    assert fake_api.connection_count == 1  # HTTP/1.1 keep-alive: the pooled connection is reused
    assert fake_api.violations == []


def test_update_merges_replaces_and_ignores_extras(fake_api: FakeApi, client: httpx.Client) -> None:
    sid = new_id()
    create(client, sid)
    tool = event(sid, metadata={"a": 1}, outputs={"old": True}, children_ids=["x"])
    batch(client, sid, tool)
    path = f"/v1/events/{tool['event_id']}"
    assert client.put(path, json={"metadata": {"b": 2}, "outputs": None}).status_code == 200
    assert client.put(path, json={"metrics": {"m": 1}, "children_ids": []}).status_code == 200
    stored = fake_api.events[tool["event_id"]]
    assert stored["metadata"] == {"a": 1, "b": 2} and stored["metrics"] == {"m": 1}
    assert stored["outputs"] == {"old": True}  # null keeps the outputs
    assert stored["children_ids"] == ["x"]  # an empty list is ignored
    assert fake_api.violations == []

    answer = client.put(path, json={"outputs": {"new": 1}, "inputs": {}, "error": "boom"})
    assert answer.status_code == 200  # extras are ignored, like the server does
    assert fake_api.events[tool["event_id"]]["outputs"] == {"new": 1}
    assert fake_api.violations == [
        f"update extras: PUT {path} sent ['error', 'inputs'] (the server ignores them)"
    ]


def test_update_of_unknown_event_is_404(fake_api: FakeApi, client: httpx.Client) -> None:
    answer = client.put(f"/v1/events/{new_id()}", json={"metadata": {}})
    assert answer.status_code == 404
    ErrorBody.model_validate(answer.json())
    assert fake_api.violations[0].startswith("update of unknown event")
    assert client.put("/v1/events/not-a-uuid", json={}).status_code == 400


# --- strictness -----------------------------------------------------------------------------


def test_unknown_fields_are_rejected_with_their_name(
    fake_api: FakeApi, client: httpx.Client
) -> None:
    answer = create(client, project="p")
    assert answer.status_code == 400
    body = ErrorBody.model_validate(answer.json())
    assert body.statusCode == 400 and body.success is False and "project" in body.message

    sid = new_id()
    create(client, sid)
    answer = batch(client, sid, event(sid), event(sid, bogus=1))
    assert answer.status_code == 400 and "events.1.bogus" in answer.json()["message"]
    answer = client.post(f"/v1/sessions/{sid}/events/batch", json={"events": [], "extra": 1})
    assert answer.status_code == 400 and "extra" in answer.json()["message"]
    answer = batch(client, sid, {"event_type": "tool"})  # inputs is required
    assert answer.status_code == 400 and "events.0.inputs" in answer.json()["message"]
    assert len(fake_api.sessions) == 1 and fake_api.events == {}


def test_times_are_numbers_and_ints_are_promised(fake_api: FakeApi, client: httpx.Client) -> None:
    answer = create(client, start_time="1700000000000")
    assert answer.status_code == 400 and "start_time" in answer.json()["message"]
    assert fake_api.sessions == {}

    sid = new_id()
    assert create(client, sid, start_time=1_700_000_000_000.5).status_code == 200
    assert batch(client, sid, event(sid, end_time=1.5, duration=0.25)).status_code == 200
    event_id = fake_api.requests[-1].json["events"][0]["event_id"]
    assert fake_api.violations == [
        "non-int time: POST /v1/sessions start_time=1700000000000.5",
        f"non-int time: batch event {event_id} end_time=1.5",
    ]


def test_other_broken_promises_are_recorded(fake_api: FakeApi, client: httpx.Client) -> None:
    answer = create(client, "chat-42", metadata=None)
    sid = answer.json()["session_id"]
    assert answer.status_code == 200 and sid != "chat-42"  # the server makes a fresh id
    bare = event(sid)
    del bare["event_id"], bare["parent_id"]
    assert batch(client, sid, bare, event(sid, session_id=new_id())).status_code == 200
    tags = [violation.split(":")[0] for violation in fake_api.violations]
    assert tags == [
        "null field",
        "non-uuid session_id",
        "missing or non-uuid event_id",
        "missing parent_id",
        "session_id mismatch",
    ]
    assert fake_api.event_count == 2  # all served anyway: the server is lenient there


def test_headers_are_checked_but_not_enforced(fake_api: FakeApi) -> None:
    with httpx.Client(base_url=fake_api.url, headers={"Authorization": "Bearer test-key"}) as http:
        answer = http.post("/v1/sessions", content=b"{}", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 200
    assert [v.split(":")[0] for v in fake_api.violations] == ["user-agent", "content-type"]


def test_unknown_route_and_bad_json(fake_api: FakeApi, client: httpx.Client) -> None:
    assert client.get("/v1/nothing").status_code == 404
    assert fake_api.violations == ["unknown route: GET /v1/nothing"]
    answer = client.post(
        "/v1/sessions", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400


def test_chunked_body_is_read(fake_api: FakeApi, client: httpx.Client) -> None:
    sid = new_id()
    parts = [b'{"session_id": "', sid.encode(), b'"}']
    answer = client.post(
        "/v1/sessions", content=iter(parts), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 200 and sid in fake_api.sessions


# --- auth -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad_key_status", [401, 404])
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "test-key"])
def test_bad_or_missing_key(bad_key_status: int, authorization: str | None) -> None:
    with FakeApi(bad_key_status=bad_key_status) as api, httpx.Client(base_url=api.url) as http:
        headers = {} if authorization is None else {"Authorization": authorization}
        answer = http.post("/v1/sessions", json={}, headers=headers)
        assert answer.status_code == bad_key_status
        assert ErrorBody.model_validate(answer.json()).statusCode == bad_key_status
        assert api.sessions == {}


def test_key_is_configurable(client: httpx.Client) -> None:
    with FakeApi("other") as api:
        headers = {**HEADERS, "Authorization": "Bearer other"}
        assert httpx.post(f"{api.url}/v1/sessions", json={}, headers=headers).status_code == 200
        assert httpx.post(f"{api.url}/v1/sessions", json={}, headers=HEADERS).status_code == 401


# --- protocol and idempotency ---------------------------------------------------------------


def test_batch_before_session_create(fake_api: FakeApi, client: httpx.Client) -> None:
    sid = new_id()
    answer = batch(client, sid, event(sid))
    assert answer.status_code == 404
    assert fake_api.violations == [f"batch before session create: session {sid}"]
    assert batch(client, "not-a-uuid", event(sid)).status_code == 400
    assert fake_api.events == {}


def test_session_create_is_idempotent(fake_api: FakeApi, client: httpx.Client) -> None:
    sid = new_id()
    first = create(client, sid, metadata={"a": 1}, user_properties={"u": 1}).json()
    second = create(client, sid, metadata={"b": 2}, session_name="renamed").json()
    assert second["event_id"] == first["event_id"] and second["session_name"] == "chat"
    assert fake_api.sessions[sid]["metadata"] == {"a": 1, "b": 2}
    assert fake_api.sessions[sid]["user_properties"] == {"u": 1}
    assert len(fake_api.sessions) == 1


def test_events_are_idempotent_on_event_id(fake_api: FakeApi, client: httpx.Client) -> None:
    sid = new_id()
    create(client, sid)
    first, second = event(sid), event(sid)
    assert batch(client, sid, first, first).status_code == 200
    assert batch(client, sid, first, second).status_code == 200
    assert list(fake_api.events) == [first["event_id"], second["event_id"]]
    assert fake_api.duplicate_event_ids == [first["event_id"]] * 2


def test_concurrent_batches_are_all_stored(fake_api: FakeApi) -> None:
    sid = new_id()
    httpx.post(f"{fake_api.url}/v1/sessions", json={"session_id": sid}, headers=HEADERS)

    def send() -> int:
        with httpx.Client(base_url=fake_api.url, headers=HEADERS) as http:
            return sum(batch(http, sid, event(sid), event(sid)).status_code for _ in range(5))

    threads = [in_thread(send) for _ in range(8)]
    for thread, _ in threads:
        thread.join(timeout=30)
    assert [outcome for _, outcome in threads] == [[1000]] * 8
    assert fake_api.wait_for_events(80, timeout=1.0) and fake_api.event_count == 80


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429, 400, 422, 401, 403, 404])
def test_fail_next_answers_the_status_and_stores_nothing(
    fake_api: FakeApi, client: httpx.Client, status: int
) -> None:
    fake_api.fail_next(2, status)
    sid = new_id()
    for _ in range(2):
        answer = create(client, sid)
        assert answer.status_code == status and answer.json()["statusCode"] == status
        assert "retry-after" not in answer.headers
    assert fake_api.sessions == {}
    assert create(client, sid).status_code == 200
    assert [r.fault for r in fake_api.requests] == ["fail", "fail", None]


def test_fail_next_retry_after_route_and_body(fake_api: FakeApi, client: httpx.Client) -> None:
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    fake_api.fail_next(1, 429, retry_after=2, route="batch")
    fake_api.fail_next(1, 503, retry_after=0.25, route="batch")
    fake_api.fail_next(1, 503, retry_after=when, route="batch")
    fake_api.fail_next(
        1,
        502,
        retry_after="Wed, 21 Oct 2015 07:28:00 GMT",
        route="batch",
        body="<html>bad gateway</html>",
    )
    fake_api.fail_next(1, 500, route="update", body={"error": "custom"})
    sid = new_id()
    assert create(client, sid).status_code == 200  # not a batch: untouched
    answers = [batch(client, sid, event(sid)) for _ in range(5)]
    assert [a.status_code for a in answers] == [429, 503, 503, 502, 200]
    assert [a.headers.get("retry-after") for a in answers] == [
        "2",
        "0.25",
        "Wed, 02 Jan 2030 03:04:05 GMT",
        "Wed, 21 Oct 2015 07:28:00 GMT",
        None,
    ]
    assert answers[3].text == "<html>bad gateway</html>"
    assert answers[3].headers["content-type"].startswith("text/html")
    assert fake_api.event_count == 1
    answer = client.put(f"/v1/events/{sid}", json={})
    assert (answer.status_code, answer.json()) == (500, {"error": "custom"})


def test_faults_come_before_the_key_check(fake_api: FakeApi) -> None:
    fake_api.fail_next(1, 503)
    assert httpx.post(f"{fake_api.url}/v1/sessions", json={}).status_code == 503
    assert httpx.post(f"{fake_api.url}/v1/sessions", json={}).status_code == 401


def test_reset_next_closes_without_answer(fake_api: FakeApi, client: httpx.Client) -> None:
    fake_api.reset_next(1, route="sessions")
    sid = new_id()
    with pytest.raises(httpx.TransportError):
        create(client, sid)
    assert fake_api.sessions == {}
    assert (fake_api.requests[0].fault, fake_api.requests[0].status) == ("reset", None)
    assert create(client, sid).status_code == 200  # the pool opens a fresh connection
    assert sid in fake_api.sessions


def test_blackhole_holds_until_release_then_answers(
    fake_api: FakeApi, client: httpx.Client
) -> None:
    sid = new_id()
    fake_api.blackhole(route="sessions")
    thread, outcome = in_thread(lambda: create(client, sid))
    assert fake_api.wait_for_requests(1, "sessions")
    assert fake_api.sessions == {} and outcome == []
    # Other routes pass: a batch is answered (404, no session yet) while the create is held.
    with httpx.Client(base_url=fake_api.url, headers=HEADERS) as other:
        assert batch(other, sid, event(sid)).status_code == 404
    fake_api.release()
    thread.join(timeout=10)
    assert outcome[0].status_code == 200 and sid in fake_api.sessions
    assert fake_api.requests[0].fault == "blackhole"


def test_blackholed_request_is_applied_after_the_client_gave_up(
    fake_api: FakeApi, client: httpx.Client
) -> None:
    sid = new_id()
    create(client, sid)
    tool = event(sid)
    fake_api.blackhole()
    with pytest.raises(httpx.ReadTimeout):
        client.post(f"/v1/sessions/{sid}/events/batch", json={"events": [tool]}, timeout=0.2)
    fake_api.release()
    assert fake_api.wait_for_events(1)  # the server did it; the client never heard
    assert batch(client, sid, tool).status_code == 200  # the client's retry
    assert fake_api.event_count == 1 and fake_api.duplicate_event_ids == [tool["event_id"]]


def test_slow_delays_answers(fake_api: FakeApi, client: httpx.Client) -> None:
    fake_api.slow(30, route="sessions")
    with pytest.raises(httpx.ReadTimeout):
        client.post("/v1/sessions", json={}, timeout=0.2)
    fake_api.slow(0.05, route="sessions")  # a route's own delay replaces the previous one
    assert create(client).status_code == 200
    fake_api.slow(0, route="sessions")
    assert create(client).status_code == 200
    assert [r.fault for r in fake_api.requests] == ["slow", "slow", None]


def test_reject_events_where_rejects_the_whole_batch(
    fake_api: FakeApi, client: httpx.Client
) -> None:
    sid = new_id()
    create(client, sid)
    good, bad = event(sid), event(sid, event_name="poison")
    fake_api.reject_events_where(lambda e: e.get("event_name") == "poison")
    answer = batch(client, sid, good, bad)
    assert answer.status_code == 400 and bad["event_id"] in answer.json()["message"]
    assert good["event_id"] not in answer.json()["message"] and fake_api.event_count == 0
    assert batch(client, sid, good).status_code == 200  # the split batch passes
    fake_api.reject_events_where(None)
    assert batch(client, sid, bad).status_code == 200
    assert fake_api.event_count == 2


def test_partial_500_stores_half_and_retry_does_not_duplicate(
    fake_api: FakeApi, client: httpx.Client
) -> None:
    sid = new_id()
    create(client, sid)
    events = [event(sid) for _ in range(5)]
    fake_api.partial_500_next()
    answer = batch(client, sid, *events)
    assert answer.status_code == 500 and answer.json()["message"] == "Events partially added"
    assert list(fake_api.events) == [e["event_id"] for e in events[:3]]
    assert batch(client, sid, *events).status_code == 200
    assert list(fake_api.events) == [e["event_id"] for e in events]
    assert fake_api.duplicate_event_ids == [e["event_id"] for e in events[:3]]


def test_clear_faults(fake_api: FakeApi, client: httpx.Client) -> None:
    fake_api.fail_next(5, 500)
    fake_api.reset_next(5)
    fake_api.slow(30)
    fake_api.reject_events_where(lambda e: True)
    fake_api.clear_faults()
    sid = new_id()
    assert create(client, sid).status_code == 200
    assert batch(client, sid, event(sid)).status_code == 200


def test_bad_route_name_is_refused(fake_api: FakeApi) -> None:
    with pytest.raises(ValueError, match="route"):
        fake_api.fail_next(1, route="session")  # type: ignore[arg-type]


# --- lifecycle ------------------------------------------------------------------------------


def test_stop_refuses_then_start_serves_on_the_same_port(
    fake_api: FakeApi, client: httpx.Client
) -> None:
    sid = new_id()
    assert create(client, sid).status_code == 200  # leaves a pooled keep-alive connection
    url = fake_api.url
    fake_api.stop()
    assert not fake_api.running
    with pytest.raises(httpx.ConnectError):
        batch(client, sid, event(sid))
    fake_api.start()
    assert fake_api.url == url
    assert batch(client, sid, event(sid)).status_code == 200  # state survived the outage
    fake_api.stop()
    fake_api.start()
    assert batch(client, sid, event(sid)).status_code == 200
    assert fake_api.event_count == 2


def test_stop_drops_held_requests(fake_api: FakeApi, client: httpx.Client) -> None:
    fake_api.blackhole()
    thread, outcome = in_thread(lambda: create(client))
    assert fake_api.wait_for_requests(1)
    fake_api.stop()
    thread.join(timeout=10)
    assert isinstance(outcome[0], httpx.TransportError)
    fake_api.release()
    fake_api.start()
    assert create(client).status_code == 200
    assert len(fake_api.sessions) == 1 and fake_api.requests[0].status is None


def test_close_with_held_requests_returns_promptly() -> None:
    api = FakeApi().start()
    api.blackhole()
    api.slow(60)
    http = httpx.Client(base_url=api.url, headers=HEADERS, timeout=60)
    calls = [in_thread(lambda: http.post("/v1/sessions", json={})) for _ in range(3)]
    assert api.wait_for_requests(3)
    closer, _ = in_thread(api.close)
    closer.join(timeout=5)
    assert not closer.is_alive()  # a generous bound, not a timing assertion
    for thread, outcome in calls:
        thread.join(timeout=10)
        assert isinstance(outcome[0], httpx.TransportError)
    with pytest.raises(RuntimeError):
        api.start()
    http.close()


def test_wait_for_wakes_on_state_change_and_times_out(
    fake_api: FakeApi, client: httpx.Client
) -> None:
    assert fake_api.wait_for(lambda: bool(fake_api.sessions), timeout=0.05) is False
    sid = new_id()
    thread, _ = in_thread(lambda: create(client, sid))
    assert fake_api.wait_for(lambda: sid in fake_api.sessions)
    thread.join(timeout=10)
    assert fake_api.wait_for_events(1, timeout=0.05) is False


def test_hold_limit_drops_a_forgotten_request(fake_api: FakeApi, client: httpx.Client) -> None:
    fake_api.blackhole(route="sessions", hold_limit=0.1)
    with pytest.raises(httpx.TransportError):
        create(client)
    assert fake_api.requests_for("sessions")[0].status is None and fake_api.sessions == {}


def test_an_exception_in_a_predicate_is_loud(fake_api: FakeApi, client: httpx.Client) -> None:
    sid = new_id()
    create(client, sid)
    fake_api.reject_events_where(lambda e: 1 / 0 > 0)
    assert batch(client, sid, event(sid)).status_code == 500
    assert fake_api.violations[0].startswith("fake api error: POST")
