"""The Agents SDK's traces as honeytrace events: a ``TracingProcessor``.

The SDK reports a trace (one ``Runner.run``, or a ``trace()`` block) and its spans with their
parent ids. A trace inside a honeytrace event is a ``chain`` event there; outside any, it is a
session (of the trace's ``group_id`` when it has one, so the turns of one conversation share a
session). Each span is started under its parent's event explicitly
(:func:`honeytrace.instrumentation.begin_under`) and ended with what the SDK filled in:

==================================  ==========================================================
agent, task, turn, custom, MCP       ``chain`` (an agent's tools, handoffs and output type)
generation, response                 ``model``: input messages, output, model, usage, cost
function (a function tool)           ``tool``: its arguments and result
handoff                              ``chain`` ``handoff <from> -> <to>``
guardrail                            ``chain`` ``guardrail <name>``, ``metadata.triggered``
==================================  ==========================================================

A span's error (the SDK's ``{"message", "data"}``) is its event's error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agents.tracing import Span, Trace, TracingProcessor

import honeytrace
from honeytrace.instrumentation import begin_under, guarded, usage_metrics, usage_source

__all__ = ["HoneytraceProcessor"]

_MODEL_SPANS = frozenset({"generation", "response", "transcription", "speech"})
_MAX_OPEN = 10_000


class HoneytraceProcessor(TracingProcessor):
    """Records Agents SDK traces as honeytrace events (``add_trace_processor`` it, or let
    :func:`honeytrace_openai_agents.instrument` do)."""

    def __init__(self) -> None:
        self.active = True
        self._traces: dict[str, tuple[honeytrace.Span, honeytrace.Session | None]] = {}
        self._spans: dict[str, honeytrace.Span] = {}
        self._handoffs: dict[str, honeytrace.Span | None] = {}  # span id -> parent event

    # -- traces ---------------------------------------------------------------------------

    @guarded
    def on_trace_start(self, trace: Trace) -> None:
        """A run (or a ``trace()`` block) began."""
        if not self.active:
            return
        if len(self._traces) >= _MAX_OPEN:
            self._traces.clear()
        name = getattr(trace, "name", None) or "agent trace"
        metadata: dict[str, Any] = {"agents_trace_id": trace.trace_id}
        group = getattr(trace, "group_id", None)
        if group:
            metadata["group_id"] = group
        session = None
        if honeytrace.current_event_id() is None and group:
            session = honeytrace.session(name, session_id=str(group))
            session.begin()
        event = honeytrace.span(name, "chain", metadata=metadata)
        begin_under(event, session)
        self._traces[trace.trace_id] = (event, session)

    @guarded
    def on_trace_end(self, trace: Trace) -> None:
        """The run ended."""
        found = self._traces.pop(trace.trace_id, None)
        if found is None:
            return
        event, session = found
        event.finish()
        if session is not None:
            session.finish()

    # -- spans ----------------------------------------------------------------------------

    @guarded
    def on_span_start(self, span: Span[Any]) -> None:
        """A span began: its event starts under its parent's (or its trace's)."""
        if not self.active:
            return
        if len(self._spans) >= _MAX_OPEN:
            self._spans.clear()
            self._handoffs.clear()
        data = span.span_data
        kind = getattr(data, "type", "custom")
        parent = self._spans.get(span.parent_id) if span.parent_id else None
        if parent is None:
            found = self._traces.get(span.trace_id)
            parent = found[0] if found is not None else None
        if kind == "handoff":
            # Its target is known only at its end (a handoff is instantaneous): made then.
            self._handoffs[span.span_id] = parent
            return
        self._spans[span.span_id] = _begin(span, kind, data, parent)

    @guarded
    def on_span_end(self, span: Span[Any]) -> None:
        """A span ended: its event gets what the SDK recorded in it."""
        data = span.span_data
        kind = getattr(data, "type", "custom")
        if span.span_id in self._handoffs:
            event: honeytrace.Span | None = _begin(
                span, kind, data, self._handoffs.pop(span.span_id)
            )
        else:
            event = self._spans.pop(span.span_id, None)
        if event is None:
            return
        try:
            _record(event, kind, data)
        finally:
            error = span.error
            message = error.get("message") if isinstance(error, Mapping) else None
            if message:
                details = error.get("data") if isinstance(error, Mapping) else None
                if details:
                    event.enrich(metadata={"error_data": details})
                event.finish(str(message))
            else:
                event.finish()

    def shutdown(self) -> None:
        """Nothing to release: honeytrace delivers on its own."""

    def force_flush(self) -> None:
        """Deliver what was recorded (up to honeytrace's flush timeout)."""
        honeytrace.flush()


def _begin(
    span: Span[Any], kind: str, data: Any, parent: honeytrace.Span | None
) -> honeytrace.Span:
    event_type = "model" if kind in _MODEL_SPANS else "tool" if kind == "function" else "chain"
    event = honeytrace.span(
        _name(kind, data),
        event_type,  # type: ignore[arg-type]
        metadata={"agents_span_type": kind, "agents_span_id": span.span_id},
    )
    begin_under(event, parent)
    return event


def _name(kind: str, data: Any) -> str:
    if kind == "handoff":
        return f"handoff {getattr(data, 'from_agent', None)} -> {getattr(data, 'to_agent', None)}"
    if kind == "guardrail":
        return f"guardrail {getattr(data, 'name', '')}"
    if kind == "turn":
        return f"turn {getattr(data, 'turn', '')}".strip()
    name = getattr(data, "name", None)
    if isinstance(name, str) and name:
        return name
    if kind in ("generation", "response"):
        model = getattr(data, "model", None)
        return f"{kind} {model}" if model else kind
    return kind


def _record(event: honeytrace.Span, kind: str, data: Any) -> None:
    if kind == "agent":
        config = {
            key: getattr(data, key, None)
            for key in ("tools", "handoffs", "output_type")
            if getattr(data, key, None)
        }
        event.enrich(config=config or None, metadata=_mapping(getattr(data, "metadata", None)))
    elif kind == "function":
        event.enrich(inputs=_arguments(getattr(data, "input", None)))
        event.set_outputs(_parsed(getattr(data, "output", None)))
    elif kind == "generation":
        _generation(event, data)
    elif kind == "response":
        _response(event, data)
    elif kind == "handoff":
        event.enrich(
            metadata={
                "from_agent": getattr(data, "from_agent", None),
                "to_agent": getattr(data, "to_agent", None),
            }
        )
    elif kind == "guardrail":
        event.enrich(metadata={"triggered": bool(getattr(data, "triggered", False))})
    elif kind in ("turn", "task"):
        usage = _usage(getattr(data, "usage", None))
        if usage:
            event.enrich(metadata={"usage": usage})  # the sum of its model calls, not counted again
    elif kind == "custom":
        event.enrich(metadata=_mapping(getattr(data, "data", None)))


def _generation(event: honeytrace.Span, data: Any) -> None:
    config: dict[str, Any] = {"provider": "openai"}
    model = getattr(data, "model", None)
    if model:
        config["model"] = model
    config.update(_mapping(getattr(data, "model_config", None)) or {})
    metrics = _usage(getattr(data, "usage", None))
    event.enrich(
        inputs={"messages": list(getattr(data, "input", None) or [])},
        config=config,
        metrics=metrics or None,
        metadata={"usage_source": usage_source(metrics)},
    )
    output = list(getattr(data, "output", None) or [])
    event.set_outputs(output[0] if len(output) == 1 else {"messages": output})


def _response(event: honeytrace.Span, data: Any) -> None:
    response = getattr(data, "response", None)
    config: dict[str, Any] = {"provider": "openai"}
    metadata: dict[str, Any] = {}
    model = getattr(response, "model", None)
    if isinstance(model, str):
        config["model"] = model
        metadata["response_model"] = model
    response_id = getattr(response, "id", None)
    if isinstance(response_id, str):
        metadata["response_id"] = response_id
    usage = getattr(response, "usage", None)
    inputs_details = getattr(usage, "input_tokens_details", None)
    outputs_details = getattr(usage, "output_tokens_details", None)
    metrics = usage_metrics(
        prompt_tokens=getattr(usage, "input_tokens", None),
        completion_tokens=getattr(usage, "output_tokens", None),
        total_tokens=getattr(usage, "total_tokens", None),
        cache_read_tokens=getattr(inputs_details, "cached_tokens", None),
        reasoning_tokens=getattr(outputs_details, "reasoning_tokens", None),
    )
    metadata["usage_source"] = usage_source(metrics)
    given = getattr(data, "input", None)
    event.enrich(
        inputs={"input": given} if given is not None else None,
        config=config,
        metrics=metrics or None,
        metadata=metadata,
    )
    text = getattr(response, "output_text", None)
    if isinstance(text, str) and text:
        event.set_outputs({"role": "assistant", "content": text})
    elif response is not None:
        event.set_outputs({"output": getattr(response, "output", None)})


def _usage(usage: Any) -> dict[str, int]:
    if not isinstance(usage, Mapping):
        return {}
    inputs = usage.get("input_tokens_details")
    outputs = usage.get("output_tokens_details")
    return usage_metrics(
        prompt_tokens=usage.get("input_tokens", usage.get("prompt_tokens")),
        completion_tokens=usage.get("output_tokens", usage.get("completion_tokens")),
        total_tokens=usage.get("total_tokens"),
        cache_read_tokens=inputs.get("cached_tokens") if isinstance(inputs, Mapping) else None,
        reasoning_tokens=outputs.get("reasoning_tokens") if isinstance(outputs, Mapping) else None,
    )


def _mapping(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, Mapping) and value else None


def _parsed(text: Any) -> Any:
    """The SDK gives a tool's arguments and result as JSON text where it can: parsed back."""
    if isinstance(text, str):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _arguments(text: Any) -> dict[str, Any]:
    parsed = _parsed(text)
    return parsed if isinstance(parsed, dict) else {"input": parsed}
