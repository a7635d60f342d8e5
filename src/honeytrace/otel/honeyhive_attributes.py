"""The HoneyHive tracers' own span attributes, part of the mapping in :mod:`.mapping`.

HoneyHive's Python SDK (``honeyhive``, ``@trace``, ``enrich_span``) and its TypeScript SDK
(``traceFunction``, ``traceModel``, ...) describe an event in span attributes:

- the session: ``honeyhive.session_id`` (Python), else
  ``traceloop.association.properties.session_id`` (TypeScript, via Traceloop), also
  ``honeyhive_session_id``; its name ``honeyhive.session_name`` (or the Traceloop / underscore
  spellings);
- the event: ``honeyhive_event_type`` (``honeyhive_event_type_raw``), ``honeyhive_event_name``,
  ``honeyhive_event_id``, ``honeyhive_error``, ``honeyhive_duration_ms``, ``honeyhive.source``
  (``honeyhive_source``);
- its fields as dotted buckets ``honeyhive_{inputs,outputs,config,metadata,metrics,feedback,
  user_properties}.<path>``, one attribute per leaf (``honeyhive_inputs.messages.0.role``),
  nested again here. The TypeScript tracer records arguments under an extra ``_params_`` level
  (``honeyhive_inputs._params_.query``), which is removed. A leaf holding a JSON object or array
  as text (the Python tracer's way with dict and list arguments) is parsed.

What this finds wins over the generic conventions, since the tracer's user set it explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from honeytrace.otel._attributes import json_value, listify

if TYPE_CHECKING:
    from honeytrace.otel.mapping import Mapped

__all__ = ["BUCKETS", "HoneyHiveFields", "take_honeyhive"]

Body = dict[str, Any]

BUCKETS = ("inputs", "outputs", "config", "metadata", "metrics", "feedback", "user_properties")
EVENT_TYPES = frozenset({"model", "tool", "chain"})

SESSION_ID_KEYS = (
    "honeyhive.session_id",
    "traceloop.association.properties.session_id",
    "honeyhive_session_id",
)
SESSION_NAME_KEYS = (
    "honeyhive.session_name",
    "traceloop.association.properties.session_name",
    "honeyhive_session_name",
)
SOURCE_KEYS = ("honeyhive.source", "honeyhive_source", "traceloop.association.properties.source")
EVENT_TYPE_KEYS = ("honeyhive_event_type", "honeyhive_event_type_raw")
_PREFIXES = {f"honeyhive_{bucket}": bucket for bucket in BUCKETS}
_SCALAR_KEY = {"outputs": "result"}  # a bucket set to a bare value: {"result": value}


@dataclass
class HoneyHiveFields:
    """What a span's HoneyHive attributes say (None / empty where they say nothing)."""

    session_id: str | None = None
    session_name: str | None = None
    source: str | None = None
    event_type: str | None = None
    event_name: str | None = None
    event_id: str | None = None
    error: str | None = None
    duration: float | None = None
    buckets: dict[str, Body] = field(default_factory=dict)

    def apply(self, mapped: Mapped, *, capture_inputs: bool, capture_outputs: bool) -> None:
        """Lay these fields over the generic mapping's: buckets merged (ours win), the rest
        replaced where given."""
        for bucket, values in self.buckets.items():
            if (bucket == "inputs" and not capture_inputs) or (
                bucket == "outputs" and not capture_outputs
            ):
                continue
            current = getattr(mapped, bucket)
            setattr(mapped, bucket, {**(current or {}), **values})
        if self.event_type is not None:
            mapped.event_type = self.event_type
        if self.error is not None:
            mapped.error = self.error
        for name in ("event_name", "event_id", "session_id", "session_name", "source"):
            value = getattr(self, name)
            if value is not None:
                setattr(mapped, name, value)
        if self.duration is not None:
            mapped.duration = self.duration


def take_honeyhive(rest: Body) -> HoneyHiveFields:
    """Pop the HoneyHive attributes out of ``rest`` (what is left goes on to the generic
    tables, then to metadata)."""
    found = HoneyHiveFields()
    if not any(key.startswith(("honeyhive", "traceloop.association.")) for key in rest):
        return found  # the common case for foreign spans: nothing to look at
    found.session_id = _text(_first_of(rest, SESSION_ID_KEYS))
    found.session_name = _text(_first_of(rest, SESSION_NAME_KEYS))
    found.source = _text(_first_of(rest, SOURCE_KEYS))
    event_type = _text(_first_of(rest, EVENT_TYPE_KEYS))
    if event_type is not None and event_type.lower() in EVENT_TYPES:
        found.event_type = event_type.lower()
    found.event_name = _text(rest.pop("honeyhive_event_name", None))
    found.event_id = _text(rest.pop("honeyhive_event_id", None))
    error = rest.pop("honeyhive_error", None)
    if error not in (None, "", False):
        found.error = str(error)
    duration = rest.pop("honeyhive_duration_ms", None)
    if isinstance(duration, str):
        duration = _number(duration)
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        found.duration = duration
    found.buckets = _buckets(rest)
    return found


def _buckets(rest: Body) -> dict[str, Body]:
    flat: dict[str, Body] = {}
    for key in [key for key in rest if key.startswith("honeyhive_")]:
        head, dot, tail = key.partition(".")
        bucket = _PREFIXES.get(head)
        if bucket is None:
            continue
        value = json_value(rest.pop(key))
        if not dot:  # the whole bucket in one attribute: an object (as JSON) or a bare value
            if isinstance(value, dict):
                for name, item in value.items():
                    flat.setdefault(bucket, {})[str(name)] = item
            else:
                flat.setdefault(bucket, {})[_SCALAR_KEY.get(bucket, "value")] = value
            continue
        parts = [part for part in tail.split(".") if part != "_params_"]
        if parts:
            flat.setdefault(bucket, {})[".".join(parts)] = value
    return {bucket: _nest_values(values) for bucket, values in flat.items()}


def _nest_values(flat: Body) -> Body:
    """``{"a.b": 1, "a.c.0": 2}`` -> ``{"a": {"b": 1, "c": [2]}}``; a leaf set beside deeper
    keys of the same path (``a`` and ``a.b``) keeps the deeper ones."""
    tree: Body = {}
    for key, value in flat.items():
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        leaf = parts[-1]
        if not isinstance(node.get(leaf), dict):
            node[leaf] = list(value) if isinstance(value, tuple) else value
    nested = listify(tree)
    return nested if isinstance(nested, dict) else {"items": nested}


def _first_of(rest: Body, keys: tuple[str, ...]) -> Any:
    found = None
    for key in keys:
        value = rest.pop(key, None)
        if found is None and value not in (None, ""):
            found = value
    return found


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
