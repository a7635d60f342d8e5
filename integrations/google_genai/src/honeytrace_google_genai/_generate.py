"""``models.generate_content`` and ``generate_content_stream`` (sync and async) as model events.

``inputs`` are the ``messages`` (the request's ``contents``; a chat sends its whole history)
and the ``system_instruction``; ``config`` the provider, model and every parameter of the
request's config; ``outputs`` the first candidate's text as ``content``, its function calls as
``tool_calls`` and its thinking (when the request asked for thought summaries) as
``thoughts``, or ``{"candidates": [...]}`` when several were asked for. A stream is assembled
from its chunks; its usage is the last one the server sent.
"""

from __future__ import annotations

from typing import Any

from honeytrace.instrumentation import Endpoint, Request, Result, usage_source

from ._content import config_of, messages_of, response_parts, usage_of

__all__ = ["GENERATE", "STREAM"]

DEFAULT_HOSTS = ("generativelanguage.googleapis.com", "aiplatform.googleapis.com")


def _server(resource: Any) -> dict[str, Any]:
    client = getattr(resource, "_api_client", None)
    metadata: dict[str, Any] = {}
    if getattr(client, "vertexai", False):
        metadata["vertexai"] = True
    base_url = getattr(getattr(client, "_http_options", None), "base_url", None)
    if base_url and not any(host in str(base_url) for host in DEFAULT_HOSTS):
        metadata["base_url"] = str(base_url)
    return metadata


def _request(resource: Any, kwargs: dict[str, Any], options: Any, stream: bool) -> Request:
    params, system = config_of(kwargs.get("config"))
    config: dict[str, Any] = {"provider": "google"}
    model = kwargs.get("model")
    if model is not None:
        config["model"] = model
    config.update(params)
    inputs: dict[str, Any] = {"messages": messages_of(kwargs.get("contents"))}
    if system is not None:
        inputs["system_instruction"] = system
    return Request(inputs, config, _server(resource), stream=stream)


def _plain(resource: Any, kwargs: dict[str, Any], options: Any) -> Request:
    return _request(resource, kwargs, options, stream=False)


def _streamed(resource: Any, kwargs: dict[str, Any], options: Any) -> Request:
    return _request(resource, kwargs, options, stream=True)


def _finish_reason(candidate: Any) -> Any:
    reason = getattr(candidate, "finish_reason", None)
    return getattr(reason, "value", reason)


def _candidate_output(text: list[str], thoughts: list[str], calls: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "model", "content": "".join(text) if text else None}
    if calls:
        out["tool_calls"] = calls
    if thoughts:
        out["thoughts"] = "".join(thoughts)
    return out


def _metadata(response: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    response_id = getattr(response, "response_id", None)
    if isinstance(response_id, str):
        metadata["response_id"] = response_id
    version = getattr(response, "model_version", None)
    if isinstance(version, str):
        metadata["response_model"] = version
    feedback = getattr(response, "prompt_feedback", None)
    blocked = getattr(feedback, "block_reason", None)
    if blocked is not None:
        metadata["block_reason"] = getattr(blocked, "value", blocked)
    return metadata


def _result(outputs: dict[str, Any] | None, usage: Any, metadata: dict[str, Any]) -> Result:
    metrics = usage_of(usage)
    metadata["usage_source"] = usage_source(metrics)
    return Result(outputs, metrics, metadata)


def _response(response: Any) -> Result:
    candidates = getattr(response, "candidates", None)
    if candidates is None and not hasattr(response, "usage_metadata"):
        return Result(metadata={"unreadable_response": type(response).__name__})
    metadata = _metadata(response)
    outputs: dict[str, Any] | None = None
    if candidates:
        reads = [_candidate_output(*response_parts(candidate)) for candidate in candidates]
        reasons = [_finish_reason(candidate) for candidate in candidates]
        if len(reads) == 1:
            outputs = reads[0]
            metadata["finish_reason"] = reasons[0]
        else:
            outputs = {"candidates": reads}
            metadata["finish_reasons"] = reasons
    history = getattr(response, "automatic_function_calling_history", None)
    if history:  # the SDK called the app's functions and the model again, inside this call
        metadata["automatic_function_calling_turns"] = len(history)
    return _result(outputs, getattr(response, "usage_metadata", None), metadata)


class StreamAccumulator:
    """Assembles the chunks of ``generate_content_stream`` (each a partial response)."""

    def __init__(self, request: Request) -> None:
        self.text: dict[int, list[str]] = {}
        self.thoughts: dict[int, list[str]] = {}
        self.calls: dict[int, list[dict[str, Any]]] = {}
        self.reasons: dict[int, Any] = {}
        self.usage: Any = None
        self.metadata: dict[str, Any] = {}
        self.has_output = False
        self.complete = False

    def hides(self, chunk: Any) -> bool:
        return False

    def add(self, chunk: Any) -> None:
        if not self.metadata:
            self.metadata = _metadata(chunk)
        usage = getattr(chunk, "usage_metadata", None)
        if usage is not None:
            self.usage = usage
        for position, candidate in enumerate(getattr(chunk, "candidates", None) or ()):
            index = getattr(candidate, "index", None)
            index = index if isinstance(index, int) else position
            text, thoughts, calls = response_parts(candidate)
            if text or thoughts or calls:
                self.has_output = True
            self.text.setdefault(index, []).extend(text)
            self.thoughts.setdefault(index, []).extend(thoughts)
            self.calls.setdefault(index, []).extend(calls)
            reason = _finish_reason(candidate)
            if reason is not None:
                self.reasons[index] = reason
        if self.reasons and len(self.reasons) >= len(self.text):
            self.complete = True

    def result(self) -> Result:
        indexes = sorted(self.text)
        metadata = dict(self.metadata)
        outputs: dict[str, Any] | None = None
        reads = [
            _candidate_output(self.text[i], self.thoughts.get(i, []), self.calls.get(i, []))
            for i in indexes
        ]
        if len(reads) == 1:
            outputs = reads[0]
            if indexes[0] in self.reasons:
                metadata["finish_reason"] = self.reasons[indexes[0]]
        elif reads:
            outputs = {"candidates": reads}
            metadata["finish_reasons"] = [self.reasons.get(i) for i in indexes]
        return _result(outputs, self.usage, metadata)


GENERATE = Endpoint("google.genai.models.generate_content", _plain, _response)
STREAM = Endpoint(
    "google.genai.models.generate_content_stream", _streamed, _response, StreamAccumulator
)
