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

What a table consumes becomes ``event_type``, ``config``, ``inputs``, ``outputs`` or
``metrics``; an ERROR status becomes ``error``; every other attribute goes to ``metadata`` under
its own name, with the span's ids under ``otel.*``. A model event reads as one recorded by the
client integrations (``integrations/``): inputs ``{"messages": [...]}`` in OpenAI's message
shape, outputs the answer message, metrics ``prompt_tokens`` / ``completion_tokens`` /
``total_tokens``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Mapped",
    "honeyhive_attributes",
    "is_llm_attributes",
    "map_span",
    "otel_span_id",
    "otel_trace_id",
]

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

_MAX_PARSED = 1 << 20  # JSON strings longer than this stay strings (the serializer cuts them)


@dataclass
class Mapped:
    """A foreign span as honeytrace event fields."""

    event_type: str = "chain"
    inputs: Body = field(default_factory=dict)
    outputs: Body | None = None
    config: Body = field(default_factory=dict)
    metrics: Body = field(default_factory=dict)
    metadata: Body = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None


def is_llm_attributes(attributes: Mapping[str, Any] | None) -> bool:
    """Whether attributes carry any GenAI / LLM convention."""
    return bool(attributes) and any(key.startswith(LLM_PREFIXES) for key in attributes or ())


def map_span(span: Any, *, capture_inputs: bool = True, capture_outputs: bool = True) -> Mapped:
    """Map an SDK ``ReadableSpan`` (name, kind, attributes, events, status, context, scope)."""
    rest: Body = dict(span.attributes or {})
    mapped = Mapped(event_type=_event_type(rest, span.kind))
    _config(rest, mapped)
    _metrics(rest, mapped)
    inputs, outputs = _messages(rest, span.events or ())
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
    return mapped


# -- event type, config, metrics ------------------------------------------------------------


def _event_type(rest: Body, kind: Any) -> str:
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
    return "tool" if getattr(kind, "name", "") in ("CLIENT", "PRODUCER") else "chain"


def _config(rest: Body, mapped: Mapped) -> None:
    config = mapped.config
    parameters = _json(rest.pop("llm.invocation_parameters", None))
    if isinstance(parameters, dict):
        config.update(parameters)
    model = _first(rest, MODEL_KEYS)
    response_model = _first(rest, RESPONSE_MODEL_KEYS)
    provider = _first(rest, PROVIDER_KEYS)
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
        config[name] = _json(rest.pop(key))
    tools = _json(rest.pop("gen_ai.tool.definitions", None))
    if tools is None:
        functions = _indexed(rest, "llm.request.functions")
        tools = [{key: _json(value) for key, value in f.items()} for f in functions] or None
    if tools is None:
        oi_tools = _indexed(rest, "llm.tools")
        tools = [_json(tool.get("tool", {}).get("json_schema")) for tool in oi_tools] or None
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
    system = _json(rest.pop("gen_ai.system_instructions", None))
    prompt = _json(rest.pop("gen_ai.input.messages", None))
    answer = _json(rest.pop("gen_ai.output.messages", None))
    if prompt is None:
        prompt = _json(rest.pop("gen_ai.prompt", None))  # semconv <= 1.27, a JSON string
    if answer is None:
        answer = _json(rest.pop("gen_ai.completion", None))
    if prompt is None or isinstance(prompt, str):
        flat = _indexed(rest, "gen_ai.prompt") or _indexed(rest, "llm.input_messages")
        if flat:
            prompt = flat
    if answer is None or isinstance(answer, str):
        flat = _indexed(rest, "gen_ai.completion") or _indexed(rest, "llm.output_messages")
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
            message = {"role": attributes.pop("role", role), **_nest(attributes)}
            if role == "tool" and "id" in message:  # the id of the call this answers
                message["tool_call_id"] = message.pop("id")
            prompt.append({key: _json(value) for key, value in message.items()})
        elif name == "gen_ai.choice":
            message = _json(attributes.pop("message", None))
            nested = _nest(attributes)
            if not isinstance(message, dict):
                message = nested.pop("message", {})
            answer.append({**message, **{k: v for k, v in nested.items() if k != "index"}})
        elif name in ("gen_ai.content.prompt", "gen_ai.content.completion"):
            value = _json((event.attributes or {}).get(name.replace("content.", "")))
            target = prompt if name.endswith("prompt") else answer
            target.extend(value if isinstance(value, list) else [value])
        elif name == "gen_ai.client.inference.operation.details":
            details = event.attributes or {}
            prompt.extend(_as_list(_json(details.get("gen_ai.input.messages"))))
            answer.extend(_as_list(_json(details.get("gen_ai.output.messages"))))
            system = _json(details.get("gen_ai.system_instructions")) or system
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
            message["tool_calls"] = [_tool_call(call) for call in _as_list(value)]
        elif key == "contents":  # OpenInference multimodal contents
            texts = [
                part.get("message_content", {}).get("text")
                for part in _as_list(value)
                if isinstance(part, dict)
            ]
            message["content"] = "".join(text for text in texts if isinstance(text, str))
        else:
            message[key] = _json(value) if key == "content" else value
    return message


def _from_parts(parts: Any, message: Body) -> None:
    """GenAI semconv message parts (text, tool_call, tool_call_response, ...)."""
    texts, calls, others = [], [], []
    for part in _as_list(parts):
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
            result[key] = _json(value)
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
            inputs = _as_object(_json(rest.pop(input_key)), "input")
        if outputs is None and output_key in rest:
            outputs = _as_object(_json(rest.pop(output_key)), "result")
    for key in ("input.mime_type", "output.mime_type"):
        rest.pop(key, None)
    documents = _indexed(rest, "retrieval.documents")
    if documents:
        found = [doc.get("document", doc) for doc in documents]
        outputs = {**(outputs or {}), "documents": found}
    return inputs, outputs


def _as_object(value: Any, key: str) -> Body:
    return value if isinstance(value, dict) else {key: value}


# -- error and metadata ---------------------------------------------------------------------


def _error(span: Any, mapped: Mapped) -> None:
    status = span.status
    if getattr(status.status_code, "name", "") != "ERROR":
        return
    for event in span.events or ():
        if event.name == "exception":
            attributes = event.attributes or {}
            kind = str(attributes.get("exception.type", "Exception")).rsplit(".", 1)[-1]
            mapped.error = f"{kind}: {attributes.get('exception.message', '')}"
            stacktrace = attributes.get("exception.stacktrace")
            mapped.traceback = stacktrace if isinstance(stacktrace, str) else None
            return
    mapped.error = status.description or "error"


def _metadata(span: Any, rest: Body, mapped: Mapped) -> None:
    metadata = mapped.metadata
    extra = _json(rest.pop("metadata", None))  # OpenInference's JSON metadata
    if isinstance(extra, dict):
        metadata.update(extra)
    for key, value in rest.items():
        metadata[key] = list(value) if isinstance(value, tuple) else value
    context = span.context
    if context is not None:
        metadata["otel.trace_id"] = f"{context.trace_id:032x}"
        metadata["otel.span_id"] = f"{context.span_id:016x}"
    scope = getattr(span, "instrumentation_scope", None)
    if scope is not None and scope.name:
        metadata["otel.scope"] = scope.name
    kind = getattr(span.kind, "name", None)
    if kind and kind != "INTERNAL":
        metadata["otel.kind"] = kind
    others = [
        {"name": event.name, "attributes": dict(event.attributes or {})}
        for event in span.events or ()
        if event.name not in MESSAGE_EVENTS
        and not event.name.startswith(("gen_ai.choice", "gen_ai.content.", "gen_ai.client."))
        and not (event.name == "exception" and mapped.error is not None)
    ]
    if others:
        metadata["otel.events"] = others


# -- helpers --------------------------------------------------------------------------------


def _first(rest: Body, keys: Iterable[str]) -> Any:
    found = None
    for key in keys:
        value = rest.pop(key, None)
        if found is None and value not in (None, ""):
            found = value
    return found


def _json(value: Any) -> Any:
    """A JSON document given as a string, parsed; anything else unchanged."""
    if isinstance(value, tuple):
        return [_json(item) for item in value]
    if not isinstance(value, str) or len(value) > _MAX_PARSED:
        return value
    text = value.lstrip()
    if not text or text[0] not in '{["':
        return value
    try:
        return json.loads(text)
    except ValueError:
        return value


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    return [] if value is None else [value]


def _indexed(rest: Body, prefix: str) -> list[Body]:
    """Pop the flattened ``prefix.N.key...`` attributes and return them nested, by N."""
    head = prefix + "."
    found: dict[int, Body] = {}
    for key in [key for key in rest if key.startswith(head)]:
        index, _, tail = key[len(head) :].partition(".")
        if not index.isdigit() or not tail:
            continue
        found.setdefault(int(index), {})[tail] = rest.pop(key)
    return [_nest(found[index]) for index in sorted(found)]


def _nest(flat: Mapping[str, Any]) -> Body:
    """``{"a.b": 1, "a.c.0.d": 2}`` -> ``{"a": {"b": 1, "c": [{"d": 2}]}}``."""
    tree: Body = {}
    for key, value in flat.items():
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = list(value) if isinstance(value, tuple) else value
    nested = _listify(tree)
    return nested if isinstance(nested, dict) else {"items": nested}


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


# -- the other way: an event as a span with HoneyHive's own attributes ------------------------

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
