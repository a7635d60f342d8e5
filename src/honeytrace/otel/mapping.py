"""How a foreign OpenTelemetry span reads as a honeytrace event: the mapping tables.

Three conventions are understood, alone or mixed on one span:

- OpenTelemetry GenAI semantic conventions: ``gen_ai.operation.name``, ``gen_ai.request.*``,
  ``gen_ai.usage.*``, messages as ``gen_ai.input.messages`` / ``gen_ai.output.messages`` /
  ``gen_ai.system_instructions`` (JSON), the older ``gen_ai.prompt`` / ``gen_ai.completion``,
  or span events (``gen_ai.user.message``, ``gen_ai.choice``, ``gen_ai.content.prompt``, ...);
  tool calls as ``gen_ai.tool.call.arguments`` / ``.result``.
- OpenInference: ``openinference.span.kind``, ``llm.*``, ``input.value`` / ``output.value``.
- OpenLLMetry (Traceloop): ``traceloop.span.kind``, ``traceloop.entity.input/output``,
  ``llm.request.type`` and the flattened ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*``.

HoneyHive's own tracers (Python and TypeScript SDKs) are read first
(:mod:`.honeyhive_attributes`: their session, event type and name, and the dotted
``honeyhive_inputs.*`` ... buckets), over what the tables find.

The span is given as :class:`SpanData`: the span processor makes it from the SDK's
``ReadableSpan``, the collector's OTLP ingest from a decoded OTLP span, so both read spans
through this one mapping.

What a table consumes becomes ``event_type``, ``config``, ``inputs``, ``outputs`` or
``metrics``; an ERROR status becomes ``error``; every other attribute goes to ``metadata`` under
its own name, with the span's ids under ``otel.*``. A model event reads as one recorded by the
client integrations (``integrations/``): inputs ``{"messages": [...]}`` in OpenAI's message
shape, outputs the answer message, metrics ``prompt_tokens`` / ``completion_tokens`` /
``total_tokens``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from honeytrace.otel._attributes import as_list, first, indexed, json_value, nest
from honeytrace.otel.honeyhive_attributes import take_honeyhive

__all__ = ["Mapped", "SpanData", "SpanEvent", "is_llm_attributes", "map_span", "map_span_data"]

Body = dict[str, Any]

# -- the tables -----------------------------------------------------------------------------

OPENINFERENCE_KINDS = {
    "LLM": "model",
    "EMBEDDING": "model",
    "TOOL": "tool",
    "RETRIEVER": "tool",
    "RERANKER": "tool",
    "CHAIN": "chain",
    "AGENT": "chain",
    "GUARDRAIL": "chain",
    "EVALUATOR": "chain",
    "PROMPT": "chain",
}
TRACELOOP_KINDS = {"workflow": "chain", "task": "chain", "agent": "chain", "tool": "tool"}
LLM_REQUEST_TYPES = {"chat": "model", "completion": "model", "embedding": "model", "rerank": "tool"}
GENAI_OPERATIONS = {
    "chat": "model",
    "text_completion": "model",
    "generate_content": "model",
    "embeddings": "model",
    "execute_tool": "tool",
    "retrieval": "tool",
    "invoke_agent": "chain",
    "create_agent": "chain",
    "invoke_workflow": "chain",
}

MODEL_KEYS = ("gen_ai.request.model", "llm.request.model", "embedding.model_name")
RESPONSE_MODEL_KEYS = ("gen_ai.response.model", "llm.model_name", "llm.response.model")
PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
CONFIG_PREFIXES = ("gen_ai.request.", "llm.request.")  # the rest of the name is the config key

METRICS = (
    ("gen_ai.usage.input_tokens", "prompt_tokens"),
    ("gen_ai.usage.prompt_tokens", "prompt_tokens"),
    ("llm.token_count.prompt", "prompt_tokens"),
    ("gen_ai.usage.output_tokens", "completion_tokens"),
    ("gen_ai.usage.completion_tokens", "completion_tokens"),
    ("llm.token_count.completion", "completion_tokens"),
    ("gen_ai.usage.total_tokens", "total_tokens"),
    ("llm.usage.total_tokens", "total_tokens"),
    ("llm.token_count.total", "total_tokens"),
    ("gen_ai.usage.cache_read.input_tokens", "cache_read_tokens"),
    ("gen_ai.usage.cache_read_input_tokens", "cache_read_tokens"),
    ("llm.token_count.prompt_details.cache_read", "cache_read_tokens"),
    ("gen_ai.usage.cache_creation.input_tokens", "cache_creation_tokens"),
    ("gen_ai.usage.cache_creation_input_tokens", "cache_creation_tokens"),
    ("llm.token_count.prompt_details.cache_write", "cache_creation_tokens"),
    ("gen_ai.usage.reasoning_tokens", "reasoning_tokens"),
    ("llm.token_count.completion_details.reasoning", "reasoning_tokens"),
    ("llm.cost.total", "cost"),
)

MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}

LLM_PREFIXES = ("gen_ai.", "llm.", "openinference.", "traceloop.")
"""Attribute prefixes that make a span a GenAI/LLM span for the default filter."""


@dataclass
class SpanData:
    """What the mapping reads of a span, whoever made it: the SDK's ``ReadableSpan``
    (:meth:`of_readable`, for the span processor) or an OTLP span decoded by the collector.
    ``events`` are objects with ``name`` and ``attributes`` (the SDK's own, or
    :class:`SpanEvent`); ``kind`` is the kind's name (``"INTERNAL"``, ``"CLIENT"``, ...)."""

    name: str
    attributes: Mapping[str, Any]
    events: Sequence[Any] = ()
    kind: str = "INTERNAL"
    error: bool = False
    """Whether the status is ERROR."""
    status_message: str = ""
    trace_id: int | None = None
    span_id: int | None = None
    scope: str | None = None

    @classmethod
    def of_readable(cls, span: Any) -> SpanData:
        """An SDK ``ReadableSpan`` (name, kind, attributes, events, status, context, scope)."""
        status = span.status
        context = span.context
        scope = getattr(span, "instrumentation_scope", None)
        return cls(
            name=span.name,
            attributes=span.attributes or {},
            events=span.events or (),
            kind=getattr(span.kind, "name", "INTERNAL"),
            error=getattr(status.status_code, "name", "") == "ERROR",
            status_message=status.description or "",
            trace_id=context.trace_id if context is not None else None,
            span_id=context.span_id if context is not None else None,
            scope=scope.name if scope is not None else None,
        )


@dataclass
class SpanEvent:
    """A span event (an OTLP ``Span.Event``): its name and attributes."""

    name: str
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Mapped:
    """A foreign span as honeytrace event fields. ``event_name``, ``session_id``,
    ``session_name``, ``source``, ``duration`` and ``event_id`` are None unless the span says
    (HoneyHive's tracers do); ``feedback`` and ``user_properties`` likewise come from them."""

    event_type: str = "chain"
    inputs: Body = field(default_factory=dict)
    outputs: Body | None = None
    config: Body = field(default_factory=dict)
    metrics: Body = field(default_factory=dict)
    metadata: Body = field(default_factory=dict)
    feedback: Body = field(default_factory=dict)
    user_properties: Body = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    event_name: str | None = None
    event_id: str | None = None
    session_id: str | None = None
    session_name: str | None = None
    source: str | None = None
    duration: float | None = None


def is_llm_attributes(attributes: Mapping[str, Any] | None) -> bool:
    """Whether attributes carry any GenAI / LLM convention."""
    return bool(attributes) and any(key.startswith(LLM_PREFIXES) for key in attributes or ())


def map_span(span: Any, *, capture_inputs: bool = True, capture_outputs: bool = True) -> Mapped:
    """Map an SDK ``ReadableSpan`` (name, kind, attributes, events, status, context, scope)."""
    return map_span_data(
        SpanData.of_readable(span), capture_inputs=capture_inputs, capture_outputs=capture_outputs
    )


def map_span_data(
    span: SpanData, *, capture_inputs: bool = True, capture_outputs: bool = True
) -> Mapped:
    """Map a span: the HoneyHive tracer's own attributes first (they are what its user set
    explicitly), then the GenAI / OpenInference / OpenLLMetry tables for the rest."""
    rest: Body = dict(span.attributes)
    honeyhive = take_honeyhive(rest)
    mapped = Mapped(event_type=_event_type(rest, span.kind))
    _config(rest, mapped)
    _metrics(rest, mapped)
    inputs, outputs = _messages(rest, span.events)
    values_in, values_out = _values(rest)
    if mapped.event_type != "model":  # a chain or tool: its own input/output values first
        inputs, values_in = values_in, inputs
        outputs, values_out = values_out, outputs
    chosen_inputs = inputs if inputs is not None else values_in
    if capture_inputs and chosen_inputs is not None:
        mapped.inputs = chosen_inputs
    if capture_outputs:
        mapped.outputs = outputs if outputs is not None else values_out
    _error(span, mapped)
    _metadata(span, rest, mapped)
    honeyhive.apply(mapped, capture_inputs=capture_inputs, capture_outputs=capture_outputs)
    return mapped


# -- event type, config, metrics ------------------------------------------------------------


def _event_type(rest: Body, kind: str) -> str:
    for key, table in (
        ("openinference.span.kind", OPENINFERENCE_KINDS),
        ("traceloop.span.kind", TRACELOOP_KINDS),
        ("llm.request.type", LLM_REQUEST_TYPES),
        ("gen_ai.operation.name", GENAI_OPERATIONS),
    ):
        value = rest.get(key)
        if isinstance(value, str):
            found = table.get(value) or table.get(value.upper()) or table.get(value.lower())
            if found is not None:
                if key != "gen_ai.operation.name":  # kept: it says which operation it was
                    rest.pop(key)
                return found
    if any(rest.get(key) for key in (*MODEL_KEYS, *RESPONSE_MODEL_KEYS)):
        return "model"
    # An outgoing call (HTTP, database, queue) is a tool from the app's point of view.
    return "tool" if kind in ("CLIENT", "PRODUCER") else "chain"


def _config(rest: Body, mapped: Mapped) -> None:
    config = mapped.config
    parameters = json_value(rest.pop("llm.invocation_parameters", None))
    if isinstance(parameters, dict):
        config.update(parameters)
    model = first(rest, MODEL_KEYS)
    response_model = first(rest, RESPONSE_MODEL_KEYS)
    provider = first(rest, PROVIDER_KEYS)
    if model is not None:
        config["model"] = model
    elif response_model is not None:
        config.setdefault("model", response_model)
    if response_model is not None and response_model != config.get("model"):
        mapped.metadata["response_model"] = response_model
    if provider is not None:
        config["provider"] = provider
    for key in [key for key in rest if key.startswith(CONFIG_PREFIXES)]:
        name = key.split(".", 2)[2]
        if name.startswith("functions."):
            continue  # OpenLLMetry's tool definitions, gathered below
        config[name] = json_value(rest.pop(key))
    tools = json_value(rest.pop("gen_ai.tool.definitions", None))
    if tools is None:
        functions = indexed(rest, "llm.request.functions")
        tools = [{key: json_value(value) for key, value in f.items()} for f in functions] or None
    if tools is None:
        oi_tools = indexed(rest, "llm.tools")
        tools = [json_value(tool.get("tool", {}).get("json_schema")) for tool in oi_tools] or None
    if tools is not None:
        config["tools"] = tools


def _metrics(rest: Body, mapped: Mapped) -> None:
    metrics = mapped.metrics
    for key, name in METRICS:
        value = rest.pop(key, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics.setdefault(name, value)
    for key in [key for key in rest if key.startswith("gen_ai.usage.")]:
        value = rest[key]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics[key.removeprefix("gen_ai.usage.").replace(".", "_")] = rest.pop(key)
    prompt, completion = metrics.get("prompt_tokens"), metrics.get("completion_tokens")
    if "total_tokens" not in metrics and prompt is not None and completion is not None:
        metrics["total_tokens"] = prompt + completion


# -- messages -------------------------------------------------------------------------------


def _messages(rest: Body, events: Iterable[Any]) -> tuple[Body | None, Body | None]:
    """Model inputs ``{"messages": [...]}`` and outputs (the answer message), from
    whichever convention carries them."""
    system = json_value(rest.pop("gen_ai.system_instructions", None))
    prompt = json_value(rest.pop("gen_ai.input.messages", None))
    answer = json_value(rest.pop("gen_ai.output.messages", None))
    if prompt is None:
        prompt = json_value(rest.pop("gen_ai.prompt", None))  # semconv <= 1.27, a JSON string
    if answer is None:
        answer = json_value(rest.pop("gen_ai.completion", None))
    if prompt is None or isinstance(prompt, str):
        flat = indexed(rest, "gen_ai.prompt") or indexed(rest, "llm.input_messages")
        if flat:
            prompt = flat
    if answer is None or isinstance(answer, str):
        flat = indexed(rest, "gen_ai.completion") or indexed(rest, "llm.output_messages")
        if flat:
            answer = flat
    event_prompt, event_answer, event_system = _event_messages(events)
    prompt = prompt if prompt is not None else event_prompt
    answer = answer if answer is not None else event_answer
    system = system if system is not None else event_system
    inputs: Body | None = None
    messages = _message_list(prompt)
    if isinstance(system, list):
        text = "\n".join(str(part.get("content", "")) for part in system if isinstance(part, dict))
        messages = [{"role": "system", "content": text}, *(messages or [])]
    elif isinstance(system, str):
        messages = [{"role": "system", "content": system}, *(messages or [])]
    if messages is not None:
        inputs = {"messages": messages}
    elif isinstance(prompt, str):
        inputs = {"prompt": prompt}
    prompts = rest.pop("llm.prompts", None)  # OpenInference, completion API
    if inputs is None and prompts:
        inputs = {"prompt": list(prompts) if len(prompts) > 1 else prompts[0]}
    outputs: Body | None = None
    choices = _message_list(answer)
    if choices:
        outputs = choices[0] if len(choices) == 1 else {"choices": choices}
    elif isinstance(answer, str):
        outputs = {"content": answer}
    return inputs, outputs


def _event_messages(events: Iterable[Any]) -> tuple[Any, Any, Any]:
    prompt: list[Any] = []
    answer: list[Any] = []
    system: Any = None
    for event in events:
        name = event.name
        # gen_ai.system and friends describe the call, not the message.
        attributes = {k: v for k, v in (event.attributes or {}).items() if k[:7] != "gen_ai."}
        role = MESSAGE_EVENTS.get(name)
        if role is not None:
            message = {"role": attributes.pop("role", role), **nest(attributes)}
            if role == "tool" and "id" in message:  # the id of the call this answers
                message["tool_call_id"] = message.pop("id")
            prompt.append({key: json_value(value) for key, value in message.items()})
        elif name == "gen_ai.choice":
            message = json_value(attributes.pop("message", None))
            nested = nest(attributes)
            if not isinstance(message, dict):
                message = nested.pop("message", {})
            answer.append({**message, **{k: v for k, v in nested.items() if k != "index"}})
        elif name in ("gen_ai.content.prompt", "gen_ai.content.completion"):
            value = json_value((event.attributes or {}).get(name.replace("content.", "")))
            target = prompt if name.endswith("prompt") else answer
            target.extend(value if isinstance(value, list) else [value])
        elif name == "gen_ai.client.inference.operation.details":
            details = event.attributes or {}
            prompt.extend(as_list(json_value(details.get("gen_ai.input.messages"))))
            answer.extend(as_list(json_value(details.get("gen_ai.output.messages"))))
            system = json_value(details.get("gen_ai.system_instructions")) or system
    return prompt or None, answer or None, system


def _message_list(value: Any) -> list[Body] | None:
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return None
    return [_message(item) for item in value if isinstance(item, dict)]


def _message(raw: Body) -> Body:
    """One message in OpenAI's shape (role, content, tool_calls, tool_call_id)."""
    nested = raw.get("message")
    item: Body = nested if isinstance(nested, dict) else raw  # OpenInference nests it
    message: Body = {}
    for key, value in item.items():
        if key == "parts":
            _from_parts(value, message)
        elif key == "tool_calls":
            message["tool_calls"] = [_tool_call(call) for call in as_list(value)]
        elif key == "contents":  # OpenInference multimodal contents
            texts = [
                part.get("message_content", {}).get("text")
                for part in as_list(value)
                if isinstance(part, dict)
            ]
            message["content"] = "".join(text for text in texts if isinstance(text, str))
        else:
            message[key] = json_value(value) if key == "content" else value
    return message


def _from_parts(parts: Any, message: Body) -> None:
    """GenAI semconv message parts (text, tool_call, tool_call_response, ...)."""
    texts, calls, others = [], [], []
    for part in as_list(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(str(part.get("content", "")))
        elif kind == "tool_call":
            calls.append(_tool_call(part))
        elif kind == "tool_call_response":
            message["tool_call_id"] = part.get("id")
            message["content"] = part.get("response")
        else:
            others.append(part)
    if texts:
        message["content"] = "\n".join(texts)
    if calls:
        message["tool_calls"] = calls
    if others:
        message["parts"] = others


def _tool_call(raw: Any) -> Body:
    if not isinstance(raw, dict):
        return {"value": raw}
    nested = raw.get("tool_call")
    call: Body = nested if isinstance(nested, dict) else raw  # OpenInference nests it
    found = call.get("function")
    function: Body = found if isinstance(found, dict) else {}
    result: Body = {}
    for key in ("id", "name", "arguments"):
        value = call.get(key, function.get(key))
        if value is not None:
            result[key] = json_value(value)
    return result


# -- inputs and outputs of chains and tools ---------------------------------------------------


def _values(rest: Body) -> tuple[Body | None, Body | None]:
    pairs = (
        ("input.value", "output.value"),  # OpenInference
        ("traceloop.entity.input", "traceloop.entity.output"),  # OpenLLMetry
        ("gen_ai.tool.call.arguments", "gen_ai.tool.call.result"),  # GenAI execute_tool
    )
    inputs: Body | None = None
    outputs: Body | None = None
    for input_key, output_key in pairs:
        if inputs is None and input_key in rest:
            inputs = _as_object(json_value(rest.pop(input_key)), "input")
        if outputs is None and output_key in rest:
            outputs = _as_object(json_value(rest.pop(output_key)), "result")
    for key in ("input.mime_type", "output.mime_type"):
        rest.pop(key, None)
    documents = indexed(rest, "retrieval.documents")
    if documents:
        found = [doc.get("document", doc) for doc in documents]
        outputs = {**(outputs or {}), "documents": found}
    return inputs, outputs


def _as_object(value: Any, key: str) -> Body:
    return value if isinstance(value, dict) else {key: value}


# -- error and metadata ---------------------------------------------------------------------


def _error(span: SpanData, mapped: Mapped) -> None:
    if not span.error:
        return
    for event in span.events:
        if event.name == "exception":
            attributes = event.attributes or {}
            kind = str(attributes.get("exception.type", "Exception")).rsplit(".", 1)[-1]
            mapped.error = f"{kind}: {attributes.get('exception.message', '')}"
            stacktrace = attributes.get("exception.stacktrace")
            mapped.traceback = stacktrace if isinstance(stacktrace, str) else None
            return
    mapped.error = span.status_message or "error"


def _metadata(span: SpanData, rest: Body, mapped: Mapped) -> None:
    metadata = mapped.metadata
    extra = json_value(rest.pop("metadata", None))  # OpenInference's JSON metadata
    if isinstance(extra, dict):
        metadata.update(extra)
    for key, value in rest.items():
        metadata[key] = list(value) if isinstance(value, tuple) else value
    if span.trace_id is not None and span.span_id is not None:
        metadata["otel.trace_id"] = f"{span.trace_id:032x}"
        metadata["otel.span_id"] = f"{span.span_id:016x}"
    if span.scope:
        metadata["otel.scope"] = span.scope
    if span.kind and span.kind != "INTERNAL":
        metadata["otel.kind"] = span.kind
    others = [
        {"name": event.name, "attributes": dict(event.attributes or {})}
        for event in span.events
        if event.name not in MESSAGE_EVENTS
        and not event.name.startswith(("gen_ai.choice", "gen_ai.content.", "gen_ai.client."))
        and not (event.name == "exception" and mapped.error is not None)
    ]
    if others:
        metadata["otel.events"] = others
