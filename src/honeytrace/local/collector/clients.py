"""The other REST routes HoneyHive's clients call (its Python SDK's ``events.export``, the
generated ``Sessions`` and ``Events`` services):

- ``POST /v1/events/export``: ``{filters, dateRange?, projections?, limit, page}`` ->
  ``{events, count}``; ``POST /events/export`` (legacy) answers ``totalEvents`` too. Filters are
  those of ``/v1/events/search``; ``dateRange`` is ``{"$gte", "$lte"}`` (ISO 8601) or
  ``{"start_time", "end_time"}``; ``projections`` keeps only the named fields (a dotted name
  keeps one key of an object: ``metadata.user``); ``limit`` 1..7500 (default 1000). Unknown
  keys (``project``, ``ignore_order``, ...) are ignored, as the hosted API does.
- ``GET /session/{session_id}``: the session with its nested events, like
  ``GET /v1/sessions/{session_id}``.
- ``POST /events/model`` (``{"model_event": {...}}``) and ``POST /events/model/batch``
  (``{"model_events": [...], "is_single_session"?, "session_properties"?}``): the legacy model
  event, whose own fields land where a model event keeps them: ``model``, ``provider``,
  ``model_name``, ``model_version``, ``hyperparameters``, ``template``, ``tools``,
  ``tool_choice``, ``response_format`` in ``config``; ``messages`` and ``template_inputs`` in
  ``inputs``; ``response`` as ``outputs`` (a non-object as ``{"content": ...}``); ``usage`` and
  ``cost`` in ``metrics``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from honeytrace._deliver.models import SearchFilter
from honeytrace.local.collector import v1
from honeytrace.local.collector._http import ApiError, store_of, validate

__all__ = ["routes"]

_MAX_EXPORT = 7500
_FILTER_TYPES = frozenset({"string", "number", "boolean", "datetime"})
_CONFIG_FIELDS = (
    "model",
    "provider",
    "model_name",
    "model_version",
    "template",
    "tools",
    "tool_choice",
    "response_format",
)
_EVENT_FIELDS = (
    "event_id",
    "session_id",
    "parent_id",
    "children_ids",
    "event_name",
    "source",
    "project_id",
    "error",
    "start_time",
    "end_time",
    "duration",
    "config",
    "inputs",
    "outputs",
    "metadata",
    "feedback",
    "metrics",
    "user_properties",
)


# -- export ---------------------------------------------------------------------------------


async def export_events(request: Request) -> Response:
    """``POST /v1/events/export``: ``{events, count}``."""
    events, count = await _export(request)
    return JSONResponse({"events": events, "count": count})


async def export_events_legacy(request: Request) -> Response:
    """``POST /events/export``: ``{events, totalEvents}`` (and ``count``)."""
    events, count = await _export(request)
    return JSONResponse({"events": events, "totalEvents": count, "count": count})


async def _export(request: Request) -> tuple[list[dict[str, Any]], int]:
    body = _object(await request.body())
    filters = [
        _filter(item, index) for index, item in enumerate(_list(body.get("filters"), "filters"))
    ]
    limit = _int(body.get("limit"), "limit", 1000, 1, _MAX_EXPORT)
    page = _int(body.get("page"), "page", 1, 1, None)
    projections = [str(name) for name in _list(body.get("projections"), "projections")]
    store = store_of(request)
    try:
        events, count = await store.call(
            "search", filters, _date_range(body.get("dateRange")), limit, page
        )
    except ValueError as exc:
        raise ApiError(400, f"invalid export: {exc}", "VALIDATION_ERROR") from None
    if projections:
        events = [_project(event, projections) for event in events]
    return events, count


def _object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise ApiError(400, f"malformed JSON body: {exc}", "INVALID_JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid body: body: must be an object", "VALIDATION_ERROR")
    return body


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(400, f"invalid body: {name}: must be a list", "VALIDATION_ERROR")
    return value


def _int(value: Any, name: str, default: int, low: int, high: int | None) -> int:
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # the generated client sends numbers as floats
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ApiError(
            400, f"invalid body: {name}: must be an integer >= {low}", "VALIDATION_ERROR"
        )
    return value if high is None else min(value, high)


def _filter(item: Any, index: int) -> dict[str, Any]:
    if isinstance(item, dict):
        item = dict(item)
        if item.get("type") not in _FILTER_TYPES:
            item.pop("type", None)  # "id" and other hosted types compare as given
        v1.lower_ids(item)
    return validate(SearchFilter, item, f"filters[{index}]").model_dump(exclude_unset=True)


def _date_range(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid body: dateRange: must be an object", "VALIDATION_ERROR")
    start = value.get("$gte", value.get("gte", value.get("start_time")))
    end = value.get("$lte", value.get("lte", value.get("end_time")))
    found = {key: item for key, item in (("start_time", start), ("end_time", end)) if item}
    return found or None


def _project(event: dict[str, Any], projections: list[str]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name in projections:
        head, _, tail = name.partition(".")
        if head not in event:
            continue
        if not tail:
            kept[head] = event[head]
        elif isinstance(event[head], dict) and tail in event[head]:
            target = kept.setdefault(head, {})
            if isinstance(target, dict):
                target[tail] = event[head][tail]
    return kept


# -- sessions -------------------------------------------------------------------------------


async def get_session(request: Request) -> Response:
    """``GET /session/{session_id}``: as ``GET /v1/sessions/{session_id}``."""
    return await v1.get_session(request)


# -- model events ---------------------------------------------------------------------------


def model_event(raw: Any, where: str) -> dict[str, Any]:
    """A legacy model event as an event body (see the module doc)."""
    if not isinstance(raw, dict):
        raise ApiError(400, f"invalid body: {where}: must be an object", "VALIDATION_ERROR")
    event: dict[str, Any] = {key: raw[key] for key in _EVENT_FIELDS if raw.get(key) is not None}
    for key in ("config", "inputs", "outputs", "metadata", "feedback", "metrics"):
        if key in event and not isinstance(event[key], dict):
            raise ApiError(
                400, f"invalid body: {where}.{key}: must be an object", "VALIDATION_ERROR"
            )
    event["event_type"] = "model"
    config = dict(event.get("config") or {})
    hyperparameters = raw.get("hyperparameters")
    if isinstance(hyperparameters, dict):
        config.update(hyperparameters)
    config.update({key: raw[key] for key in _CONFIG_FIELDS if raw.get(key) is not None})
    event["config"] = config
    inputs = dict(event.get("inputs") or {})
    for key in ("messages", "template_inputs"):
        if raw.get(key) is not None:
            inputs[key] = raw[key]
    event["inputs"] = inputs
    response = raw.get("response")
    if response is not None and "outputs" not in event:
        event["outputs"] = response if isinstance(response, dict) else {"content": response}
    metrics = dict(event.get("metrics") or {})
    usage = raw.get("usage")
    if isinstance(usage, dict):
        metrics.update(usage)
    if raw.get("cost") is not None:
        metrics["cost"] = raw["cost"]
    if metrics:
        event["metrics"] = metrics
    if "event_name" not in event and raw.get("model"):
        event["event_name"] = str(raw["model"])
    v1.check_ids([event], where)
    return v1.whole_times(event)


async def create_model_event(request: Request) -> Response:
    """``POST /events/model``: ``{"success": true, "event_id"}``."""
    body = _object(await request.body())
    event = model_event(body.get("model_event"), "model_event")
    event_id = await store_of(request).call("add_event", event)
    return JSONResponse({"success": True, "event_id": event_id})


async def create_model_event_batch(request: Request) -> Response:
    """``POST /events/model/batch``: like ``POST /events/batch``."""
    body = _object(await request.body())
    raw = _list(body.get("model_events"), "model_events")
    events = [model_event(item, f"model_events[{index}]") for index, item in enumerate(raw)]
    single = bool(body.get("single_session") or body.get("is_single_session"))
    properties = body.get("session_properties") or body.get("session")
    if properties is not None and not isinstance(properties, dict):
        raise ApiError(
            400, "invalid body: session_properties: must be an object", "VALIDATION_ERROR"
        )
    return await v1.add_batch(request, events, single, properties)


def routes() -> list[Route]:
    """The client routes (registered before the v1 and legacy ones)."""
    return [
        Route("/v1/events/export", export_events, methods=["POST"]),
        Route("/events/export", export_events_legacy, methods=["POST"]),
        Route("/events/model", create_model_event, methods=["POST"]),
        Route("/events/model/batch", create_model_event_batch, methods=["POST"]),
        Route("/session/{session_id}", get_session, methods=["GET"]),
    ]
