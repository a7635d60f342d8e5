"""Gemini requests and responses -> the event's ``inputs``, ``config``, ``outputs``, usage.

``contents`` (a string, parts, ``Content`` objects or dicts) become ``messages``: a list of
``{"role", "parts"}`` with each part as ``{"text"}``, ``{"function_call": {name, args}}``,
``{"function_response": {name, response}}``, or a description of inline or file data (its
MIME type and size, never the bytes). Only what the SDK already holds is read: nothing is
serialized here (the flusher does that).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from honeytrace.instrumentation import usage_metrics

__all__ = ["config_of", "messages_of", "response_parts", "usage_of"]

_SKIPPED_CONFIG = frozenset({"http_options", "automatic_function_calling"})
"""Transport options (their headers may carry credentials) and the SDK's own loop settings."""


def _dump(value: Any) -> Any:
    if isinstance(value, type):  # response_schema=MyModel: recorded by name
        return value.__name__
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(exclude_none=True)
    return value


def _part(part: Any) -> Any:
    if isinstance(part, str):
        return {"text": part}
    if isinstance(part, Mapping):
        return dict(part)
    text = getattr(part, "text", None)
    if text is not None:
        entry: dict[str, Any] = {"text": text}
        if getattr(part, "thought", None):
            entry["thought"] = True
        return entry
    call = getattr(part, "function_call", None)
    if call is not None:
        return {"function_call": {"name": call.name, "args": call.args, "id": call.id}}
    answer = getattr(part, "function_response", None)
    if answer is not None:
        return {"function_response": {"name": answer.name, "response": answer.response}}
    inline = getattr(part, "inline_data", None)
    if inline is not None:
        size = len(inline.data) if isinstance(inline.data, bytes | str) else None
        return {"inline_data": {"mime_type": inline.mime_type, "bytes": size}}
    file_data = getattr(part, "file_data", None)
    if file_data is not None:
        return {"file_data": {"mime_type": file_data.mime_type, "uri": file_data.file_uri}}
    return _dump(part)


def _message(item: Any) -> dict[str, Any]:
    if isinstance(item, str):
        return {"role": "user", "parts": [{"text": item}]}
    if isinstance(item, Mapping) and "parts" in item:
        parts = item.get("parts") or []
        return {"role": item.get("role") or "user", "parts": [_part(part) for part in parts]}
    parts = getattr(item, "parts", None)
    if parts is not None or hasattr(item, "role"):
        role = getattr(item, "role", None) or "user"
        return {"role": role, "parts": [_part(part) for part in parts or ()]}
    return {"role": "user", "parts": [_part(item)]}


def messages_of(contents: Any) -> list[dict[str, Any]]:
    """The request's ``contents`` as a list of messages (a bare part or string is one)."""
    if isinstance(contents, list | tuple):
        messages: list[dict[str, Any]] = []
        loose: list[Any] = []  # consecutive bare parts are one user message, as the SDK sends
        for item in contents:
            if isinstance(item, str) or not (
                hasattr(item, "parts") or (isinstance(item, Mapping) and "parts" in item)
            ):
                loose.append(_part(item))
                continue
            if loose:
                messages.append({"role": "user", "parts": loose})
                loose = []
            messages.append(_message(item))
        if loose:
            messages.append({"role": "user", "parts": loose})
        return messages
    return [_message(contents)]


def _tool(tool: Any) -> Any:
    if callable(tool):  # a Python function for automatic function calling
        return {"function": getattr(tool, "__name__", repr(tool))}
    return _dump(tool)


def config_of(config: Any) -> tuple[dict[str, Any], Any]:
    """``(the config's parameters, its system instruction)``."""
    if config is None:
        return {}, None
    if isinstance(config, Mapping):
        fields = {key: value for key, value in config.items() if value is not None}
        tools = fields.get("tools")
    else:
        names = getattr(type(config), "model_fields", None) or {}
        fields = {name: getattr(config, name, None) for name in names}
        fields = {key: value for key, value in fields.items() if value is not None}
        tools = fields.get("tools")
    system = fields.pop("system_instruction", None)
    params = {key: value for key, value in fields.items() if key not in _SKIPPED_CONFIG}
    if tools:
        params["tools"] = [_tool(tool) for tool in tools]
    for key, value in list(params.items()):
        if key != "tools":
            params[key] = _dump(value)
    if system is not None:
        system = messages_of(system)[0]["parts"] if not isinstance(system, str) else system
    return params, system


def response_parts(candidate: Any) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """``(text pieces, thought pieces, function calls)`` of one candidate."""
    text: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    content = getattr(candidate, "content", None)
    for part in getattr(content, "parts", None) or ():
        call = getattr(part, "function_call", None)
        if call is not None:
            calls.append({"id": call.id, "name": call.name, "args": call.args})
            continue
        piece = getattr(part, "text", None)
        if piece:
            (thoughts if getattr(part, "thought", None) else text).append(piece)
    return text, thoughts, calls


def _modality(details: Any, wanted: str) -> int | None:
    total = None
    for entry in details or ():
        modality = getattr(entry, "modality", None)
        name = getattr(modality, "value", modality)
        if name == wanted:
            total = (total or 0) + (getattr(entry, "token_count", None) or 0)
    return total


def usage_of(usage: Any) -> dict[str, Any]:
    """Metrics of a ``usage_metadata``: Gemini counts thinking apart from the candidates, so
    ``completion_tokens`` is both (as OpenAI counts reasoning), and ``reasoning_tokens`` the
    thinking part; the cached content is part of the prompt."""
    if usage is None:
        return {}
    candidates = getattr(usage, "candidates_token_count", None)
    thoughts = getattr(usage, "thoughts_token_count", None)
    completion = None
    if isinstance(candidates, int) or isinstance(thoughts, int):
        completion = (candidates or 0) + (thoughts or 0)
    prompt = getattr(usage, "prompt_token_count", None)
    tool_prompt = getattr(usage, "tool_use_prompt_token_count", None)
    if isinstance(prompt, int) and isinstance(tool_prompt, int):
        prompt += tool_prompt  # the results of built-in tools the model read
    return usage_metrics(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=getattr(usage, "total_token_count", None),
        cache_read_tokens=getattr(usage, "cached_content_token_count", None),
        reasoning_tokens=thoughts,
        audio_input_tokens=_modality(getattr(usage, "prompt_tokens_details", None), "AUDIO"),
        audio_output_tokens=_modality(getattr(usage, "candidates_tokens_details", None), "AUDIO"),
    )
