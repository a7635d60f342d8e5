"""Pydantic models of the HoneyHive data-plane API: the single source of the wire contract.

They mirror ``honeyhive-dataplane-tracing.yaml`` (API 1.2.1). The request models of the v1
write routes are strict, as the server is: an unknown field is an error, a time is a number
(never a string), and object fields are objects. The flusher validates what it sends against
them, and the local collector validates what it receives with the very same classes.

The legacy routes and the update route accept unknown fields (the server ignores them), so their
models allow extras.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    TypeAdapter,
)
from typing_extensions import NotRequired, Required, TypedDict

__all__ = [
    "DateRange",
    "ErrorBody",
    "Event",
    "EventBatch",
    "EventBatchResponse",
    "EventType",
    "EventUpdate",
    "GetEventResponse",
    "LegacyEvent",
    "LegacyEventBatch",
    "LegacyEventUpdate",
    "LegacyPostEvent",
    "LegacySessionStart",
    "LegacySessionTraces",
    "Number",
    "PostEventResponse",
    "SearchFilter",
    "SearchRequest",
    "SearchResponse",
    "SessionEventBatch",
    "SessionProperties",
    "SessionStart",
    "SessionStartResponse",
    "SuccessResponse",
    "body_validator",
]

EventType = Literal["model", "tool", "chain", "session"]
"""The four kinds of event; a session is itself an event of type ``session``."""

Number = StrictInt | StrictFloat
"""A JSON number that is not a bool and not a numeric string (the server reads times as int64)."""

JsonObject = dict[str, Any]

_STRICT = ConfigDict(extra="forbid", strict=True)
_LENIENT = ConfigDict(extra="allow")


class Event(BaseModel):
    """One event as sent to ``POST /v1/events`` or inside a batch (``PostEventRequest``)."""

    model_config = _STRICT

    event_type: EventType
    inputs: JsonObject
    project_id: str | None = None
    source: str | None = None
    event_name: str | None = None
    event_id: str | None = None
    session_id: str | None = None
    parent_id: str | None = None
    children_ids: list[str] | None = None
    config: JsonObject | None = None
    outputs: JsonObject | None = None
    error: str | None = None
    start_time: Number | None = None
    end_time: Number | None = None
    duration: Number | None = None
    metadata: JsonObject | None = None
    feedback: JsonObject | None = None
    metrics: JsonObject | None = None
    user_properties: JsonObject | None = None


class SessionStart(BaseModel):
    """The bare session object of ``POST /v1/sessions`` (``StartSessionRequest``)."""

    model_config = _STRICT

    session_id: str | None = None
    session_name: str | None = None
    event_name: str | None = None
    source: str | None = None
    start_time: Number | None = None
    end_time: Number | None = None
    duration: Number | None = None
    config: JsonObject | None = None
    inputs: JsonObject | None = None
    outputs: JsonObject | None = None
    metadata: JsonObject | None = None
    user_properties: JsonObject | None = None
    children_ids: list[str] | None = None


class SessionEventBatch(BaseModel):
    """Body of ``POST /v1/sessions/{session_id}/events/batch``."""

    model_config = _STRICT

    events: list[Event]


class EventUpdate(BaseModel):
    """Body of ``PUT /v1/events/{event_id}``; the server ignores fields it does not know."""

    model_config = ConfigDict(extra="ignore", strict=True)

    metadata: JsonObject | None = None
    feedback: JsonObject | None = None
    metrics: JsonObject | None = None
    config: JsonObject | None = None
    user_properties: JsonObject | None = None
    outputs: JsonObject | None = None
    duration: Number | None = None
    end_time: Number | None = None
    children_ids: list[str] | None = None


class SessionProperties(BaseModel):
    """The session described by ``session_properties`` of ``POST /v1/events/batch``."""

    model_config = ConfigDict(extra="allow", strict=True)

    session_name: str | None = None
    start_time: Number | None = None
    user_properties: JsonObject | None = None
    metadata: JsonObject | None = None


class EventBatch(BaseModel):
    """Body of ``POST /v1/events/batch`` (events of any sessions, or one new session)."""

    model_config = _STRICT

    events: list[Event]
    single_session: StrictBool | None = None
    session_properties: SessionProperties | None = None


class SearchFilter(BaseModel):
    """One filter of ``POST /v1/events/search``."""

    model_config = _STRICT

    field: str
    operator: Literal[
        "exists",
        "not exists",
        "is",
        "is not",
        "contains",
        "not contains",
        "greater than",
        "less than",
        "after",
        "before",
    ]
    value: str | StrictInt | StrictFloat | StrictBool | None
    type: Literal["string", "number", "boolean", "datetime"] | None = None


class DateRange(BaseModel):
    """An inclusive range of start times, as ISO 8601 strings."""

    model_config = _STRICT

    start_time: str
    end_time: str


class SearchRequest(BaseModel):
    """Body of ``POST /v1/events/search``."""

    model_config = _STRICT

    filters: list[SearchFilter] | None = None
    dateRange: DateRange | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] | None = None
    page: Annotated[int, Field(ge=1)] | None = None
    ignore_order: StrictBool | None = None
    evaluation_id: str | None = None


# --- legacy routes: accepted permissively --------------------------------------------------


class LegacyEvent(BaseModel):
    """An event on the legacy routes: unknown fields are kept, ``project`` is tolerated."""

    model_config = _LENIENT

    event_type: EventType | None = None
    inputs: JsonObject | None = None
    event_id: str | None = None
    session_id: str | None = None
    parent_id: str | None = None
    event_name: str | None = None
    source: str | None = None
    children_ids: list[str] | None = None
    config: JsonObject | None = None
    outputs: JsonObject | None = None
    error: str | None = None
    start_time: float | None = None
    end_time: float | None = None
    duration: float | None = None
    metadata: JsonObject | None = None
    feedback: JsonObject | None = None
    metrics: JsonObject | None = None
    user_properties: JsonObject | None = None


class LegacySessionStart(BaseModel):
    """Body of the legacy ``POST /session/start``: the session under a ``session`` key."""

    model_config = _LENIENT

    session: dict[str, Any]


class LegacyPostEvent(BaseModel):
    """Body of the legacy ``POST /events``: the event under an ``event`` key."""

    model_config = _LENIENT

    event: LegacyEvent


class LegacySessionTraces(BaseModel):
    """Body of the legacy ``POST /session/{session_id}/traces``: ``logs`` or ``events``."""

    model_config = _LENIENT

    logs: list[LegacyEvent] | None = None
    events: list[LegacyEvent] | None = None


class LegacyEventBatch(BaseModel):
    """Body of the legacy ``POST /events/batch``."""

    model_config = _LENIENT

    events: list[LegacyEvent]
    single_session: bool | None = None
    is_single_session: bool | None = None
    session: dict[str, Any] | None = None
    session_properties: dict[str, Any] | None = None


class LegacyEventUpdate(BaseModel):
    """Body of the legacy ``PUT /events``: the update with ``event_id`` in the body."""

    model_config = _LENIENT

    event_id: str
    metadata: JsonObject | None = None
    feedback: JsonObject | None = None
    metrics: JsonObject | None = None
    config: JsonObject | None = None
    user_properties: JsonObject | None = None
    outputs: JsonObject | None = None
    duration: float | None = None
    end_time: float | None = None
    children_ids: list[str] | None = None


# --- responses ------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """The JSON error shape of every non-2xx answer."""

    statusCode: int
    message: str
    success: bool = False
    errorCode: str | None = None


class SuccessResponse(BaseModel):
    """``{"success": true}``, the answer of the session event batch route."""

    success: bool


class PostEventResponse(BaseModel):
    """Answer of ``POST /v1/events``."""

    success: bool
    event_id: str


class EventBatchResponse(BaseModel):
    """Answer of ``POST /v1/events/batch``."""

    event_ids: list[str]
    success: bool
    session_id: str | None = None


class SessionStartResponse(BaseModel):
    """Answer of ``POST /v1/sessions``: the session event."""

    model_config = ConfigDict(extra="allow")

    event_id: str
    session_id: str
    org_id: str
    workspace_id: str
    project_id: str


class GetEventResponse(BaseModel):
    """Answer of ``GET /v1/events/{event_id}``."""

    event: dict[str, Any]


class SearchResponse(BaseModel):
    """Answer of ``POST /v1/events/search``."""

    events: list[dict[str, Any]]
    count: int


def body_validator(model: type[BaseModel]) -> TypeAdapter[Any]:
    """A validator of plain dict bodies with exactly the rules of ``model`` (its fields, which
    are required, extra and strictness) that returns the dict instead of building a model
    instance: about three times cheaper, for the flusher, which checks every body it sends."""
    fields: dict[str, Any] = {
        name: Required[field.annotation] if field.is_required() else NotRequired[field.annotation]
        for name, field in model.model_fields.items()
    }
    body = TypedDict(f"{model.__name__}Body", fields)  # type: ignore[misc]
    body.__pydantic_config__ = ConfigDict(  # type: ignore[attr-defined]
        extra=model.model_config.get("extra"), strict=bool(model.model_config.get("strict"))
    )
    return TypeAdapter(body)
