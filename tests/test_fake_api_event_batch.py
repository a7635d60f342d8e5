"""The fake API's ``POST /v1/events/batch`` (``PostEventBatchRequest``), driven with plain httpx:
as strict as the yaml, sessions made from session events or ``session_properties``,
idempotent on ``event_id``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.fake_api import FakeApi, fake_api_fixture  # noqa: F401 -- registers `fake_api`

HEADERS = {"Authorization": "Bearer test-key", "User-Agent": "honeytrace/0-test"}


def new_id() -> str:
    return str(uuid.uuid4())


def session_event(session_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": session_id,
        "session_id": session_id,
        "event_type": "session",
        "event_name": "chat",
        "inputs": {"q": "hi"},
        "start_time": 1_700_000_000_000,
        "end_time": 1_700_000_000_050,
        "duration": 50.0,
        **fields,
    }


def child(session_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": new_id(),
        "session_id": session_id,
        "parent_id": session_id,
        "event_type": "tool",
        "event_name": "search",
        "inputs": {"i": 1},
        "start_time": 1_700_000_000_010,
        **fields,
    }


@pytest.fixture
def client(fake_api: FakeApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake_api.url, headers=HEADERS, timeout=10.0) as http:
        yield http


def post(client: httpx.Client, body: Any) -> httpx.Response:
    return client.post("/v1/events/batch", json=body)


def test_session_events_create_sessions_with_their_events(
    fake_api: FakeApi, client: httpx.Client
) -> None:
    a, b = new_id(), new_id()
    events = [session_event(a, metadata={"k": 1}), child(a), session_event(b), child(b), child(b)]
    answer = post(client, {"events": events})
    assert answer.status_code == 200
    assert answer.json() == {"event_ids": [e["event_id"] for e in events], "success": True}
    sessions = fake_api.sessions
    assert set(sessions) == {a, b}
    assert sessions[a]["event_name"] == "chat" and sessions[a]["metadata"] == {"k": 1}
    assert sessions[a]["end_time"] == 1_700_000_000_050 and sessions[a]["parent_id"] is None
    assert len(fake_api.events_for(a)) == 1 and len(fake_api.events_for(b)) == 2
    assert [r.route for r in fake_api.requests] == ["events"]
    assert fake_api.violations == []


def test_unknown_fields_are_rejected_at_both_levels(
    fake_api: FakeApi, client: httpx.Client
) -> None:
    sid = new_id()
    top = post(client, {"events": [session_event(sid)], "is_single_session": True})
    assert top.status_code == 400 and "is_single_session" in top.json()["message"]
    inner = post(client, {"events": [session_event(sid, project="legacy")]})
    assert inner.status_code == 400 and "project" in inner.json()["message"]
    missing = post(client, {"events": [{"event_type": "tool", "event_id": new_id()}]})
    assert missing.status_code == 400 and "inputs" in missing.json()["message"]
    assert post(client, {"single_session": True}).status_code == 400  # events is required
    assert fake_api.sessions == {} and fake_api.event_count == 0


def test_a_retried_batch_changes_nothing(fake_api: FakeApi, client: httpx.Client) -> None:
    sid = new_id()
    body = {"events": [session_event(sid, metadata={"a": 1}), child(sid)]}
    assert post(client, body).status_code == 200
    first = fake_api.sessions[sid]
    assert post(client, body).status_code == 200
    assert fake_api.sessions[sid] == first
    assert fake_api.event_count == 1
    assert fake_api.duplicate_event_ids == [body["events"][1]["event_id"]]


def test_single_session_makes_one_session_from_its_properties(
    fake_api: FakeApi, client: httpx.Client
) -> None:
    sid = new_id()
    events = [child(sid), child(sid)]
    for event in events:
        del event["session_id"]  # the session comes from session_properties
    properties = {"session_id": sid, "session_name": "batch", "metadata": {"m": 1}}
    answer = post(
        client, {"events": events, "single_session": True, "session_properties": properties}
    )
    assert answer.status_code == 200
    assert answer.json()["session_id"] == sid
    assert fake_api.sessions[sid]["event_name"] == "batch"
    assert len(fake_api.events_for(sid)) == 2
    assert fake_api.violations == []


def test_an_event_before_its_session_is_a_broken_promise(
    fake_api: FakeApi, client: httpx.Client
) -> None:
    sid = new_id()
    assert post(client, {"events": [child(sid), session_event(sid)]}).status_code == 200
    (violation,) = fake_api.violations
    assert violation.startswith("event before its session")
    orphan = {**child(new_id()), "session_id": "nope"}
    assert post(client, {"events": [orphan]}).status_code == 200
    assert any(v.startswith("missing or non-uuid session_id") for v in fake_api.violations)


def test_faults_and_partial_500_apply_to_the_route(fake_api: FakeApi, client: httpx.Client) -> None:
    sid = new_id()
    fake_api.fail_next(1, status=503, route="events")
    body = {"events": [session_event(sid), child(sid), child(sid), child(sid)]}
    assert post(client, body).status_code == 503
    assert fake_api.sessions == {}
    fake_api.partial_500_next(1, route="events")
    assert post(client, body).status_code == 500
    assert sid in fake_api.sessions and fake_api.event_count == 1  # the first half: 2 of 4
    assert post(client, body).status_code == 200
    assert fake_api.event_count == 3
