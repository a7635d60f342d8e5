"""The REST routes HoneyHive's clients call beyond the v1 write routes (export, ``GET
/session/{id}``, model events), driven by HoneyHive's own Python client where it has a call for
them, and the fidelity items of the hosted API: string session times, id case, non-UUID ids,
the legacy session start's extra fields, ``project_id``, error answers on the console."""

from __future__ import annotations

import logging
import uuid
import warnings
from typing import Any

import httpx
import pytest

from tests.support.collector_server import (
    CollectorServer,
    collector_fixture,
    collector_server,
)

__all__ = ["collector_server"]

collector = collector_fixture
honeyhive = pytest.importorskip(
    "honeyhive", reason="PyPI honeyhive (1.7+, Python 3.11+) is not installed"
)

T0 = 1_700_000_000_000


@pytest.fixture
def client(collector: CollectorServer) -> httpx.Client:
    return httpx.Client(base_url=collector.url, timeout=10)


def seed(client: httpx.Client) -> tuple[str, list[str]]:
    session_id = str(uuid.uuid4())
    assert client.post(
        "/v1/sessions", json={"session_id": session_id, "session_name": "s"}
    ).is_success
    ids = [str(uuid.uuid4()) for _ in range(5)]
    events = [
        {
            "event_id": event_id,
            "event_type": "model" if index % 2 else "tool",
            "event_name": f"step{index}",
            "inputs": {"i": index},
            "metadata": {"user": "ann" if index < 3 else "bob"},
            "start_time": T0 + index,
            "end_time": T0 + index + 1,
        }
        for index, event_id in enumerate(ids)
    ]
    answer = client.post(f"/v1/sessions/{session_id}/events/batch", json={"events": events})
    assert answer.status_code == 200, answer.text
    return session_id, ids


# -- export, with HoneyHive's client ---------------------------------------------------------


def test_v1_export_with_the_honeyhive_client(
    collector: CollectorServer, client: httpx.Client
) -> None:
    session_id, ids = seed(client)
    hh = honeyhive.HoneyHive(api_key="k", server_url=collector.url)
    found = hh.events.export(
        filters=[
            {"field": "session_id", "operator": "is", "value": session_id.upper(), "type": "id"},
            {"field": "event_type", "operator": "is", "value": "tool", "type": "string"},
        ],
        projections=["event_id", "event_name", "metadata.user"],
        limit=2,
        page=1,
    )
    assert found.total_events == 3  # step0, step2, step4
    events = [event.model_dump(exclude_none=True) for event in found.events]
    assert [event["event_name"] for event in events] == ["step4", "step2"]
    assert events[0] == {
        "event_id": ids[4],
        "event_name": "step4",
        "metadata": {"user": "bob"},
    }


def test_export_routes_are_not_taken_for_ids(client: httpx.Client) -> None:
    session_id, _ = seed(client)
    body = {
        "project": "ignored",
        "filters": [{"field": "metadata.user", "operator": "is", "value": "ann"}],
        "dateRange": {"$gte": "2023-11-14T22:13:20Z", "$lte": "2023-11-14T22:13:20.002Z"},
        "limit": 10,
        "page": 1,
    }
    v1 = client.post("/v1/events/export", json=body)
    assert v1.status_code == 200, v1.text
    assert v1.json()["count"] == 3  # step0..2 start inside the range
    legacy = client.post("/events/export", json=body)
    assert legacy.status_code == 200
    assert legacy.json()["totalEvents"] == 3
    assert {event["event_name"] for event in legacy.json()["events"]} == {"step0", "step1", "step2"}
    bad = client.post("/v1/events/export", json={"filters": [{"field": "x", "operator": "??"}]})
    assert bad.status_code == 400 and "filters[0]" in bad.json()["message"]

    tree = client.get(f"/session/{session_id.upper()}")
    assert tree.status_code == 200
    assert tree.json()["session_id"] == session_id
    assert len(tree.json()["children"]) == 5


def test_model_events_with_the_generated_client(collector: CollectorServer) -> None:
    from honeyhive._generated.api_config import APIConfig
    from honeyhive._generated.models import PostModelEventBatchRequest, PostModelEventRequest
    from honeyhive._generated.services.Events_service import (
        createModelEventBatchLegacy,
        createModelEventLegacy,
    )

    config = APIConfig(base_path=collector.url, access_token="k")
    session_id = str(uuid.uuid4())
    model_event = {
        "session_id": session_id,
        "event_name": "chat",
        "model": "gpt-4o",
        "provider": "openai",
        "messages": [{"role": "user", "content": "hi"}],
        "response": {"role": "assistant", "content": "hello"},
        "hyperparameters": {"temperature": 0.1},
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        "cost": 0.001,
        "duration": 12.0,
        "start_time": float(T0),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        made = createModelEventLegacy(
            config, data=PostModelEventRequest.model_validate({"model_event": model_event})
        )
        batch = createModelEventBatchLegacy(
            config,
            data=PostModelEventBatchRequest.model_validate(
                {"model_events": [{**model_event, "event_name": "second"}]}
            ),
        )
    event = httpx.get(f"{collector.url}/v1/events/{made.event_id}").json()["event"]
    assert event["event_type"] == "model"
    assert event["session_id"] == session_id
    assert event["config"] == {"temperature": 0.1, "model": "gpt-4o", "provider": "openai"}
    assert event["inputs"] == {"messages": [{"role": "user", "content": "hi"}]}
    assert event["outputs"] == {"role": "assistant", "content": "hello"}
    assert event["metrics"] == {
        "prompt_tokens": 3,
        "completion_tokens": 2,
        "total_tokens": 5,
        "cost": 0.001,
    }
    assert event["start_time"] == T0 and isinstance(event["start_time"], int)
    assert batch.model_dump()["event_ids"]
    (second,) = batch.model_dump()["event_ids"]
    assert (
        httpx.get(f"{collector.url}/v1/events/{second}").json()["event"]["event_name"] == "second"
    )


# -- fidelity -------------------------------------------------------------------------------


def test_string_session_times_fall_back_to_now(client: httpx.Client) -> None:
    answer = client.post("/v1/sessions", json={"start_time": "yesterday", "end_time": "later"})
    assert answer.status_code == 200, answer.text
    session = answer.json()
    assert isinstance(session["start_time"], int) and session["start_time"] > T0
    assert isinstance(session["end_time"], int) and session["end_time"] >= session["start_time"]


def test_ids_are_case_insensitive_and_stored_lower_case(client: httpx.Client) -> None:
    session_id = str(uuid.uuid4())
    event_id = str(uuid.uuid4()).upper()
    assert client.post("/v1/sessions", json={"session_id": session_id.upper()}).is_success
    assert client.post(
        "/v1/sessions", json={"session_id": session_id, "metadata": {"a": 1}}
    ).is_success
    answer = client.post(
        "/v1/events",
        json={
            "event_type": "tool",
            "inputs": {},
            "event_id": event_id,
            "session_id": session_id.upper(),
        },
    )
    assert answer.json()["event_id"] == event_id.lower()
    tree = client.get(f"/v1/sessions/{session_id}").json()
    assert tree["session_id"] == session_id and tree["metadata"] == {"a": 1}
    assert [child["event_id"] for child in tree["children"]] == [event_id.lower()]
    assert client.get(f"/v1/events/{event_id}").json()["event"]["event_id"] == event_id.lower()
    sessions = client.post(
        "/v1/events/search",
        json={"filters": [{"field": "event_type", "operator": "is", "value": "session"}]},
    ).json()
    assert sessions["count"] == 1  # not a second session for the upper-case id
    by_id = {"field": "session_id", "operator": "is", "value": session_id.upper()}
    found = client.post("/v1/events/search", json={"filters": [by_id]}).json()
    assert found["count"] == 2  # the session and its event, found by the upper-case id


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/v1/events", {"event_type": "tool", "inputs": {}, "event_id": "evt-1"}, "event_id"),
        (
            "/v1/events/batch",
            {"events": [{"event_type": "tool", "inputs": {}, "parent_id": "p-1"}]},
            "events[0].parent_id",
        ),
        (
            "/events",
            {"event": {"event_type": "tool", "inputs": {}, "event_id": "x"}},
            "event[0].event_id",
        ),
    ],
)
def test_non_uuid_ids_are_refused_on_write(
    client: httpx.Client, path: str, body: dict[str, Any], where: str
) -> None:
    answer = client.post(path, json=body)
    assert answer.status_code == 400
    assert where in answer.json()["message"] and "UUID" in answer.json()["message"]


def test_legacy_session_start_keeps_feedback_metrics_error_and_project(
    client: httpx.Client,
) -> None:
    session_id = str(uuid.uuid4())
    answer = client.post(
        "/session/start",
        json={
            "session": {
                "session_id": session_id,
                "project": "p",
                "feedback": {"rating": 4},
                "metrics": {"latency": 3},
                "error": "it broke",
            }
        },
    )
    assert answer.status_code == 200
    stored = client.get(f"/v1/sessions/{session_id}").json()
    assert stored["feedback"] == {"rating": 4}
    assert stored["metrics"] == {"latency": 3}
    assert stored["error"] == "it broke"
    assert stored["project_id"] == answer.json()["project_id"] == "local"


def test_error_answers_are_logged(client: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="honeytrace.collector"):
        assert client.post("/v1/events", json={"inputs": {}}).status_code == 400
        assert client.get("/v1/events/not-an-id").status_code == 400
        assert client.get("/nowhere").status_code == 404
    lines = [record.getMessage() for record in caplog.records]
    assert any(
        line.startswith("POST /v1/events -> 400: invalid body: event_type") for line in lines
    )
    assert any(
        line.startswith("GET /v1/events/not-an-id -> 400: event_id must be a UUID")
        for line in lines
    )
    assert any(line.startswith("GET /nowhere -> 404") for line in lines)
