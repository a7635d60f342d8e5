"""``honeytrace export``: the store's events as JSON Lines or as OTLP/JSON.

- ``jsonl``: one event per line with every field the store holds (the API's event shape), each
  session's own row (``event_type`` "session") first, sessions oldest first.
- ``otlp-json``: one OTLP ``ExportTraceServiceRequest`` in its JSON encoding, as an OTLP/HTTP
  collector accepts it (``POST /v1/traces`` with ``Content-Type: application/json``). A session
  is a trace whose root span is the session; ids are derived from the UUIDs (the trace id is the
  session's 128 bits, a span id the low 64 bits of the event's), times are unix nanoseconds as
  strings, and attributes carry HoneyHive's own names (``honeyhive_event_type``,
  ``honeyhive_inputs.*``, ...; see :mod:`honeytrace.otel.mapping`).

``--since`` keeps whole sessions that started at or after a time: ``2025-01-31``,
``2025-01-31T14:05``, ``2025-01-31 14:05:09+02:00`` (no offset: local time), or a time ago,
``90s``, ``30m``, ``1h``, ``2d``, ``1w``. Both formats stream: one event in memory at a time.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TextIO, TypeGuard

from honeytrace._version import __version__
from honeytrace.local.format import safe_json
from honeytrace.otel.export_attributes import honeyhive_attributes, otel_span_id, otel_trace_id

__all__ = ["FORMATS", "parse_since", "write_jsonl", "write_otlp_json"]

FORMATS = ("jsonl", "otlp-json")

_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_since(text: str, now: float | None = None) -> float:
    """``--since`` as epoch milliseconds; raises :class:`ValueError` with what is accepted."""
    if text.strip().isdigit():  # epoch milliseconds already, as the store keeps times
        return float(text)
    ago = _AGO.match(text)
    if ago:
        seconds = float(ago.group(1)) * _UNIT_SECONDS[ago.group(2).lower()]
        return ((time.time() if now is None else now) - seconds) * 1000
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected an ISO date or time (2025-01-31, "
            "2025-01-31T14:05, 2025-01-31 14:05:09+02:00), a time ago (30m, 1h, 2d, 1w) or "
            "epoch milliseconds"
        ) from None
    return moment.timestamp() * 1000  # a naive time is local time, as `sessions` shows them


def write_jsonl(events: Iterable[Mapping[str, Any]], out: TextIO) -> int:
    """One event per line; returns how many were written."""
    count = 0
    for event in events:
        out.write(safe_json(event) + "\n")
        count += 1
    return count


def write_otlp_json(events: Iterable[Mapping[str, Any]], out: TextIO) -> int:
    """One ``ExportTraceServiceRequest`` holding a span per event; returns how many spans.
    Written as it goes, so the request is never built whole in memory."""
    resource = {"attributes": [_attribute("service.name", "honeytrace")]}
    scope = {"name": "honeytrace", "version": __version__}
    out.write('{"resourceSpans":[{"resource":' + safe_json(resource))
    out.write(',"scopeSpans":[{"scope":' + safe_json(scope) + ',"spans":[')
    count = 0
    for event in events:
        out.write(("," if count else "") + "\n" + safe_json(_span(event)))
        count += 1
    out.write("\n]}]}]}\n")
    return count


def _span(event: Mapping[str, Any]) -> dict[str, Any]:
    session_id, event_id = str(event["session_id"]), str(event["event_id"])
    start = _nanos(event.get("start_time"))
    end = _nanos(event.get("end_time"))
    duration = event.get("duration")
    if end is None and start is not None and _is_number(duration):
        end = start + int(duration * 1_000_000)
    span: dict[str, Any] = {
        "traceId": otel_trace_id(session_id),
        "spanId": otel_span_id(event_id),
        "name": str(event.get("event_name") or "unknown"),
        "kind": 1,  # SPAN_KIND_INTERNAL
        "startTimeUnixNano": str(start or 0),
        "endTimeUnixNano": str(end if end is not None else start or 0),
        "attributes": [_attribute(key, value) for key, value in honeyhive_attributes(event)],
    }
    parent = event.get("parent_id")
    if event_id != session_id:  # the session is the root; its events hang from it or below
        span["parentSpanId"] = otel_span_id(str(parent or session_id))
    if event.get("error"):
        span["status"] = {"code": 2, "message": str(event["error"])}  # STATUS_CODE_ERROR
    return span


def _attribute(key: str, value: Any) -> dict[str, Any]:
    """A ``KeyValue`` with an ``AnyValue`` in OTLP's JSON encoding (64-bit ints as strings)."""
    if isinstance(value, bool):
        typed: dict[str, Any] = {"boolValue": value}
    elif isinstance(value, int):
        typed = (
            {"intValue": str(value)}
            if -(1 << 63) <= value < 1 << 63
            else {"stringValue": str(value)}
        )
    elif isinstance(value, float):
        # JSON has no NaN or infinity; the protobuf JSON mapping spells them as strings.
        typed = {"doubleValue": value if math.isfinite(value) else _NON_FINITE[repr(value)]}
    else:
        typed = {"stringValue": str(value)}
    return {"key": key, "value": typed}


_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _nanos(ms: object) -> int | None:
    """Epoch milliseconds (an int, or a float with a fraction) as nanoseconds, exactly for ints."""
    if not _is_number(ms):
        return None
    if isinstance(ms, int):
        return ms * 1_000_000
    assert isinstance(ms, float)
    return round(ms * 1000) * 1000  # microsecond precision: what a double of ms can carry


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
