"""The HoneyHive v1 routes of the collector, over the embedded store.

The write routes are as strict as the hosted API: bodies are validated with the very models of
``_deliver.models``, so an unknown field, a string time or a bad ``event_type`` is a 400
naming the field. Every write is committed before it is answered. The helpers the legacy routes
share (:func:`start_session`, :func:`add_batch`, :func:`apply_update`) live here too.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from honeytrace._deliver.models import (
    Event,
    EventBatch,
    EventUpdate,
    SearchRequest,
    SessionEventBatch,
    SessionStart,
)
from honeytrace.local.collector._http import (
    ApiError,
    fields_of,
    parse_body,
    require_uuid,
    store_of,
    validate,
)

__all__ = ["IDENTITY", "add_batch", "apply_update", "routes", "start_session"]

IDENTITY = {"org_id": "local", "workspace_id": "local", "project_id": "local"}
"""What the hosted API derives from the key; a local collector has one fixed project."""


async def create_session(request: Request) -> Response:
    """``POST /v1/sessions``: create or merge a session; answers the session event."""
    body = parse_body(SessionStart, await request.body())
    return await start_session(request, fields_of(body))


async def start_session(request: Request, session: dict[str, Any]) -> Response:
    """Create ``session`` and answer it as ``PostSessionStartResponse``."""
    stored = await store_of(request).call("create_session", session)
    return JSONResponse({**stored, **IDENTITY})


async def add_session_events(request: Request) -> Response:
    """``POST /v1/sessions/{session_id}/events/batch``: the path's session wins."""
    session_id = require_uuid(request.path_params["session_id"], "session_id")
    batch = parse_body(SessionEventBatch, await request.body())
    events = batch.model_dump(exclude_unset=True)["events"]
    await store_of(request).call("add_events", session_id, events)
    return JSONResponse({"success": True})


async def create_event(request: Request) -> Response:
    """``POST /v1/events``: one event; without a session id it starts a session of its own."""
    event = parse_body(Event, await request.body())
    event_id = await store_of(request).call("add_event", fields_of(event))
    return JSONResponse({"success": True, "event_id": event_id})


async def create_event_batch(request: Request) -> Response:
    """``POST /v1/events/batch``: events of any sessions, or of one new session."""
    batch = parse_body(EventBatch, await request.body())
    dumped = batch.model_dump(exclude_unset=True)
    return await add_batch(
        request, dumped["events"], bool(batch.single_session), dumped.get("session_properties")
    )


async def add_batch(
    request: Request,
    events: list[dict[str, Any]],
    single_session: bool,
    session_properties: dict[str, Any] | None,
) -> Response:
    """Store a create-batch (v1 or legacy): with ``single_session`` every event goes into
    the session that ``session_properties`` describes (a new one, unless they carry a
    ``session_id``, which makes a retried request land in the same session)."""
    store = store_of(request)
    if not single_session:
        ids = await store.call("add_events", None, events)
        return JSONResponse({"event_ids": ids, "success": True})
    properties = session_properties or {}
    known = {key: value for key, value in properties.items() if key in SessionStart.model_fields}
    session = fields_of(validate(SessionStart, known, "session_properties"))
    stored = await store.call("create_session", session)
    session_id = stored["session_id"]
    ids = await store.call("add_events", session_id, events)
    return JSONResponse({"event_ids": ids, "session_id": session_id, "success": True})


async def update_event(request: Request) -> Response:
    """``PUT /v1/events/{event_id}``: merge an update (unknown fields ignored); 404 if absent."""
    event_id = require_uuid(request.path_params["event_id"], "event_id")
    update = parse_body(EventUpdate, await request.body())
    return await apply_update(request, event_id, fields_of(update))


async def apply_update(request: Request, event_id: str, update: dict[str, Any]) -> Response:
    """Apply an update (v1 or legacy); 404 when no event has this id."""
    try:
        await store_of(request).call("update_event", event_id, update)
    except KeyError:
        raise ApiError(404, f"no event with event_id {event_id}", "NOT_FOUND") from None
    return JSONResponse({"success": True})


async def get_event(request: Request) -> Response:
    """``GET /v1/events/{event_id}``: ``{"event": {...}}``, or 404."""
    event_id = require_uuid(request.path_params["event_id"], "event_id")
    event = await store_of(request).call("get_event", event_id)
    if event is None:
        raise ApiError(404, f"no event with event_id {event_id}", "NOT_FOUND")
    return JSONResponse({"event": event})


async def get_session(request: Request) -> Response:
    """``GET /v1/sessions/{session_id}``: the session event with nested ``children`` and
    ``totals``, or 404."""
    session_id = require_uuid(request.path_params["session_id"], "session_id")
    tree = await store_of(request).call("session_tree", session_id)
    if tree is None:
        raise ApiError(404, f"no session with session_id {session_id}", "NOT_FOUND")
    return JSONResponse(tree)


async def search_events(request: Request) -> Response:
    """``POST /v1/events/search``: filters, ``dateRange``, ``limit`` (1..1000, default 1000),
    ``page`` (default 1); newest first. ``ignore_order`` and ``evaluation_id`` are accepted and
    ignored (a local store has no evaluation runs)."""
    search = parse_body(SearchRequest, await request.body())
    filters = [item.model_dump(exclude_unset=True) for item in search.filters or []]
    date_range = search.dateRange.model_dump() if search.dateRange else None
    try:
        events, count = await store_of(request).call(
            "search", filters, date_range, search.limit or 1000, search.page or 1
        )
    except ValueError as exc:
        raise ApiError(400, f"invalid search: {exc}", "VALIDATION_ERROR") from None
    return JSONResponse({"events": events, "count": count})


async def healthz(request: Request) -> Response:
    """Liveness, without auth and without touching the store."""
    return JSONResponse({"status": "ok"})


def routes() -> list[Route]:
    """The v1 routes (and ``/healthz``)."""
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/v1/sessions", create_session, methods=["POST"]),
        Route("/v1/sessions/{session_id}", get_session, methods=["GET"]),
        Route("/v1/sessions/{session_id}/events/batch", add_session_events, methods=["POST"]),
        Route("/v1/events", create_event, methods=["POST"]),
        Route("/v1/events/batch", create_event_batch, methods=["POST"]),
        Route("/v1/events/search", search_events, methods=["POST"]),
        Route("/v1/events/{event_id}", get_event, methods=["GET"]),
        Route("/v1/events/{event_id}", update_event, methods=["PUT"]),
    ]
