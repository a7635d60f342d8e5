"""Honeytrace events as OTel spans: HoneyHive's own span attributes and the span/trace ids.

The way back from :mod:`.mapping` (which reads spans into events): ``honeytrace export --format
otlp-json`` writes events with the attributes HoneyHive's tracers set, so what HoneyHive's OTLP
route or any OTLP collector reads back is what honeytrace recorded; propagation sends the same
ids in ``traceparent``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["honeyhive_attributes", "otel_span_id", "otel_trace_id"]


# HoneyHive's tracers (Python and TypeScript SDKs) set these on their spans; `honeytrace export
# --format otlp-json` writes events the same way, so what HoneyHive's OTLP route or any OTLP
# collector reads back is what honeytrace recorded. Object fields are flattened the tracers'
# way: `honeyhive_inputs.query`, `honeyhive_outputs.result.0`.
HONEYHIVE_SCALARS = (
    ("event_type", "honeyhive_event_type"),
    ("event_name", "honeyhive_event_name"),
    ("event_id", "honeyhive_event_id"),
    ("session_id", "honeyhive_session_id"),
    ("source", "honeyhive_source"),
    ("project_id", "honeyhive_project"),
    ("error", "honeyhive_error"),
)
HONEYHIVE_OBJECTS = (
    ("inputs", "honeyhive_inputs"),
    ("outputs", "honeyhive_outputs"),
    ("config", "honeyhive_config"),
    ("metadata", "honeyhive_metadata"),
    ("metrics", "honeyhive_metrics"),
    ("feedback", "honeyhive_feedback"),
    ("user_properties", "honeyhive_user_properties"),
)

_MASK64 = (1 << 64) - 1


def honeyhive_attributes(event: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The span attributes of a honeytrace event, as HoneyHive's tracers name them; values are
    str, int, float or bool (anything else as its JSON text)."""
    attributes: list[tuple[str, Any]] = []
    for field_name, key in HONEYHIVE_SCALARS:
        value = event.get(field_name)
        if value is not None and value != "":
            attributes.append((key, value))
    for field_name, key in HONEYHIVE_OBJECTS:
        _flatten(key, event.get(field_name), attributes)
    return attributes


def _flatten(prefix: str, value: Any, into: list[tuple[str, Any]]) -> None:
    stack = [(prefix, value)]  # iterative: stored values can nest deeper than recursion allows
    while stack:
        key, item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend((f"{key}.{name}", inner) for name, inner in reversed(list(item.items())))
        elif isinstance(item, list | tuple):
            stack.extend(
                (f"{key}.{index}", inner) for index, inner in reversed(list(enumerate(item)))
            )
        elif isinstance(item, str | bool | int | float):
            into.append((key, item))
        elif item is not None:
            into.append((key, json.dumps(item, default=str)))


def otel_trace_id(session_id: str) -> str:
    """The 32-hex-digit trace id of a session: its UUID's own 128 bits (a non-UUID id is
    hashed). ``honeytrace.otel.propagation`` sends the same in ``traceparent``."""
    try:
        return uuid.UUID(session_id).hex
    except ValueError:
        return hashlib.sha256(session_id.encode()).hexdigest()[:32]


def otel_span_id(event_id: str) -> str:
    """The 16-hex-digit span id of an event: the low 64 bits of its UUID (never zero, which
    OTLP reserves for "no span"); a non-UUID id is hashed."""
    try:
        number = uuid.UUID(event_id).int & _MASK64
    except ValueError:
        number = int(hashlib.sha256(event_id.encode()).hexdigest()[:16], 16)
    return f"{number or 1:016x}"
