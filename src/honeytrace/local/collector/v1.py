"""The HoneyHive v1 routes of the collector, over the embedded store.

The write routes are as strict as the hosted API: bodies are validated with the very models of
``_deliver.models``, so an unknown field, a string time or a bad ``event_type`` is a 400
naming the field. Every write is committed before it is answered. The helpers the legacy routes
share (:func:`start_session`, :func:`add_batch`, :func:`apply_update`) live here too.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from typing import Any

from starlette.concurrency import run_in_threadpool
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
from honeytrace.local.collector.bodies import TypedBody, parse_typed
from honeytrace.local.collector.rowbatch import prepare_rows, write_rows

__all__ = [
    "IDENTITY",
    "add_batch",
    "apply_update",
    "check_ids",
    "lower_ids",
    "routes",
    "start_session",
    "whole_times",
    "with_project",
]

IDENTITY = {"org_id": "local", "workspace_id": "local", "project_id": "local"}
"""What the hosted API derives from the key; a local collector has one fixed project."""

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# The shape of a UUID line: each hex digit becomes "0"; "-" and the newline stay; any other
# byte becomes "x" (see _all_uuids).
_UUID_SHAPE = b"00000000-0000-0000-0000-000000000000"
_SHAPE_OF = bytes(
    ord("0") if chr(byte) in "0123456789abcdefABCDEF" else byte if chr(byte) in "-\n" else ord("x")
    for byte in range(256)
)
_ID_FIELDS = ("event_id", "session_id", "parent_id")
_TIMES = ("start_time", "end_time", "duration")
# The batch routes validate into dicts (see .bodies): same rules, half the cost.
_SESSION_EVENTS = TypedBody(SessionEventBatch)
_EVENT_BATCH = TypedBody(EventBatch)


def check_ids(events: Iterable[dict[str, Any]], where: str) -> None:
    """400 naming the first event whose ``event_id``, ``session_id`` or ``parent_id`` is not a
    UUID: such an event could be stored but never read back (``GET /v1/events/{event_id}``
    takes UUIDs only), so it is refused on write. Case does not matter; ids are stored in
    lower case."""
    events = events if isinstance(events, list) else list(events)
    if _all_uuids(events):
        return  # the common case, checked in one regex match instead of one per id
    for index, event in enumerate(events):
        for key in _ID_FIELDS:
            value = event.get(key)
            if value is not None and not _UUID.fullmatch(value):
                place = f"{where}[{index}].{key}" if where else key
                raise ApiError(
                    400, f"invalid body: {place}: must be a UUID, got {value!r}", "INVALID_ID"
                )


def _all_uuids(events: list[dict[str, Any]]) -> bool:
    """True when every id of ``events`` is a UUID (what ``_UUID`` matches). The ids are joined
    by newlines and the text's shape (its bytes through ``_SHAPE_OF``) compared with that of
    as many UUID lines: one pass in C, where a regex match over the same text cost 0.6 us per
    event. The shapes are equal only when the newlines are the joins alone, each id then being
    36 characters of UUID shape."""
    ids = [value for event in events for value in map(event.get, _ID_FIELDS) if value is not None]
    if not ids:
        return True
    try:
        text = "\n".join(ids).encode("ascii")
    except (TypeError, UnicodeEncodeError):  # no string, or not ASCII: check_ids names it
        return False
    return text.translate(_SHAPE_OF) == b"\n".join([_UUID_SHAPE] * len(ids))


def lower_ids(search_filter: dict[str, Any]) -> dict[str, Any]:
    """A search filter on ``event_id``, ``session_id`` or ``parent_id`` with its value in lower
    case, as ids are stored: an id matches whatever its case."""
    value = search_filter.get("value")
    if search_filter.get("field") in _ID_FIELDS and isinstance(value, str):
        search_filter["value"] = value.lower()
    return search_filter


def whole_times(fields: dict[str, Any]) -> dict[str, Any]:
    """Times given as whole floats (the legacy models read floats) stored as ints again."""
    for key in _TIMES:
        value = fields.get(key)
        if isinstance(value, float) and value.is_integer():
            fields[key] = int(value)
    return fields


def with_project(event: dict[str, Any]) -> dict[str, Any]:
    """The event (and its nested ``children``) with the collector's ``project_id`` where none
    was stored, so that a read says what the create answered."""
    stack = [event]
    while stack:
        item = stack.pop()
        if item.get("project_id") is None:
            item["project_id"] = IDENTITY["project_id"]
        stack.extend(item.get("children") or ())
    return event


def lenient_session_times(raw: bytes) -> bytes:
    """The documented fallback of ``POST /v1/sessions``: the hosted server reads
    ``start_time``/``end_time`` as numbers only and silently takes the current time for a
    string, so a string time here is replaced by now rather than refused."""
    if b"_time" not in raw:
        return raw
    try:
        body = json.loads(raw)
    except ValueError:
        return raw  # parse_body reports it
    if not isinstance(body, dict):
        return raw
    changed = False
    for key in ("start_time", "end_time"):
        if isinstance(body.get(key), str):
            body[key] = time.time_ns() // 1_000_000
            changed = True
    return json.dumps(body).encode() if changed else raw


async def create_session(request: Request) -> Response:
    """``POST /v1/sessions``: create or merge a session; answers the session event."""
    body = parse_body(SessionStart, lenient_session_times(await request.body()))
    return await start_session(request, fields_of(body))


async def start_session(request: Request, session: dict[str, Any]) -> Response:
    """Create ``session`` and answer it as ``PostSessionStartResponse``."""
    stored = await store_of(request).call("create_session", session)
    return JSONResponse({**IDENTITY, **with_project(stored)})


async def add_session_events(request: Request) -> Response:
    """``POST /v1/sessions/{session_id}/events/batch``: the path's session wins."""
    session_id = require_uuid(request.path_params["session_id"], "session_id")
    raw = await request.body()

    def prepare() -> tuple[Any, ...]:
        events: list[dict[str, Any]] = parse_typed(_SESSION_EVENTS, raw)["events"]
        check_ids(events, "events")
        return (prepare_rows(session_id, events),)  # the rows too, before the turn to write

    await store_of(request).call_prepared(write_rows, prepare)
    return JSONResponse({"success": True})


async def create_event(request: Request) -> Response:
    """``POST /v1/events``: one event; without a session id it starts a session of its own."""
    event = fields_of(parse_body(Event, await request.body()))
    check_ids([event], "")
    event_id = await store_of(request).call("add_event", event)
    return JSONResponse({"success": True, "event_id": event_id})


def _event_batch(raw: bytes) -> tuple[list[dict[str, Any]], bool, dict[str, Any] | None]:
    batch = parse_typed(_EVENT_BATCH, raw)
    check_ids(batch["events"], "events")
    return batch["events"], bool(batch.get("single_session")), batch.get("session_properties")


async def create_event_batch(request: Request) -> Response:
    """``POST /v1/events/batch``: events of any sessions, or of one new session."""
    events, single, properties = await run_in_threadpool(_event_batch, await request.body())
    return await add_batch(request, events, single, properties)


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
    return JSONResponse({"event": with_project(event)})


async def get_session(request: Request) -> Response:
    """``GET /v1/sessions/{session_id}``: the session event with nested ``children`` and
    ``totals``, or 404."""
    session_id = require_uuid(request.path_params["session_id"], "session_id")
    tree = await store_of(request).call("session_tree", session_id)
    if tree is None:
        raise ApiError(404, f"no session with session_id {session_id}", "NOT_FOUND")
    return JSONResponse(with_project(tree))


async def search_events(request: Request) -> Response:
    """``POST /v1/events/search``: filters, ``dateRange``, ``limit`` (1..1000, default 1000),
    ``page`` (default 1); newest first. ``ignore_order`` and ``evaluation_id`` are accepted and
    ignored (a local store has no evaluation runs)."""
    search = parse_body(SearchRequest, await request.body())
    filters = [lower_ids(item.model_dump(exclude_unset=True)) for item in search.filters or []]
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
