"""What each kind of Agents SDK span becomes: its honeytrace event type and name, and the fields
known when it starts and when it ends.

==============================  =========  ==================================================
Agents SDK span data            event      name / fields
==============================  =========  ==================================================
trace (``Runner.run``)          session    the workflow name (a ``chain`` inside a session)
``TaskSpanData``                chain      the task name; the run's total usage in metadata
``AgentSpanData``               chain      the agent's name; its tools, handoffs, output type
``TurnSpanData``                chain      ``turn N``; the agent, the turn's usage in metadata
``ResponseSpanData``            model      ``response``: input, instructions, model, params,
                                           output text and function calls, token usage
``GenerationSpanData``          model      ``generation``: messages, model, config, output,
                                           token usage (Chat Completions and other models)
``FunctionSpanData``            tool       the function's name: its arguments and result
``HandoffSpanData``             tool       ``handoff``: from and to which agent
``GuardrailSpanData``           chain      the guardrail's name: ``triggered`` as output
``MCPListToolsSpanData``        tool       ``mcp list tools``: the server and tools it lists
transcription / speech          model      ``transcription`` / ``speech``
anything else                   chain      its type or name, its exported data in metadata
==============================  =========  ==================================================

Token usage goes into ``metrics`` only on ``model`` events, under honeytrace's usage names, so
that session totals and costs count each call once; the aggregates of tasks and turns stay in
``metadata["usage"]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from honeytrace.instrumentation import usage_metrics, usage_source

__all__ = ["End", "Start", "end_fields", "start_fields"]

_RESPONSE_CONFIG = (
    "temperature",
    "top_p",
    "max_output_tokens",
    "tool_choice",
    "parallel_tool_calls",
    "truncation",
    "reasoning",
    "text",
    "service_tier",
    "previous_response_id",
)


@dataclass
class Start:
    """An event as it opens."""

    name: str
    event_type: str
    inputs: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class End:
    """What the event learns when its span ends."""

    outputs: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


def _kind(data: Any) -> str:
    try:
        return str(data.type)
    except Exception:
        return type(data).__name__


def _arguments(value: Any) -> Any:
    """A tool's arguments as the model sent them: JSON text is shown parsed."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def start_fields(data: Any) -> Start:
    """The event of a span that has just started (most data arrives at its end)."""
    kind = _kind(data)
    if kind == "agent":  # its tools and handoffs are filled in while it runs: read at the end
        return Start(str(data.name), "chain", metadata={"agents.span": kind})
    if kind == "task":
        return Start(str(data.name), "chain", metadata={"agents.span": kind})
    if kind == "turn":
        metadata = {"agents.span": kind, "turn": data.turn, "agent": data.agent_name}
        return Start(f"turn {data.turn}", "chain", metadata=metadata)
    if kind == "response":
        return Start("response", "model", config={"provider": "openai"})
    if kind == "generation":
        return Start("generation", "model")
    if kind == "function":
        return Start(str(data.name), "tool", metadata={"agents.span": kind})
    if kind == "handoff":
        inputs = {"from_agent": data.from_agent}
        return Start("handoff", "tool", inputs=inputs, metadata={"agents.span": kind})
    if kind == "guardrail":
        return Start(str(data.name), "chain", metadata={"agents.span": kind})
    if kind == "mcp_tools":
        return Start("mcp list tools", "tool", inputs={"server": data.server})
    if kind in ("transcription", "speech"):
        return Start(kind, "model")
    if kind == "custom":
        return Start(str(data.name), "chain", metadata={"agents.span": kind})
    return Start(kind, "chain", metadata={"agents.span": kind})


def end_fields(data: Any) -> End:
    """What a span's data says once it ended."""
    kind = _kind(data)
    reader = _READERS.get(kind)
    if reader is not None:
        return reader(data)
    try:
        exported = data.export()
    except Exception:
        exported = None
    return End(metadata={"agents.data": exported} if exported else {})


def _usage(usage: Any) -> dict[str, Any]:
    """Metrics of the SDK's usage dict (or a Responses API usage object)."""
    if usage is None:
        return {}
    if not isinstance(usage, Mapping):
        dump = getattr(usage, "model_dump", None)
        usage = dump() if callable(dump) else {}
    inputs = usage.get("input_tokens_details") or usage.get("prompt_tokens_details") or {}
    outputs = usage.get("output_tokens_details") or usage.get("completion_tokens_details") or {}
    if not isinstance(inputs, Mapping):
        inputs = {}
    if not isinstance(outputs, Mapping):
        outputs = {}
    return usage_metrics(
        prompt_tokens=usage.get("input_tokens", usage.get("prompt_tokens")),
        completion_tokens=usage.get("output_tokens", usage.get("completion_tokens")),
        total_tokens=usage.get("total_tokens"),
        cache_read_tokens=inputs.get("cached_tokens"),
        cache_creation_tokens=inputs.get("cache_write_tokens"),
        reasoning_tokens=outputs.get("reasoning_tokens"),
        audio_input_tokens=inputs.get("audio_tokens"),
        audio_output_tokens=outputs.get("audio_tokens"),
    )


def _model_end(end: End, usage: Any) -> End:
    end.metrics = _usage(usage)
    end.metadata["usage_source"] = usage_source(end.metrics)
    return end


def _response_outputs(response: Any) -> dict[str, Any]:
    text: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    others: list[Any] = []
    for item in getattr(response, "output", None) or ():
        kind = getattr(item, "type", None)
        if kind == "message":
            for part in getattr(item, "content", None) or ():
                if getattr(part, "type", None) == "output_text":
                    text.append(part.text)
                elif getattr(part, "type", None) == "refusal":
                    others.append({"refusal": part.refusal})
        elif kind == "function_call":
            function = {"name": item.name, "arguments": item.arguments}
            tool_calls.append({"id": item.call_id, "type": "function", "function": function})
        else:
            others.append(item)
    outputs: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text else None}
    if tool_calls:
        outputs["tool_calls"] = tool_calls
    if others:
        outputs["output_items"] = others
    return outputs


def _response(data: Any) -> End:
    end = End(inputs={"input": data.input} if data.input is not None else None)
    response = data.response
    usage = data.usage
    if response is not None:
        config: dict[str, Any] = {"provider": "openai", "model": response.model}
        for key in _RESPONSE_CONFIG:
            value = getattr(response, key, None)
            if value is not None:
                config[key] = value
        tools = getattr(response, "tools", None)
        if tools:
            config["tools"] = [getattr(tool, "name", None) or tool.type for tool in tools]
        end.config = config
        instructions = getattr(response, "instructions", None)
        if instructions is not None:
            end.inputs = {**(end.inputs or {}), "instructions": instructions}
        end.outputs = _response_outputs(response)
        end.metadata["response_id"] = response.id
        end.metadata["response_model"] = response.model
        end.metadata["status"] = getattr(response, "status", None)
        if usage is None:
            usage = getattr(response, "usage", None)
    else:
        response_id = getattr(data, "_response_id", None)
        if response_id:  # the SDK keeps only the id when sensitive data is not traced
            end.metadata["response_id"] = response_id
    return _model_end(end, usage)


def _generation(data: Any) -> End:
    end = End()
    if data.input is not None:
        end.inputs = {"messages": list(data.input)}
    config: dict[str, Any] = {}
    if data.model is not None:
        config["model"] = data.model
    if data.model_config:
        config.update({k: v for k, v in dict(data.model_config).items() if v is not None})
    if config:
        end.config = config
    output = data.output
    if output is not None:
        items = list(output)
        end.outputs = dict(items[0]) if len(items) == 1 and isinstance(items[0], Mapping) else {}
        if not end.outputs:
            end.outputs = {"output": items}
    return _model_end(end, data.usage)


def _function(data: Any) -> End:
    end = End(inputs={"arguments": _arguments(data.input)}, outputs={"output": data.output})
    if data.mcp_data:
        end.metadata["mcp"] = data.mcp_data
    return end


def _handoff(data: Any) -> End:
    # The target is only certain once the handoff ran.
    return End(outputs={"to_agent": data.to_agent})


def _guardrail(data: Any) -> End:
    return End(outputs={"triggered": bool(data.triggered)})


def _aggregate(data: Any) -> End:
    end = End()
    config = {
        key: getattr(data, key)
        for key in ("tools", "handoffs", "output_type")
        if getattr(data, key, None)
    }
    if config:  # an agent's
        end.config = config
    if getattr(data, "usage", None):
        end.metadata["usage"] = data.usage
    extra = getattr(data, "metadata", None)
    if isinstance(extra, Mapping) and extra:
        end.metadata["agents.metadata"] = dict(extra)
    return end


def _mcp(data: Any) -> End:
    return End(outputs={"tools": data.result})


def _audio(data: Any) -> End:
    end = End(config={"model": data.model} if data.model else None)
    if data.model_config:
        end.config = {**(end.config or {}), **dict(data.model_config)}
    if isinstance(data.input, str):
        end.inputs = {"input": data.input}
    if isinstance(data.output, str):
        end.outputs = {"output": data.output}
    return _model_end(end, None)


def _custom(data: Any) -> End:
    return End(metadata={"data": data.data} if data.data else {})


_READERS = {
    "response": _response,
    "generation": _generation,
    "function": _function,
    "handoff": _handoff,
    "guardrail": _guardrail,
    "agent": _aggregate,
    "task": _aggregate,
    "turn": _aggregate,
    "mcp_tools": _mcp,
    "transcription": _audio,
    "speech": _audio,
    "custom": _custom,
}
