"""The deprecated routes older HoneyHive clients still send, accepted permissively.

Unknown fields are ignored (``project``, ``is_single_session`` and ``session`` are understood as
the aliases they are); a field of the wrong type is still a 400. Legacy models read times as
floats: whole numbers are stored as ints again, like the v1 routes store them.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from honeytrace._deliver.models import (
    LegacyEvent,
    LegacyEventBatch,
    LegacyEventUpdate,
    LegacyPostEvent,
    LegacySessionStart,
    LegacySessionTraces,
    SessionStart,
)
from honeytrace.local.collector import v1
from honeytrace.local.collector._http import (
    ApiError,
    fields_of,
    parse_body,
    require_uuid,
    store_of,
    validate,
)

__all__ = ["routes"]

_whole = v1.whole_times

# Kept from a legacy session start beyond the v1 session fields (HoneyHive's tracers send them).
_SESSION_EXTRAS: dict[str, type] = {"feedback": dict, "metrics": dict, "error": str}


def _event(event: LegacyEvent) -> dict[str, Any]:
    return _whole(fields_of(event))


def _events(events: list[LegacyEvent], where: str) -> list[dict[str, Any]]:
    found = [_event(event) for event in events]
    v1.check_ids(found, where)
    return found


async def start_session(request: Request) -> Response:
    """``POST /session/start``: ``{"session": {...}}``, answered like ``POST /v1/sessions``;
    ``feedback``, ``metrics`` and ``error`` are kept too, and a string time falls back to now
    as on ``POST /v1/sessions``."""
    body = parse_body(LegacySessionStart, v1.lenient_session_times(await request.body()))
    given = body.session
    for key in ("start_time", "end_time"):  # lenient_session_times sees the top level only
        if isinstance(given.get(key), str):
            given[key] = time.time_ns() // 1_000_000
    known = {key: value for key, value in given.items() if key in SessionStart.model_fields}
    session = _whole(fields_of(validate(SessionStart, known, "session")))
    for key, kind in _SESSION_EXTRAS.items():
        value = given.get(key)
        if value is None:
            continue
        if not isinstance(value, kind):
            expected = "an object" if kind is dict else "a string"
            raise ApiError(
                400, f"invalid body: session.{key}: must be {expected}", "VALIDATION_ERROR"
            )
        session[key] = value
    return await v1.start_session(request, session)


async def add_traces(request: Request) -> Response:
    """``POST /session/{session_id}/traces``: events under exactly one of ``logs``/``events``."""
    session_id = require_uuid(request.path_params["session_id"], "session_id")
    body = parse_body(LegacySessionTraces, await request.body())
    if (body.logs is None) == (body.events is None):
        raise ApiError(400, "send exactly one of `events` and `logs`", "VALIDATION_ERROR")
    where = "events" if body.events is not None else "logs"
    events = _events(body.events or body.logs or [], where)
    await store_of(request).call("add_events", session_id, events)
    return JSONResponse({"success": True})


async def create_event(request: Request) -> Response:
    """``POST /events``: ``{"event": {...}}``; ``event_type`` and ``inputs`` are required."""
    body = parse_body(LegacyPostEvent, await request.body())
    missing = [key for key in ("event_type", "inputs") if getattr(body.event, key) is None]
    if missing:
        raise ApiError(400, f"invalid body: event.{missing[0]}: field required", "VALIDATION_ERROR")
    event_id = await store_of(request).call("add_event", _events([body.event], "event")[0])
    return JSONResponse({"success": True, "event_id": event_id})


async def create_event_batch(request: Request) -> Response:
    """``POST /events/batch``, with ``is_single_session`` and ``session`` as aliases."""
    body = parse_body(LegacyEventBatch, await request.body())
    single = bool(body.single_session or body.is_single_session)
    properties = body.session_properties or body.session
    events = _events(body.events, "events")
    return await v1.add_batch(request, events, single, properties)


async def update_event(request: Request) -> Response:
    """``PUT /events``: the update with ``event_id`` in the body; 404 if absent."""
    body = parse_body(LegacyEventUpdate, await request.body())
    update = _whole(fields_of(body))
    return await v1.apply_update(request, update.pop("event_id"), update)


def routes() -> list[Route]:
    """The legacy routes."""
    return [
        Route("/session/start", start_session, methods=["POST"]),
        Route("/session/{session_id}/traces", add_traces, methods=["POST"]),
        Route("/events", create_event, methods=["POST"]),
        Route("/events", update_event, methods=["PUT"]),
        Route("/events/batch", create_event_batch, methods=["POST"]),
    ]
