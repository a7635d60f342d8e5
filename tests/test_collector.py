"""The collector over real HTTP on 127.0.0.1: every route, strictness, idempotency, auth, the
legacy routes, and `honeytrace serve` as a process stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from honeytrace._deliver.models import ErrorBody, SessionStartResponse
from honeytrace.local.collector import create_app
from honeytrace.local.store import Store
from tests.support.collector_server import (
    CollectorServer,
    collector_fixture,
    collector_server,  # noqa: F401 -- registers the module-scoped server fixture
    wait_for,
)

collector = collector_fixture

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
T0 = 1_700_000_000_000


def new_id() -> str:
    return str(uuid.uuid4())


def event(**fields: Any) -> dict[str, Any]:
    return {
        "event_id": new_id(),
        "event_type": "tool",
        "event_name": "search",
        "source": "test",
        "inputs": {"q": "x"},
        "start_time": T0,
        **fields,
    }


@pytest.fixture
def client(collector: CollectorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=collector.url, timeout=10.0) as http:
        yield http


def create(client: httpx.Client, **fields: Any) -> str:
    body = {"session_id": new_id(), "session_name": "chat", "start_time": T0, **fields}
    response = client.post("/v1/sessions", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["session_id"])


def batch(client: httpx.Client, session_id: str, *events: dict[str, Any]) -> httpx.Response:
    return client.post(f"/v1/sessions/{session_id}/events/batch", json={"events": list(events)})


def assert_error(response: httpx.Response, status: int, *words: str) -> ErrorBody:
    assert response.status_code == status, response.text
    error = ErrorBody.model_validate(response.json())
    assert error.statusCode == status and error.success is False and error.errorCode
    for word in words:
        assert word in error.message, error.message
    return error


def tree(client: httpx.Client, session_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/sessions/{session_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# -- basics -------------------------------------------------------------------------------


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_session_create_answers_the_session_event(client: httpx.Client) -> None:
    sid = new_id()
    response = client.post(
        "/v1/sessions", json={"session_id": sid, "session_name": "chat", "start_time": T0}
    )
    assert response.status_code == 200
    body = SessionStartResponse.model_validate(response.json())
    assert body.session_id == sid and body.event_id == sid
    assert (body.org_id, body.workspace_id, body.project_id) == ("local", "local", "local")
    payload = response.json()
    assert payload["event_type"] == "session" and payload["event_name"] == "chat"
    assert payload["source"] == "unknown" and payload["start_time"] == T0


def test_session_create_is_idempotent_and_merges(client: httpx.Client) -> None:
    sid = create(client, metadata={"a": 1})
    again = client.post("/v1/sessions", json={"session_id": sid, "metadata": {"b": 2}})
    assert again.status_code == 200
    assert again.json()["metadata"] == {"a": 1, "b": 2}
    assert again.json()["event_name"] == "chat"


def test_session_create_replaces_a_bad_id(client: httpx.Client) -> None:
    response = client.post("/v1/sessions", json={"session_id": "chat-42"})
    assert response.status_code == 200
    assert uuid.UUID(response.json()["session_id"]).version == 4


# -- strictness ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"session_name": "x", "project": "p"}, "project"),
        # (a string start_time is not refused: it falls back to now, see test_collector_fidelity)
        ({"metadata": "not an object"}, "metadata"),
    ],
)
def test_session_create_is_strict(client: httpx.Client, body: Any, field: str) -> None:
    error = assert_error(client.post("/v1/sessions", json=body), 400, field)
    assert error.errorCode == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": [], "extra": 1}, "extra"),
        ({"events": [{**event(), "bogus": True}]}, "events[0].bogus"),
        ({"events": [event(), event(start_time="1700000000000")]}, "events[1].start_time"),
        ({"events": [event(event_type="span")]}, "events[0].event_type"),
        ({"events": [{k: v for k, v in event().items() if k != "inputs"}]}, "events[0].inputs"),
        ({"events": [event(outputs="text")]}, "events[0].outputs"),
        ({}, "events"),
    ],
)
def test_event_batch_is_strict(client: httpx.Client, body: Any, field: str) -> None:
    sid = create(client)
    assert_error(client.post(f"/v1/sessions/{sid}/events/batch", json=body), 400, field)
    assert tree(client, sid)["children"] == []  # nothing of a rejected batch is stored


def test_malformed_json_is_a_400(client: httpx.Client) -> None:
    sid = create(client)
    response = client.post(
        f"/v1/sessions/{sid}/events/batch",
        content=b'{"events": [',
        headers={"Content-Type": "application/json"},
    )
    assert assert_error(response, 400, "JSON").errorCode == "INVALID_JSON"
    assert_error(client.post("/v1/sessions", content=b""), 400, "JSON")


@pytest.mark.parametrize(
    ("position", "field", "value"),
    [
        (2, "event_id", "chat-42"),
        (0, "parent_id", "6f4de29f-9b31-41e0-8000-00000000000"),  # one digit short
        # Two UUIDs joined by a newline: the batch check joins ids with newlines too.
        (
            1,
            "parent_id",
            "6f4de29f-9b31-41e0-8000-000000000001\n6f4de29f-9b31-41e0-8000-000000000002",
        ),
        (1, "event_id", ""),
    ],
)
def test_event_ids_in_a_batch_must_be_uuids(
    client: httpx.Client, position: int, field: str, value: str
) -> None:
    sid = create(client)
    events = [event(), event(parent_id=new_id().upper()), event()]
    events[position][field] = value
    error = assert_error(batch(client, sid, *events), 400, f"events[{position}].{field}", "UUID")
    assert error.errorCode == "INVALID_ID"
    assert tree(client, sid)["children"] == []  # nothing of a rejected batch is stored
    events[position][field] = new_id().upper()  # the same batch with valid ids (any case)
    assert batch(client, sid, *events).status_code == 200
    assert len(tree(client, sid)["children"]) == 3


def test_a_path_session_id_must_be_a_uuid(client: httpx.Client) -> None:
    assert_error(batch(client, "chat-42", event()), 400, "session_id")
    assert_error(client.get("/v1/sessions/chat-42"), 400, "session_id")
    assert_error(client.post("/session/chat-42/traces", json={"events": []}), 400, "session_id")


def test_unknown_route_and_method_answer_in_the_error_shape(client: httpx.Client) -> None:
    assert_error(client.get("/v2/nothing"), 404)
    assert_error(client.delete("/v1/sessions"), 405)


# -- events -------------------------------------------------------------------------------


def test_a_retried_batch_does_not_duplicate(client: httpx.Client) -> None:
    sid = create(client)
    events = [event(start_time=T0 + i) for i in range(3)]
    assert batch(client, sid, *events).json() == {"success": True}
    assert batch(client, sid, *events).status_code == 200
    children = tree(client, sid)["children"]
    assert sorted(c["event_id"] for c in children) == sorted(e["event_id"] for e in events)


def test_the_path_session_wins_and_parents_default_to_it(client: httpx.Client) -> None:
    sid = create(client)
    one = event(session_id=new_id())
    assert batch(client, sid, one).status_code == 200
    stored = client.get(f"/v1/events/{one['event_id']}").json()["event"]
    assert stored["session_id"] == sid and stored["parent_id"] == sid


def test_an_answered_write_is_committed(collector: CollectorServer, client: httpx.Client) -> None:
    sid = create(client)
    one = event()
    assert batch(client, sid, one).status_code == 200
    with Store(collector.db_path) as other_connection:
        assert other_connection.get_event(one["event_id"]) is not None


def test_a_locked_store_answers_503_then_recovers(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    Store(db).close()
    app = create_app(str(db), busy_timeout=0.05)
    with CollectorServer(app) as server, httpx.Client(base_url=server.url) as http:
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a long write
        try:
            busy = http.post("/v1/sessions", json={"session_name": "x"})
            assert assert_error(busy, 503).errorCode == "STORE_BUSY"
            assert busy.headers["Retry-After"] == "1"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert http.post("/v1/sessions", json={"session_name": "x"}).status_code == 200


def test_tree_endpoint(client: httpx.Client) -> None:
    sid = create(client, duration=100)
    chain = event(event_type="chain", event_name="plan", start_time=T0 + 1)
    model = event(
        event_type="model",
        event_name="llm",
        parent_id=chain["event_id"],
        start_time=T0 + 2,
        error="RateLimit: slow down",
        metadata={"prompt_tokens": 5, "completion_tokens": 2},
    )
    tool = event(event_name="lookup", start_time=T0 + 3)
    assert batch(client, sid, tool, model, chain).status_code == 200
    root = tree(client, sid)
    assert root["event_id"] == sid and root["event_type"] == "session"
    assert [c["event_name"] for c in root["children"]] == ["plan", "lookup"]
    assert [c["event_name"] for c in root["children"][0]["children"]] == ["llm"]
    assert root["totals"]["events"] == 3 and root["totals"]["errors"] == 1
    assert root["totals"]["tokens"]["total_tokens"] == 7
    assert_error(client.get(f"/v1/sessions/{new_id()}"), 404, "session")


def test_get_event(client: httpx.Client) -> None:
    sid = create(client)
    one = event(metadata={"k": "v"})
    batch(client, sid, one)
    response = client.get(f"/v1/events/{one['event_id']}")
    assert response.status_code == 200
    assert response.json()["event"]["metadata"] == {"k": "v"}
    assert_error(client.get(f"/v1/events/{new_id()}"), 404)
    assert_error(client.get("/v1/events/not-a-uuid"), 400, "event_id")


def test_update_event(client: httpx.Client) -> None:
    sid = create(client)
    one = event(metadata={"a": 1}, outputs={"old": True})
    batch(client, sid, one)
    url = f"/v1/events/{one['event_id']}"
    response = client.put(url, json={"metadata": {"b": 2}, "outputs": None, "whatever": 1})
    assert response.status_code == 200 and response.json() == {"success": True}
    stored = client.get(url).json()["event"]
    assert stored["metadata"] == {"a": 1, "b": 2} and stored["outputs"] == {"old": True}
    assert_error(client.put(url, json={"outputs": "text"}), 400, "outputs")
    assert_error(client.put(url, json={"end_time": "soon"}), 400, "end_time")
    assert_error(client.put(f"/v1/events/{new_id()}", json={"metadata": {}}), 404)


def test_session_end_through_update(client: httpx.Client) -> None:
    sid = create(client)
    response = client.put(
        f"/v1/events/{sid}", json={"end_time": T0 + 9, "duration": 9, "outputs": {"r": 1}}
    )
    assert response.status_code == 200
    root = tree(client, sid)
    assert root["end_time"] == T0 + 9 and root["outputs"] == {"r": 1}


def test_create_single_event_starts_a_session(client: httpx.Client) -> None:
    response = client.post("/v1/events", json={"event_type": "chain", "inputs": {}})
    assert response.status_code == 200 and response.json()["success"] is True
    event_id = response.json()["event_id"]
    stored = client.get(f"/v1/events/{event_id}").json()["event"]
    root = tree(client, stored["session_id"])
    assert [c["event_id"] for c in root["children"]] == [event_id]
    assert_error(client.post("/v1/events", json={"event_type": "chain"}), 400, "inputs")


def test_create_event_batch(client: httpx.Client) -> None:
    sid = create(client)
    loose = [event(session_id=sid), event(session_id=sid)]
    response = client.post("/v1/events/batch", json={"events": loose})
    assert response.status_code == 200
    assert response.json() == {"event_ids": [e["event_id"] for e in loose], "success": True}
    single = client.post(
        "/v1/events/batch",
        json={
            "events": [event(), event()],
            "single_session": True,
            "session_properties": {"session_name": "grouped", "metadata": {"m": 1}},
        },
    )
    assert single.status_code == 200
    grouped = tree(client, single.json()["session_id"])
    assert grouped["event_name"] == "grouped" and grouped["metadata"] == {"m": 1}
    assert sorted(c["event_id"] for c in grouped["children"]) == sorted(single.json()["event_ids"])
    legacy_alias = client.post("/v1/events/batch", json={"events": [], "is_single_session": True})
    assert_error(legacy_alias, 400, "is_single_session")


def test_concurrent_writes_are_all_stored(client: httpx.Client) -> None:
    sid = create(client)
    events = [event(start_time=T0 + i) for i in range(40)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda e: batch(client, sid, e).status_code, events))
    assert statuses == [200] * 40
    assert tree(client, sid)["totals"]["events"] == 40


# -- search -------------------------------------------------------------------------------


def test_search_pages_and_filters(client: httpx.Client) -> None:
    sid = create(client, start_time=T0 - 10)
    events = [event(event_name=f"e{i}", start_time=T0 + i, metadata={"i": i}) for i in range(5)]
    batch(client, sid, *events)
    tools = [{"field": "event_type", "operator": "is", "value": "tool"}]
    first = client.post("/v1/events/search", json={"filters": tools, "limit": 2})
    second = client.post("/v1/events/search", json={"filters": tools, "limit": 2, "page": 2})
    assert first.status_code == 200
    assert [e["event_name"] for e in first.json()["events"]] == ["e4", "e3"]
    assert [e["event_name"] for e in second.json()["events"]] == ["e2", "e1"]
    assert first.json()["count"] == 5
    by_path = [{"field": "metadata.i", "operator": "greater than", "value": 2}]
    found = client.post("/v1/events/search", json={"filters": by_path}).json()
    assert [e["event_name"] for e in found["events"]] == ["e4", "e3"]
    everything = client.post("/v1/events/search", json={}).json()
    assert everything["count"] == 6  # the session is an event too
    window = {"start_time": "2023-11-14T22:13:20.001Z", "end_time": "2023-11-14T22:13:20.003Z"}
    dated = client.post("/v1/events/search", json={"dateRange": window}).json()
    assert [e["event_name"] for e in dated["events"]] == ["e3", "e2", "e1"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"page": 0}, "page"),
        ({"filters": [{"field": "x", "operator": "is"}]}, "filters[0].value"),
        ({"filters": [{"field": "x", "operator": "matches", "value": 1}]}, "operator"),
        ({"filters": [{"field": "nope", "operator": "is", "value": 1}]}, "nope"),
        ({"sort": "asc"}, "sort"),
        ({"dateRange": {"start_time": "never", "end_time": "2024-01-01T00:00:00Z"}}, "dateRange"),
    ],
)
def test_search_is_strict(client: httpx.Client, body: Any, field: str) -> None:
    assert_error(client.post("/v1/events/search", json=body), 400, field)


# -- auth ---------------------------------------------------------------------------------


def test_api_key_is_required_everywhere_but_healthz(tmp_path: Path) -> None:
    app = create_app(str(tmp_path / "traces.db"), api_key="s3cret")
    with CollectorServer(app) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/healthz").status_code == 200
        body = {"session_name": "x"}
        assert_error(http.post("/v1/sessions", json=body), 401, "key")
        wrong = {"Authorization": "Bearer nope"}
        assert_error(http.post("/v1/sessions", json=body, headers=wrong), 401)
        assert_error(http.get("/"), 401)  # a browser (Accept: text/html) goes to /login
        assert_error(http.get("/api/sessions"), 401)
        assert_error(http.post("/session/start", json={"session": {}}), 401)
        right = {"Authorization": "Bearer s3cret"}
        created = http.post("/v1/sessions", json=body, headers=right)
        assert created.status_code == 200
        sid = created.json()["session_id"]
        assert http.get(f"/v1/sessions/{sid}", headers=right).status_code == 200


# -- legacy routes ------------------------------------------------------------------------


def test_legacy_session_start_and_traces(client: httpx.Client) -> None:
    sid = new_id()
    started = client.post(
        "/session/start",
        json={"session": {"session_id": sid, "session_name": "old", "project": "p"}, "x": 1},
    )
    assert started.status_code == 200 and started.json()["session_id"] == sid
    assert started.json()["project_id"] == "local"
    logs = [event(project="p", start_time=float(T0))]
    assert client.post(f"/session/{sid}/traces", json={"logs": logs}).json() == {"success": True}
    events = [event()]
    assert client.post(f"/session/{sid}/traces", json={"events": events}).status_code == 200
    root = tree(client, sid)
    assert root["event_name"] == "old" and root["totals"]["events"] == 2
    stored = client.get(f"/v1/events/{logs[0]['event_id']}").json()["event"]
    assert stored["start_time"] == T0 and isinstance(stored["start_time"], int)
    assert "project" not in stored
    both = client.post(f"/session/{sid}/traces", json={"logs": [], "events": []})
    assert_error(both, 400, "exactly one")
    assert_error(client.post(f"/session/{sid}/traces", json={}), 400, "exactly one")


def test_legacy_events_routes(client: httpx.Client) -> None:
    sid = create(client)
    one = event(session_id=sid, project="p", unknown_field=1)
    created = client.post("/events", json={"event": one})
    assert created.json() == {"success": True, "event_id": one["event_id"]}
    assert_error(client.post("/events", json={"event": {"inputs": {}}}), 400, "event_type")
    assert_error(client.post("/events", json={"nope": 1}), 400, "event")
    updated = client.put(
        "/events", json={"event_id": one["event_id"], "metadata": {"m": 1}, "junk": True}
    )
    assert updated.status_code == 200
    stored = client.get(f"/v1/events/{one['event_id']}").json()["event"]
    assert stored["metadata"] == {"m": 1}
    assert_error(client.put("/events", json={"event_id": new_id()}), 404)
    grouped = client.post(
        "/events/batch",
        json={"events": [event(), event()], "is_single_session": True,
              "session": {"session_name": "aliased"}},
    )  # fmt: skip
    assert grouped.status_code == 200
    assert tree(client, grouped.json()["session_id"])["event_name"] == "aliased"


# -- the serve command as a process -------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def up(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_serve_persists_writes_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "served" / "traces.db"
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])),
        "HONEYTRACE_COLLECTOR_API_KEY": "k",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "honeytrace", "serve", "--db", str(db), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: up(url) or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, proc.communicate()[1]
        headers = {"Authorization": "Bearer k"}
        sid = new_id()
        one = event()
        with httpx.Client(base_url=url, headers=headers, timeout=10) as http:
            assert http.post("/v1/sessions", json={"session_id": sid}).status_code == 200
            assert batch(http, sid, one).status_code == 200
        assert httpx.post(url + "/v1/sessions", json={}).status_code == 401  # no key
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    # Every error answer is on the console, with why (issue 13).
    assert "honeytrace serve: POST /v1/sessions -> 401: missing or wrong API key" in stderr
    with Store(db) as store:
        stored = store.get_event(one["event_id"])
        assert stored is not None and stored["session_id"] == sid
