"""OTLP trace requests read into store writes: decoding (protobuf or JSON, with the
``opentelemetry-proto`` package), and spans turned into events with the project's one OTel
mapping (:func:`honeytrace.otel.mapping.map_span_data`).

Ids and the tree:

- an event's id is a UUIDv5 of its trace and span ids, so a span sent twice is one event, and a
  child's ``parent_id`` (from ``parentSpanId``) is its parent's event id whichever arrives first;
- a span's session is the one its attributes name (``honeyhive.session_id``,
  ``traceloop.association.properties.session_id``: HoneyHive's tracers), else the one another
  span of its trace named (in this request or an earlier one), else the trace itself: a session
  whose id is a UUIDv5 of the trace id, named after the trace's root span;
- spans of a trace stored in the trace's own session move to the session a later span of the
  trace names, so the order of arrival does not matter;
- a root span (no parent) hangs from its session. The session row is a placeholder (what
  :meth:`Store.add_events` makes for events that come first) that the root span names and
  times; a later ``POST /v1/sessions`` or ``/session/start`` with that id still fills it in.

Everything here is plain CPU work and runs in the threadpool, off the event loop.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from honeytrace.local.rows import is_uuid
from honeytrace.otel.mapping import SpanData, SpanEvent, map_span_data

__all__ = ["Converted", "OtlpDecodeError", "SessionLinks", "convert", "decode"]

NAMESPACE = uuid.UUID("5b0f5a8e-2d1c-4c1e-9f6a-7d3b8e4c2a10")
"""Of the UUIDv5 ids made from trace and span ids (any fixed value would do)."""

_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_ERROR = Status.StatusCode.STATUS_CODE_ERROR


class OtlpDecodeError(ValueError):
    """The body is not an OTLP ``ExportTraceServiceRequest``: answered 400."""


def decode(body: bytes, json_body: bool) -> ExportTraceServiceRequest:
    """Parse an OTLP/HTTP trace body; :class:`OtlpDecodeError` says what is wrong."""
    message = ExportTraceServiceRequest()
    if not json_body:
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise OtlpDecodeError(f"malformed protobuf body: {exc}") from None
        return message
    try:
        data = json.loads(body or b"{}")
    except ValueError as exc:
        raise OtlpDecodeError(f"malformed JSON body: {exc}") from None
    if not isinstance(data, dict):
        raise OtlpDecodeError("malformed JSON body: expected an object")
    try:
        _hex_ids_to_base64(data)
        json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError, AttributeError) as exc:
        raise OtlpDecodeError(f"invalid OTLP JSON: {exc}") from None
    return message


def _hex_ids_to_base64(data: dict[str, Any]) -> None:
    """OTLP JSON writes trace and span ids as hex, where protobuf's JSON mapping (which
    ``ParseDict`` follows) expects base64: converted in place. An id that is not hex is left
    for the parser (some clients send base64); ``null`` stays null (an absent parent)."""
    for resource in _items(data, "resourceSpans", "resource_spans"):
        for scope in _items(resource, "scopeSpans", "scope_spans"):
            for span in _items(scope, "spans"):
                _convert_ids(span)
                for link in _items(span, "links"):
                    _convert_ids(link)


def _items(parent: Any, *keys: str) -> list[Any]:
    if not isinstance(parent, dict):
        return []
    for key in keys:
        value = parent.get(key)
        if isinstance(value, list):
            return value
    return []


def _convert_ids(span: Any) -> None:
    if not isinstance(span, dict):
        return
    for key in _ID_FIELDS:
        value = span.get(key)
        if isinstance(value, str) and value and len(value) in (16, 32):
            with contextlib.suppress(ValueError):  # not hex: left for the parser
                span[key] = base64.b64encode(bytes.fromhex(value)).decode()


# -- spans to events ------------------------------------------------------------------------


class SessionLinks:
    """Which session each recent trace went to (bounded, most recent kept), so that spans of a
    trace sent in a later request without a session attribute join the session another of its
    spans named."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, str] = OrderedDict()

    def get(self, trace_id: str) -> str | None:
        """The session a span of this trace named, if known."""
        with self._lock:
            return self._sessions.get(trace_id)

    def put(self, trace_id: str, session_id: str) -> None:
        """Remember the session a span of this trace named."""
        with self._lock:
            self._sessions[trace_id] = session_id
            self._sessions.move_to_end(trace_id)
            while len(self._sessions) > self._capacity:
                self._sessions.popitem(last=False)


@dataclass
class Converted:
    """A request's spans as store writes, and what was rejected."""

    events: list[dict[str, Any]] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Placeholder sessions to name and time: session id -> fields of its root span."""
    moves: dict[str, str] = field(default_factory=dict)
    """Trace sessions whose events (stored by an earlier request) join the session a span of
    the trace named in this one: trace session id -> named session id."""
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)


@dataclass
class _Span:
    trace: str
    span: str
    parent: str | None
    data: SpanData
    start_ns: int
    end_ns: int
    source: str


def convert(message: ExportTraceServiceRequest, links: SessionLinks) -> Converted:
    """Every valid span of the request as an event body; a span with a malformed trace or
    span id is rejected (counted, with the reason), the others are kept."""
    result = Converted()
    spans: list[_Span] = []
    for resource_spans in message.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        service = resource.get("service.name")
        source = str(service) if isinstance(service, str) and service else "otlp"
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name or None
            for raw in scope_spans.spans:
                if len(raw.trace_id) != 16 or len(raw.span_id) != 8:
                    result.rejected += 1
                    reason = f"span {raw.name!r}: trace_id must be 16 bytes and span_id 8"
                    if reason not in result.reasons:
                        result.reasons.append(reason)
                    continue
                spans.append(_read_span(raw, scope, source))
    mapped = [map_span_data(span.data) for span in spans]
    # The session each trace belongs to: named by one of its spans, here or before.
    named: dict[str, str] = {}
    for span, fields in zip(spans, mapped, strict=True):
        if fields.session_id and span.trace not in named:
            named[span.trace] = _session_uuid(fields.session_id)
    for trace, session_id in named.items():
        links.put(trace, session_id)
        result.moves[_trace_session(trace)] = session_id
    for span, fields in zip(spans, mapped, strict=True):
        session_id = (
            (_session_uuid(fields.session_id) if fields.session_id else None)
            or named.get(span.trace)
            or links.get(span.trace)
            or _trace_session(span.trace)
        )
        event_id = str(uuid.uuid5(NAMESPACE, span.trace + span.span))
        end_ns = span.end_ns or span.start_ns
        start_ms, end_ms = _ms(span.start_ns), _ms(end_ns)
        duration = fields.duration if fields.duration is not None else _ms(end_ns - span.start_ns)
        event: dict[str, Any] = {
            "event_id": event_id,
            "session_id": session_id,
            "parent_id": (
                str(uuid.uuid5(NAMESPACE, span.trace + span.parent)) if span.parent else session_id
            ),
            "event_type": fields.event_type,
            "event_name": fields.event_name or span.data.name,
            "source": fields.source or span.source,
            "start_time": start_ms,
            "end_time": end_ms,
            "duration": duration,
            "inputs": fields.inputs,
            "error": fields.error,
        }
        for key in ("outputs", "config", "metrics", "metadata", "feedback", "user_properties"):
            value = getattr(fields, key)
            if value:
                event[key] = value
        if fields.traceback:
            event.setdefault("metadata", {})["traceback"] = fields.traceback
        result.events.append(event)
        if span.parent is None:  # a root span names and times its (placeholder) session
            result.sessions.setdefault(
                session_id,
                {
                    "event_name": fields.session_name or span.data.name,
                    "source": fields.source or span.source,
                    "start_time": start_ms,
                    "end_time": end_ms,
                    "duration": duration,
                },
            )
        elif fields.session_name and session_id not in result.sessions:
            result.sessions[session_id] = {"event_name": fields.session_name}
    return result


def _ms(nanoseconds: int) -> int | float:
    """Epoch milliseconds: an int when whole, else a float to the microsecond (a float of
    nanoseconds / 1e6 would be off in its last digits at today's epoch)."""
    whole, rest = divmod(nanoseconds, 1_000_000)
    return whole if not rest else whole + round(rest / 1_000_000, 3)


def _trace_session(trace: str) -> str:
    """The session of a trace that names none."""
    return str(uuid.uuid5(NAMESPACE, "trace:" + trace))


def _session_uuid(value: str) -> str:
    """A session id as stored: a UUID in lower case; any other text as a UUIDv5 of itself, so
    that one name always means one session."""
    return value.lower() if is_uuid(value) else str(uuid.uuid5(NAMESPACE, "session:" + value))


def _read_span(span: Span, scope: str | None, source: str) -> _Span:
    trace = span.trace_id.hex()
    events = [SpanEvent(event.name, _attributes(event.attributes)) for event in span.events]
    kind = Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_") if span.kind else "INTERNAL"
    data = SpanData(
        name=span.name,
        attributes=_attributes(span.attributes),
        events=events,
        kind="INTERNAL" if kind == "UNSPECIFIED" else kind,
        error=span.status.code == _ERROR,
        status_message=span.status.message,
        trace_id=int.from_bytes(span.trace_id, "big"),
        span_id=int.from_bytes(span.span_id, "big"),
        scope=scope,
    )
    parent = span.parent_span_id.hex() if len(span.parent_span_id) == 8 else None
    if parent == "0000000000000000":
        parent = None
    return _Span(
        trace,
        span.span_id.hex(),
        parent,
        data,
        span.start_time_unix_nano,
        span.end_time_unix_nano,
        source,
    )


def _attributes(values: Iterable[KeyValue]) -> dict[str, Any]:
    return {item.key: _value(item.value) for item in values}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(_value(item) for item in value.array_value.values)
    if kind == "kvlist_value":
        return {item.key: _value(item.value) for item in value.kvlist_value.values}
    if kind == "bytes_value":
        return binascii.hexlify(value.bytes_value).decode()
    return getattr(value, kind)
