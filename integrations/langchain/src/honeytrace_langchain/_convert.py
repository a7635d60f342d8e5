"""LangChain objects -> honeytrace event fields: messages, model parameters, generations, token
usage, documents. Pure functions over duck-typed objects, so that a LangChain release that
moves a class does not break the handler."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from honeytrace.instrumentation import usage_metrics

__all__ = [
    "compact",
    "documents",
    "generation_outputs",
    "llm_usage",
    "message",
    "model_config",
    "response_metadata",
    "tool_output",
]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
_ROLES.update(function="function", chat="user", AIMessageChunk="assistant")
# Invocation parameters that say nothing about the call (or repeat what ``model`` says).
_SKIPPED_PARAMS = frozenset(
    {"_type", "stream", "model_name", "model", "ls_structured_output_format"}
)


def message(value: Any) -> dict[str, Any]:
    """A LangChain message (or a plain value) as ``{"role", "content", ...}``."""
    kind = getattr(value, "type", None)
    if not isinstance(kind, str):
        return {"role": "user", "content": value}
    out: dict[str, Any] = {"role": _ROLES.get(kind, getattr(value, "role", None) or kind)}
    out["content"] = getattr(value, "content", None)
    tool_calls = getattr(value, "tool_calls", None)
    if tool_calls:
        out["tool_calls"] = [
            {"id": call.get("id"), "name": call.get("name"), "args": call.get("args")}
            for call in tool_calls
            if isinstance(call, Mapping)
        ]
    for name in ("tool_call_id", "name"):
        extra = getattr(value, name, None)
        if extra:
            out[name] = extra
    return out


def model_config(
    serialized: Mapping[str, Any] | None,
    metadata: Mapping[str, Any] | None,
    params: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """``provider``, ``model`` and the call's parameters (temperature, max_tokens, tools...)."""
    metadata = metadata or {}
    params = params or {}
    config: dict[str, Any] = {}
    provider = metadata.get("ls_provider") or params.get("_type")
    if provider:
        config["provider"] = provider
    model = (
        params.get("model")
        or params.get("model_name")
        or metadata.get("ls_model_name")
        or (serialized or {}).get("kwargs", {}).get("model_name")
    )
    if model:
        config["model"] = model
    for key, value in params.items():
        if key not in _SKIPPED_PARAMS and value is not None:
            config[key] = value
    for key, name in (("ls_temperature", "temperature"), ("ls_max_tokens", "max_tokens")):
        if metadata.get(key) is not None:
            config.setdefault(name, metadata[key])
    return config


def _first_generation(response: Any) -> Any:
    generations = getattr(response, "generations", None) or []
    for batch in generations:
        for generation in batch or ():
            return generation
    return None


def generation_outputs(response: Any) -> dict[str, Any] | None:
    """The assistant message (chat models) or text (LLMs) of an ``LLMResult``; every
    generation under ``generations`` when there are several."""
    all_generations = [
        generation
        for batch in getattr(response, "generations", None) or []
        for generation in batch or ()
    ]
    if not all_generations:
        return None
    outputs = [_generation(generation) for generation in all_generations]
    return outputs[0] if len(outputs) == 1 else {"generations": outputs}


def _generation(generation: Any) -> dict[str, Any]:
    chat_message = getattr(generation, "message", None)
    if chat_message is not None:
        return message(chat_message)
    return {"role": "assistant", "content": getattr(generation, "text", None)}


def response_metadata(response: Any) -> dict[str, Any]:
    """The model that answered, the finish reason and the response id, where reported."""
    found: dict[str, Any] = {}
    generation = _first_generation(response)
    chat_message = getattr(generation, "message", None)
    reported = getattr(chat_message, "response_metadata", None)
    reported = reported if isinstance(reported, Mapping) else {}
    info = getattr(generation, "generation_info", None)
    info = info if isinstance(info, Mapping) else {}
    llm_output = getattr(response, "llm_output", None)
    llm_output = llm_output if isinstance(llm_output, Mapping) else {}
    model = reported.get("model_name") or reported.get("model") or llm_output.get("model_name")
    if isinstance(model, str) and model:
        found["response_model"] = model
    finish = reported.get("finish_reason") or info.get("finish_reason")
    if finish:
        found["finish_reason"] = finish
    response_id = getattr(chat_message, "id", None) or reported.get("id")
    if isinstance(response_id, str):
        found["response_id"] = response_id
    return found


def llm_usage(response: Any) -> dict[str, int]:
    """Token usage of an ``LLMResult``: the message's ``usage_metadata`` (LangChain's standard
    shape, streams included), else the provider's ``llm_output["token_usage"]``; summed over
    the generations of a batch."""
    totals: dict[str, int] = {}
    for batch in getattr(response, "generations", None) or []:
        for generation in batch or ():
            usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
            if isinstance(usage, Mapping):
                for key, value in _standard_usage(usage).items():
                    totals[key] = totals.get(key, 0) + value
    if totals:
        return totals
    llm_output = getattr(response, "llm_output", None)
    if isinstance(llm_output, Mapping):
        usage = llm_output.get("token_usage") or llm_output.get("usage")
        if isinstance(usage, Mapping):
            return usage_metrics(
                prompt_tokens=usage.get("prompt_tokens", usage.get("input_tokens")),
                completion_tokens=usage.get("completion_tokens", usage.get("output_tokens")),
                total_tokens=usage.get("total_tokens"),
            )
    return {}


def _standard_usage(usage: Mapping[str, Any]) -> dict[str, int]:
    inputs = usage.get("input_token_details")
    inputs = inputs if isinstance(inputs, Mapping) else {}
    outputs = usage.get("output_token_details")
    outputs = outputs if isinstance(outputs, Mapping) else {}
    return usage_metrics(
        prompt_tokens=usage.get("input_tokens"),
        completion_tokens=usage.get("output_tokens"),
        total_tokens=usage.get("total_tokens"),
        cache_read_tokens=inputs.get("cache_read"),
        cache_creation_tokens=inputs.get("cache_creation"),
        reasoning_tokens=outputs.get("reasoning"),
        audio_input_tokens=inputs.get("audio"),
        audio_output_tokens=outputs.get("audio"),
    )


def tool_output(output: Any) -> Any:
    """A tool's result: a ``ToolMessage``'s content (and artifact), else the value itself."""
    if getattr(output, "type", None) == "tool":
        out: dict[str, Any] = {"content": getattr(output, "content", None)}
        if getattr(output, "status", None) == "error":
            out["status"] = "error"
        artifact = getattr(output, "artifact", None)
        if artifact is not None:
            out["artifact"] = artifact
        return out
    if getattr(output, "type", None) is not None and hasattr(output, "content"):
        return message(output)
    return output


def documents(found: Sequence[Any]) -> list[dict[str, Any]]:
    """Retrieved documents as ``{"page_content", "metadata"}`` (and ``id`` when they have
    one)."""
    out = []
    for document in found:
        entry: dict[str, Any] = {
            "page_content": getattr(document, "page_content", document),
            "metadata": getattr(document, "metadata", None) or {},
        }
        document_id = getattr(document, "id", None)
        if document_id is not None:
            entry["id"] = document_id
        out.append(entry)
    return out


def compact(value: Any) -> Any:
    """A chain's input or output with LangChain's messages (alone, in a list, or as a value of
    a LangGraph state) in the short ``{"role", "content", ...}`` form, and prompt values as
    their messages; everything else is left to honeytrace's serializer."""
    if _is_message(value):
        return message(value)
    to_messages = getattr(value, "to_messages", None)
    if callable(to_messages) and not isinstance(value, Mapping):
        return {"messages": [message(item) for item in to_messages()]}
    if isinstance(value, list) and value and all(_is_message(item) for item in value):
        return [message(item) for item in value]
    if isinstance(value, Mapping):
        return {
            key: [message(item) for item in item_value]
            if isinstance(item_value, list) and item_value and all(map(_is_message, item_value))
            else message(item_value)
            if _is_message(item_value)
            else item_value
            for key, item_value in value.items()
        }
    return value


def _is_message(value: Any) -> bool:
    return isinstance(getattr(value, "type", None), str) and hasattr(value, "content")
