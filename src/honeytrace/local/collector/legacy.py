"""The deprecated routes older HoneyHive clients still send, accepted permissively.

Unknown fields are ignored (``project``, ``is_single_session`` and ``session`` are understood as
the aliases they are); a field of the wrong type is still a 400. Legacy models read times as
floats: whole numbers are stored as ints again, like the v1 routes store them.
"""

from __future__ import annotations

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

_TIMES = ("start_time", "end_time", "duration")


def _whole(fields: dict[str, Any]) -> dict[str, Any]:
    for key in _TIMES:
        value = fields.get(key)
        if isinstance(value, float) and value.is_integer():
            fields[key] = int(value)
    return fields


def _event(event: LegacyEvent) -> dict[str, Any]:
    return _whole(fields_of(event))


async def start_session(request: Request) -> Response:
    """``POST /session/start``: ``{"session": {...}}``, answered like ``POST /v1/sessions``."""
    body = parse_body(LegacySessionStart, await request.body())
    known = {key: value for key, value in body.session.items() if key in SessionStart.model_fields}
    session = _whole(fields_of(validate(SessionStart, known, "session")))
    return await v1.start_session(request, session)


async def add_traces(request: Request) -> Response:
    """``POST /session/{session_id}/traces``: events under exactly one of ``logs``/``events``."""
    session_id = require_uuid(request.path_params["session_id"], "session_id")
    body = parse_body(LegacySessionTraces, await request.body())
    if (body.logs is None) == (body.events is None):
        raise ApiError(400, "send exactly one of `events` and `logs`", "VALIDATION_ERROR")
    events = [_event(event) for event in body.events or body.logs or []]
    await store_of(request).call("add_events", session_id, events)
    return JSONResponse({"success": True})


async def create_event(request: Request) -> Response:
    """``POST /events``: ``{"event": {...}}``; ``event_type`` and ``inputs`` are required."""
    body = parse_body(LegacyPostEvent, await request.body())
    missing = [key for key in ("event_type", "inputs") if getattr(body.event, key) is None]
    if missing:
        raise ApiError(400, f"invalid body: event.{missing[0]}: field required", "VALIDATION_ERROR")
    event_id = await store_of(request).call("add_event", _event(body.event))
    return JSONResponse({"success": True, "event_id": event_id})


async def create_event_batch(request: Request) -> Response:
    """``POST /events/batch``, with ``is_single_session`` and ``session`` as aliases."""
    body = parse_body(LegacyEventBatch, await request.body())
    single = bool(body.single_session or body.is_single_session)
    properties = body.session_properties or body.session
    events = [_event(event) for event in body.events]
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
