"""``models.generate_content`` / ``generate_content_stream`` (sync and ``client.aio``; chats
call them too) as model events.

``inputs`` are the ``contents``; ``config`` the provider (``google``), the model and the
``GenerateContentConfig`` fields that were set; ``outputs`` the first candidate's text, its
thoughts and its function calls; ``metrics`` the usage under honeytrace's names: the prompt
(tool-use prompt tokens included), the completion (thinking tokens included, as
``reasoning_tokens`` too) and the cached tokens.
"""

from __future__ import annotations

from typing import Any

from honeytrace.instrumentation import Endpoint, Request, Result, usage_metrics

__all__ = ["GENERATE", "GENERATE_STREAM"]


def _dump(value: Any) -> Any:
    """The SDK's pydantic objects without their many unset fields (a list of them too)."""
    if isinstance(value, list):
        return [_dump(item) for item in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(exclude_none=True, mode="json")
    return value


def _request(resource: Any, kwargs: dict[str, Any], options: Any) -> Request:
    config: dict[str, Any] = {"provider": "google"}
    model = kwargs.get("model")
    if isinstance(model, str):
        config["model"] = model.rsplit("/", 1)[-1]  # "models/gemini-..." or a resource name
    settings = _dump(kwargs.get("config"))
    if isinstance(settings, dict):
        config.update({key: value for key, value in settings.items() if value is not None})
    return Request({"contents": _dump(kwargs.get("contents"))}, config)


def _stream_request(resource: Any, kwargs: dict[str, Any], options: Any) -> Request:
    request = _request(resource, kwargs, options)
    request.stream = True
    return request


def _usage(usage: Any) -> dict[str, int]:
    if usage is None:
        return {}

    def count(name: str) -> int:
        value = getattr(usage, name, None)
        return value if isinstance(value, int) else 0

    thoughts = count("thoughts_token_count")
    return usage_metrics(
        prompt_tokens=count("prompt_token_count") + count("tool_use_prompt_token_count"),
        completion_tokens=count("candidates_token_count") + thoughts,
        total_tokens=getattr(usage, "total_token_count", None),
        cache_read_tokens=count("cached_content_token_count"),
        reasoning_tokens=thoughts,
    )


class _Parts:
    """The first candidate's parts, gathered across chunks."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.thoughts: list[str] = []
        self.calls: list[dict[str, Any]] = []
        self.finish: Any = None

    def add(self, response: Any) -> bool:
        produced = False
        candidates = getattr(response, "candidates", None) or []
        if not candidates:
            return False
        candidate = candidates[0]
        reason = getattr(candidate, "finish_reason", None)
        if reason is not None:
            self.finish = getattr(reason, "value", reason)
        content = getattr(candidate, "content", None)
        for part in getattr(content, "parts", None) or []:
            text = getattr(part, "text", None)
            if text:
                (self.thoughts if getattr(part, "thought", None) else self.text).append(text)
                produced = True
            call = getattr(part, "function_call", None)
            if call is not None:
                self.calls.append({"name": call.name, "args": call.args})
                produced = True
        return produced

    def outputs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": "model", "content": "".join(self.text) or None}
        if self.thoughts:
            out["thoughts"] = "".join(self.thoughts)
        if self.calls:
            out["function_calls"] = self.calls
        return out


def _metadata(response: Any, parts: _Parts) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    version = getattr(response, "model_version", None)
    if isinstance(version, str):
        metadata["response_model"] = version
    response_id = getattr(response, "response_id", None)
    if isinstance(response_id, str):
        metadata["response_id"] = response_id
    if parts.finish is not None:
        metadata["finish_reason"] = parts.finish
    return metadata


def _response(response: Any) -> Result:
    parts = _Parts()
    parts.add(response)
    return Result(
        parts.outputs(),
        _usage(getattr(response, "usage_metadata", None)),
        _metadata(response, parts),
    )


class StreamAccumulator:
    """Assembles the chunks of ``generate_content_stream``."""

    def __init__(self, request: Request) -> None:
        self.parts = _Parts()
        self.last: Any = None
        self.usage: Any = None
        self.has_output = False
        self.complete = False

    def hides(self, item: Any) -> bool:
        return False

    def add(self, item: Any) -> None:
        self.last = item
        usage = getattr(item, "usage_metadata", None)
        if usage is not None:
            self.usage = usage
        if self.parts.add(item):
            self.has_output = True
        if self.parts.finish is not None:
            self.complete = True

    def result(self) -> Result:
        metadata = _metadata(self.last, self.parts) if self.last is not None else {}
        return Result(self.parts.outputs(), _usage(self.usage), metadata)


GENERATE = Endpoint("google.models.generate_content", _request, _response)
GENERATE_STREAM = Endpoint(
    "google.models.generate_content_stream", _stream_request, _response, StreamAccumulator
)
