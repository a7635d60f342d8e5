"""Chat Completions (``chat.completions.create`` / ``parse``, streamed or not) as model events.

``inputs`` are the ``messages``; ``config`` the model and every other parameter; ``outputs``
the assistant message (``role``, ``content``, ``tool_calls``, ``refusal``, ``parsed``), or
``{"choices": [...]}`` when ``n > 1``; ``metrics`` the token usage.

A stream asks the API for its usage (``stream_options={"include_usage": True}``) unless the
user decided about it; the usage-only chunk that this adds is hidden from the user's iteration.
A server that refuses the parameter gets the call again exactly as the user made it, and is
not asked again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from honeytrace.instrumentation import Endpoint, Request, Result, server_metadata, split_request

from ._usage import response_metadata, usage_metrics

__all__ = ["CREATE", "PARSE", "Options"]

DEFAULT_HOST = "api.openai.com"
_refusing_servers: set[str | None] = set()
"""Base URLs (``None``: OpenAI's own) that answered 400 to ``stream_options``: it is not sent
to them again."""


@dataclass
class Options:
    """Options of :func:`honeytrace_openai.instrument`."""

    stream_usage: bool = True
    """Ask for token usage in Chat Completions streams (hidden from the user's iteration)."""


def _request(resource: Any, kwargs: dict[str, Any], options: Any) -> Request:
    inputs, config = split_request(kwargs, ("messages",), "openai")
    metadata = server_metadata(resource, DEFAULT_HOST)
    request = Request(inputs, config, metadata, stream=kwargs.get("stream") is True)
    if request.stream and getattr(options, "stream_usage", True):
        stream_options = kwargs.get("stream_options")
        mine = stream_options if isinstance(stream_options, Mapping) else {}
        if "include_usage" not in mine and metadata.get("base_url") not in _refusing_servers:
            request.call_kwargs = {**kwargs, "stream_options": {**mine, "include_usage": True}}
            request.hide_usage_chunk = True
    return request


def _refused(resource: Any, exc: BaseException) -> bool:
    if getattr(exc, "status_code", None) != 400 or "stream_options" not in str(exc):
        return False
    _refusing_servers.add(server_metadata(resource, DEFAULT_HOST).get("base_url"))
    return True


def _tool_call(call: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": getattr(call, "id", None), "type": getattr(call, "type", None)}
    function = getattr(call, "function", None)
    if function is not None:
        entry["function"] = {"name": function.name, "arguments": function.arguments}
    custom = getattr(call, "custom", None)
    if custom is not None:
        entry["custom"] = {"name": custom.name, "input": custom.input}
    return entry


def _message(message: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "role": getattr(message, "role", None) or "assistant",
        "content": getattr(message, "content", None),
    }
    tool_calls = getattr(message, "tool_calls", None)
    if tool_calls:
        out["tool_calls"] = [_tool_call(call) for call in tool_calls]
    function_call = getattr(message, "function_call", None)  # the deprecated functions API
    if function_call is not None:
        out["function_call"] = {"name": function_call.name, "arguments": function_call.arguments}
    for optional in ("refusal", "parsed"):
        value = getattr(message, optional, None)
        if value is not None:
            out[optional] = value
    audio = getattr(message, "audio", None)
    if audio is not None:
        out["audio"] = {"id": getattr(audio, "id", None), "transcript": audio.transcript}
    return out


def _outputs(messages: list[dict[str, Any]]) -> dict[str, Any]:
    if len(messages) == 1:
        only = dict(messages[0])
        only.pop("index", None)
        only.pop("finish_reason", None)
        return only
    return {"choices": messages}


def _finish_reasons(reasons: list[Any]) -> dict[str, Any]:
    if len(reasons) == 1:
        return {"finish_reason": reasons[0]}
    return {"finish_reasons": reasons} if reasons else {}


def _response(completion: Any) -> Result:
    choices = getattr(completion, "choices", None)
    if not isinstance(choices, list):  # with_raw_response: the body is the user's to parse
        return Result(metadata={"raw_response": True})
    messages = []
    for choice in choices:
        message = _message(choice.message)
        message["index"] = choice.index
        message["finish_reason"] = choice.finish_reason
        messages.append(message)
    metadata = response_metadata(completion)
    metadata.update(_finish_reasons([choice.finish_reason for choice in choices]))
    return Result(_outputs(messages), usage_metrics(completion.usage), metadata)


class _Choice:
    """One choice of a streamed completion, assembled from its deltas."""

    __slots__ = ("content", "finish_reason", "function", "refusal", "role", "tools")

    def __init__(self) -> None:
        self.role: str | None = None
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.tools: dict[int, dict[str, Any]] = {}
        self.function: dict[str, Any] | None = None
        self.finish_reason: str | None = None

    def add(self, delta: Any) -> bool:
        """Take one delta; True when it carried generated content."""
        produced = False
        role = getattr(delta, "role", None)
        if role:
            self.role = role
        content = getattr(delta, "content", None)
        if content:
            self.content.append(content)
            produced = True
        refusal = getattr(delta, "refusal", None)
        if refusal:
            self.refusal.append(refusal)
            produced = True
        for call in getattr(delta, "tool_calls", None) or ():
            entry = self.tools.setdefault(
                call.index, {"id": None, "type": "function", "name": [], "arguments": []}
            )
            if call.id:
                entry["id"] = call.id
            if getattr(call, "type", None):
                entry["type"] = call.type
            function = call.function
            if function is not None:
                if function.name:
                    entry["name"].append(function.name)
                if function.arguments:
                    entry["arguments"].append(function.arguments)
            produced = True
        function_call = getattr(delta, "function_call", None)
        if function_call is not None:
            if self.function is None:
                self.function = {"name": [], "arguments": []}
            if function_call.name:
                self.function["name"].append(function_call.name)
            if function_call.arguments:
                self.function["arguments"].append(function_call.arguments)
            produced = True
        return produced

    def message(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "role": self.role or "assistant",
            "content": "".join(self.content) if self.content else None,
        }
        if self.tools:
            out["tool_calls"] = [
                {
                    "id": entry["id"],
                    "type": entry["type"],
                    "function": {
                        "name": "".join(entry["name"]),
                        "arguments": "".join(entry["arguments"]),
                    },
                }
                for _, entry in sorted(self.tools.items())
            ]
        if self.function is not None:
            out["function_call"] = {key: "".join(parts) for key, parts in self.function.items()}
        if self.refusal:
            out["refusal"] = "".join(self.refusal)
        return out


class ChatAccumulator:
    """Assembles ``chat.completion.chunk`` objects into the message they spell."""

    def __init__(self, request: Request) -> None:
        self.hide_usage = request.hide_usage_chunk
        self.choices: dict[int, _Choice] = {}
        self.usage: Any = None
        self.first: Any = None
        self.has_output = False
        self.complete = False

    def hides(self, chunk: Any) -> bool:
        # The usage-only chunk the tracer asked for: the user would not have received it.
        return self.hide_usage and not chunk.choices and chunk.usage is not None

    def add(self, chunk: Any) -> None:
        if self.first is None:
            self.first = chunk
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
        choices = getattr(chunk, "choices", None) or ()
        for choice in choices:
            state = self.choices.get(choice.index)
            if state is None:
                state = self.choices[choice.index] = _Choice()
            if choice.delta is not None and state.add(choice.delta):
                self.has_output = True
            if choice.finish_reason:
                state.finish_reason = choice.finish_reason
        if choices:
            self.complete = all(state.finish_reason for state in self.choices.values())

    def result(self) -> Result:
        ordered = sorted(self.choices.items())
        messages = []
        for index, state in ordered:
            message = state.message()
            message["index"] = index
            message["finish_reason"] = state.finish_reason
            messages.append(message)
        metadata = response_metadata(self.first) if self.first is not None else {}
        metadata.update(_finish_reasons([state.finish_reason for _, state in ordered]))
        outputs = _outputs(messages) if messages else None
        return Result(outputs, usage_metrics(self.usage), metadata)


CREATE = Endpoint("openai.chat.completions.create", _request, _response, ChatAccumulator, _refused)
PARSE = Endpoint("openai.chat.completions.parse", _request, _response, ChatAccumulator, _refused)
