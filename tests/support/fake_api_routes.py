"""What :class:`~tests.support.fake_api.FakeApi` does with the four routes honeytrace sends to.

Bodies are validated with the very models of ``_deliver.models`` (the single source of the
wire contract) and applied to an in-memory :class:`Store`. Where the real server is lenient but
honeytrace promises more (int times, no nulls, client-made ids, no update extras), the request is
accepted as the server would and a *violation* is recorded, so a test can assert there are none.

Every function here runs with the FakeApi's lock held; none of them blocks.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, ValidationError

from honeytrace._deliver.models import EventBatch, EventUpdate, SessionEventBatch, SessionStart

__all__ = [
    "IDENTITY",
    "Reply",
    "Store",
    "add_batch",
    "add_event_batch",
    "check_headers",
    "create_session",
    "error_reply",
    "injected_reply",
    "is_uuid",
    "update_event",
]

JsonObject = dict[str, Any]

IDENTITY: dict[str, str] = {
    "org_id": "org-fake",
    "workspace_id": "workspace-fake",
    "project_id": "project-fake",
}
"""What the key resolves to on the fake server (the key decides the project)."""

_MERGED_ON_UPDATE = ("metadata", "feedback", "metrics", "config", "user_properties")
_INT_TIMES = ("start_time", "end_time")


@dataclass
class Reply:
    """An answer ready to be written: status, body bytes and extra headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
        """A JSON answer."""
        merged = {"Content-Type": "application/json", **(headers or {})}
        return cls(status, json.dumps(payload).encode(), merged)


def error_reply(
    status: int,
    message: str,
    *,
    error_code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """The server's JSON error: ``{"statusCode", "message", "success": false, "errorCode"}``."""
    try:
        code = error_code or HTTPStatus(status).name
    except ValueError:  # a made-up status a test injects on purpose
        code = error_code or "ERROR"
    payload = {"statusCode": status, "message": message, "success": False, "errorCode": code}
    return Reply.json(status, payload, headers)


def injected_reply(status: int, retry_after: float | str | datetime | None, body: Any) -> Reply:
    """The answer of ``FakeApi.fail_next``: ``body`` None gives the server's JSON error, a dict
    or list another JSON body, a str or bytes a ``text/html`` page (what a proxy sends).
    ``retry_after``: seconds (int as is, float as a decimal), an HTTP-date string (sent as
    is), or an aware datetime (formatted as an HTTP-date)."""
    headers: dict[str, str] = {}
    if isinstance(retry_after, datetime):
        headers["Retry-After"] = email.utils.format_datetime(retry_after, usegmt=True)
    elif isinstance(retry_after, str):
        headers["Retry-After"] = retry_after
    elif retry_after is not None:
        seconds = float(retry_after)
        headers["Retry-After"] = str(int(seconds)) if seconds.is_integer() else str(seconds)
    if body is None:
        return error_reply(status, f"injected {status}", headers=headers)
    if isinstance(body, (dict, list)):
        return Reply.json(status, body, headers)
    raw = body.encode() if isinstance(body, str) else bytes(body)
    return Reply(status, raw, {"Content-Type": "text/html; charset=utf-8", **headers})


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(value: object) -> bool:
    """True for the 36-character hyphenated form of a UUID (what the API calls a UUID). A
    regular expression rather than ``uuid.UUID``: the same answer for that form at a tenth of
    the cost (the benchmarks deliver here, and this runs for every event)."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


@dataclass
class Store:
    """What the fake server has accepted, plus what honeytrace did that it promised not to."""

    sessions: dict[str, JsonObject] = field(default_factory=dict)
    events: dict[str, JsonObject] = field(default_factory=dict)
    duplicate_event_ids: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    reject_event: Callable[[JsonObject], bool] | None = None

    def violation(self, message: str) -> None:
        """Record a breach of honeytrace's own promises (the request itself is still served)."""
        self.violations.append(message)


def check_headers(store: Store, method: str, path: str, headers: Mapping[str, str]) -> None:
    """honeytrace sends ``User-Agent: honeytrace/<version>`` and JSON bodies: recorded, not
    enforced (``headers`` has lower-case names)."""
    where = f"{method} {path}"
    agent = headers.get("user-agent", "")
    if not agent.startswith("honeytrace/"):
        store.violation(f"user-agent: {where} sent {agent!r}, not honeytrace/<version>")
    content_type = headers.get("content-type", "")
    if method in ("POST", "PUT") and content_type.split(";")[0].strip() != "application/json":
        store.violation(f"content-type: {where} sent {content_type!r}")


def _invalid(model: type[BaseModel], body: Any) -> Reply | None:
    """A 400 naming every offending field, or None when ``body`` fits ``model``."""
    if not isinstance(body, dict):
        return error_reply(400, "request body must be a JSON object")
    try:
        model.model_validate(body)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        ]
        return error_reply(400, "; ".join(problems))
    return None


def _check_promises(
    store: Store, where: str, obj: JsonObject, *, nullable: tuple[str, ...]
) -> None:
    """Times are ints and object fields are left out rather than null: honeytrace promises both."""
    for key in _INT_TIMES:
        value = obj.get(key)
        if value is not None and not isinstance(value, int):
            store.violation(f"non-int time: {where} {key}={value!r}")
    nulls = sorted(key for key, value in obj.items() if value is None and key not in nullable)
    if nulls:
        store.violation(f"null field: {where} sent null for {nulls} (leave them out instead)")


def _merge(target: JsonObject, key: str, extra: JsonObject) -> None:
    # A new dict, never an in-place update: snapshots handed to tests share nested objects.
    target[key] = {**(target.get(key) or {}), **extra}


def create_session(store: Store, body: Any) -> Reply:
    """``POST /v1/sessions``: strict body; idempotent on ``session_id`` (merges metadata and
    user_properties into the existing session); answers the session event."""
    bad = _invalid(SessionStart, body)
    if bad is not None:
        return bad
    where = "POST /v1/sessions"
    _check_promises(store, where, body, nullable=())
    session_id = body.get("session_id")
    if not is_uuid(session_id):
        if session_id is not None:
            store.violation(f"non-uuid session_id: {where} sent {session_id!r}")
        session_id = str(uuid.uuid4())  # what the server does with a missing or bad id
    existing = store.sessions.get(session_id)
    if existing is not None:
        for key in ("metadata", "user_properties"):
            if body.get(key):
                _merge(existing, key, body[key])
        return Reply.json(200, existing)
    sent = {key: value for key, value in body.items() if value is not None}
    return Reply.json(200, _new_session(store, session_id, sent))


def _new_session(store: Store, session_id: str, sent: JsonObject) -> JsonObject:
    session: JsonObject = {
        "parent_id": None,
        "children_ids": [],
        "config": {},
        "inputs": {},
        "outputs": {},
        "error": None,
        "duration": None,
        "end_time": None,
        "user_properties": {},
        "metrics": {},
        "feedback": {},
        "metadata": {},
        **sent,
        "event_id": session_id,
        "session_id": session_id,
        "event_type": "session",
        "event_name": sent.get("event_name") or sent.get("session_name") or "unknown",
        "source": sent.get("source") or "unknown",
        "start_time": sent.get("start_time", int(time.time() * 1000)),
        **IDENTITY,
    }
    store.sessions[session_id] = session
    return session


def _session_event(store: Store, event: JsonObject) -> None:
    """A session event (``event_id`` == ``session_id``, ``event_type`` "session") creates its
    session; again (a retried batch), it merges the objects and sets the rest, so that a
    repeat changes nothing."""
    session_id = str(event["event_id"])
    sent = {key: value for key, value in event.items() if value is not None}
    existing = store.sessions.get(session_id)
    if existing is None:
        _new_session(store, session_id, sent)
        return
    for key, value in sent.items():
        if key in _MERGED_ON_UPDATE and isinstance(value, dict):
            _merge(existing, key, value)
        elif key not in ("event_id", "session_id", "event_type"):
            existing[key] = value


def add_event_batch(store: Store, body: Any, *, partial: bool = False) -> Reply:
    """``POST /v1/events/batch`` (``PostEventBatchRequest``): strict body; events of any
    sessions, each naming its session, or, with ``single_session``, all in the session that
    ``session_properties`` describes (a new one). A session event (``event_id`` ==
    ``session_id``, ``event_type`` "session") creates its session. Idempotent on
    ``event_id``. An event whose session does not exist yet (neither before nor earlier in
    the batch) is stored, as the server would, and recorded as a violation: honeytrace
    promises a session's record before its events. ``partial``: the first half is stored,
    then 500."""
    bad = _invalid(EventBatch, body)
    if bad is not None:
        return bad
    events: list[JsonObject] = body["events"]
    if store.reject_event is not None:
        rejected = [str(e.get("event_id")) for e in events if store.reject_event(e)]
        if rejected:
            return error_reply(400, f"invalid event(s): {', '.join(rejected)}")
    forced: str | None = None
    if body.get("single_session"):
        properties = dict(body.get("session_properties") or {})
        forced = properties.get("session_id")
        if not is_uuid(forced):
            forced = str(uuid.uuid4())
        if forced not in store.sessions:
            _new_session(store, forced, {k: v for k, v in properties.items() if v is not None})
    kept = events[: (len(events) + 1) // 2] if partial else events
    ids: list[str] = []
    for index, event in enumerate(events):
        where = f"event batch event {event.get('event_id', f'#{index}')}"
        _check_promises(store, where, event, nullable=("error",))
        event_id = event.get("event_id")
        if not is_uuid(event_id):
            store.violation(f"missing or non-uuid event_id: {where}")
            event_id = str(uuid.uuid4())
        ids.append(str(event_id))
        if index >= len(kept):
            continue
        session_id = forced or event.get("session_id")
        if event.get("event_type") == "session" and session_id in (None, event_id):
            _session_event(store, {**event, "event_id": event_id})
            continue
        if not is_uuid(session_id):
            store.violation(f"missing or non-uuid session_id: {where}")
            session_id = str(uuid.uuid4())
        if session_id not in store.sessions:
            store.violation(f"event before its session: {where} (session {session_id})")
        if "parent_id" not in event:
            store.violation(f"missing parent_id: {where}")
        if event_id in store.events:
            store.duplicate_event_ids.append(str(event_id))
            continue
        store.events[str(event_id)] = {**event, "event_id": event_id, "session_id": session_id}
    if partial:
        return error_reply(500, "Events partially created")
    answer: JsonObject = {"event_ids": ids, "success": True}
    if forced is not None:
        answer["session_id"] = forced
    return Reply.json(200, answer)


def add_batch(store: Store, session_id: str, body: Any, *, partial: bool = False) -> Reply:
    """``POST /v1/sessions/{session_id}/events/batch``: strict body, known session, idempotent
    on ``event_id``. ``partial`` stores the first half (rounded up) and answers 500, as the
    real server does when a batch is "partially added"."""
    if not is_uuid(session_id):
        return error_reply(400, f"session_id must be a UUID, got {session_id!r}")
    bad = _invalid(SessionEventBatch, body)
    if bad is not None:
        return bad
    if session_id not in store.sessions:
        store.violation(f"batch before session create: session {session_id}")
        return error_reply(404, f"session {session_id} not found")
    events: list[JsonObject] = body["events"]
    if store.reject_event is not None:
        rejected = [str(e.get("event_id")) for e in events if store.reject_event(e)]
        if rejected:
            return error_reply(400, f"invalid event(s): {', '.join(rejected)}")
    for index, event in enumerate(events):
        where = f"batch event {event.get('event_id', f'#{index}')}"
        _check_promises(store, where, event, nullable=("error",))
        if not is_uuid(event.get("event_id")):
            store.violation(f"missing or non-uuid event_id: {where}")
        if "parent_id" not in event:
            store.violation(f"missing parent_id: {where}")
        if event.get("session_id", session_id) != session_id:
            store.violation(f"session_id mismatch: {where} says {event['session_id']}")
    kept = events[: (len(events) + 1) // 2] if partial else events
    for event in kept:
        event_id = event.get("event_id") or str(uuid.uuid4())
        if event_id in store.events:
            store.duplicate_event_ids.append(event_id)
            continue
        store.events[event_id] = {**event, "event_id": event_id, "session_id": session_id}
    if partial:
        return error_reply(500, "Events partially added")
    return Reply.json(200, {"success": True})


def update_event(store: Store, event_id: str, body: Any) -> Reply:
    """``PUT /v1/events/{event_id}``: objects merged, ``outputs`` replaced (null keeps),
    ``end_time``/``duration`` set, ``children_ids`` set when non-empty; extras are ignored."""
    if not is_uuid(event_id):
        return error_reply(400, f"event_id must be a UUID, got {event_id!r}")
    bad = _invalid(EventUpdate, body)
    if bad is not None:
        return bad
    where = f"PUT /v1/events/{event_id}"
    extras = sorted(set(body) - set(EventUpdate.model_fields))
    if extras:
        store.violation(f"update extras: {where} sent {extras} (the server ignores them)")
    _check_promises(store, where, body, nullable=("outputs",))
    target = store.sessions.get(event_id) or store.events.get(event_id)
    if target is None:
        store.violation(f"update of unknown event: {where}")
        return error_reply(404, f"event {event_id} not found")
    for key in _MERGED_ON_UPDATE:
        if body.get(key) is not None:
            _merge(target, key, body[key])
    if body.get("outputs") is not None:
        target["outputs"] = body["outputs"]
    for key in ("end_time", "duration"):
        if body.get(key) is not None:
            target[key] = body[key]
    if body.get("children_ids"):
        target["children_ids"] = list(body["children_ids"])
    return Reply.json(200, {"success": True})
