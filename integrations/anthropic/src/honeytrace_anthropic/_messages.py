"""The Messages API (``messages.create`` / ``parse`` / ``stream``, and their ``beta``
versions) as model events.

``inputs`` are ``messages`` and the ``system`` prompt; ``config`` the model, ``max_tokens``
and every other parameter; ``outputs`` the assistant's text as ``content``, its ``tool_use``
blocks as ``tool_calls`` (``id``, ``name``, ``input``), its ``thinking`` text, and any other
block (server tools, citations results) as ``content_blocks``; ``metrics`` the token usage,
``prompt_tokens`` counting cached input too (as OpenAI's does), with the cache split out.
Streams always carry their usage (``message_start`` and ``message_delta``): nothing is added
to the request.
"""

from __future__ import annotations

import json
from typing import Any

from honeytrace.instrumentation import (
    Endpoint,
    Request,
    Result,
    server_metadata,
    split_request,
    usage_metrics,
)

__all__ = ["BETA_CREATE", "BETA_PARSE", "BETA_STREAM", "CREATE", "PARSE", "STREAM"]

DEFAULT_HOST = "api.anthropic.com"
_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


def _request(resource: Any, kwargs: dict[str, Any], options: Any) -> Request:
    inputs, config = split_request(kwargs, ("messages", "system"), "anthropic")
    metadata = server_metadata(resource, DEFAULT_HOST)
    return Request(inputs, config, metadata, stream=kwargs.get("stream") is True)


def _usage_counts(usage: Any, into: dict[str, int]) -> None:
    for name in _USAGE_FIELDS:
        value = getattr(usage, name, None)
        if isinstance(value, int):
            into[name] = value


def _metrics(counts: dict[str, int]) -> dict[str, Any]:
    if not counts:
        return {}
    cache_read = counts.get("cache_read_input_tokens", 0)
    cache_write = counts.get("cache_creation_input_tokens", 0)
    # honeytrace's prompt_tokens count every input token (as OpenAI's do), the cache included.
    return usage_metrics(
        prompt_tokens=counts.get("input_tokens", 0) + cache_read + cache_write,
        completion_tokens=counts.get("output_tokens", 0),
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_write,
    )


def _metadata(message: Any, stop_reason: Any, stop_sequence: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for key, value in (
        ("response_id", getattr(message, "id", None)),
        ("response_model", getattr(message, "model", None)),
        ("stop_reason", stop_reason),
        ("stop_sequence", stop_sequence),
    ):
        if value is not None:
            metadata[key] = value
    return metadata


def _outputs(
    text: list[str], tool_calls: list[dict[str, Any]], thinking: list[str], others: list[Any]
) -> dict[str, Any]:
    outputs: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text else None}
    if tool_calls:
        outputs["tool_calls"] = tool_calls
    if thinking:
        outputs["thinking"] = "".join(thinking)
    if others:
        outputs["content_blocks"] = others
    return outputs


def _response(message: Any) -> Result:
    content = getattr(message, "content", None)
    if not isinstance(content, list):  # with_raw_response: the body is the user's to parse
        return Result(metadata={"raw_response": True})
    text: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    thinking: list[str] = []
    others: list[Any] = []
    for block in content:
        kind = getattr(block, "type", None)
        if kind == "text":
            text.append(block.text)
        elif kind == "tool_use":
            tool_calls.append(
                {"id": block.id, "type": "tool_use", "name": block.name, "input": block.input}
            )
        elif kind == "thinking":
            thinking.append(block.thinking)
        else:
            others.append(block)
    outputs = _outputs(text, tool_calls, thinking, others)
    parsed = getattr(message, "parsed_output", None)  # messages.parse
    if parsed is not None:
        outputs["parsed"] = parsed
    counts: dict[str, int] = {}
    _usage_counts(getattr(message, "usage", None), counts)
    metadata = _metadata(message, message.stop_reason, getattr(message, "stop_sequence", None))
    return Result(outputs, _metrics(counts), metadata)


class _Block:
    """One content block of a streamed message, assembled from its deltas."""

    __slots__ = ("json", "start", "text", "thinking")

    def __init__(self, start: Any) -> None:
        self.start = start
        initial = getattr(start, "text", None)
        self.text: list[str] = [initial] if initial else []
        self.json: list[str] = []
        self.thinking: list[str] = []

    def tool_input(self) -> Any:
        if not self.json:
            return getattr(self.start, "input", None)
        joined = "".join(self.json)
        try:
            # The SDK does the same parse for its own helpers; a few hundred bytes, once.
            return json.loads(joined)
        except ValueError:
            return joined  # cut short: keep what arrived


class MessageAccumulator:
    """Assembles raw Messages stream events (``message_start`` ... ``message_stop``)."""

    def __init__(self, request: Request) -> None:
        self.message: Any = None
        self.blocks: dict[int, _Block] = {}
        self.counts: dict[str, int] = {}
        self.stop_reason: Any = None
        self.stop_sequence: Any = None
        self.has_output = False
        self.complete = False

    def hides(self, event: Any) -> bool:
        return False

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "content_block_delta":
            block = self.blocks.get(event.index)
            if block is None:
                return
            delta = event.delta
            if delta.type == "text_delta":
                block.text.append(delta.text)
            elif delta.type == "input_json_delta":
                block.json.append(delta.partial_json)
            elif delta.type == "thinking_delta":
                block.thinking.append(delta.thinking)
            else:  # signatures, citations: not generated text
                return
            self.has_output = True
        elif kind == "content_block_start":
            self.blocks[event.index] = _Block(event.content_block)
        elif kind == "message_start":
            self.message = event.message
            _usage_counts(event.message.usage, self.counts)
        elif kind == "message_delta":
            self.stop_reason = event.delta.stop_reason
            self.stop_sequence = getattr(event.delta, "stop_sequence", None)
            _usage_counts(getattr(event, "usage", None), self.counts)  # cumulative counts
        elif kind == "message_stop":
            self.complete = True

    def result(self) -> Result:
        text: list[str] = []
        tool_calls: list[dict[str, Any]] = []
        thinking: list[str] = []
        others: list[Any] = []
        for _, block in sorted(self.blocks.items()):
            kind = getattr(block.start, "type", None)
            if kind == "text":
                text.extend(block.text)
            elif kind == "tool_use":
                tool_calls.append(
                    {
                        "id": block.start.id,
                        "type": "tool_use",
                        "name": block.start.name,
                        "input": block.tool_input(),
                    }
                )
            elif kind == "thinking":
                thinking.extend(block.thinking)
            else:
                others.append(block.start)
        outputs = _outputs(text, tool_calls, thinking, others) if self.blocks else None
        metadata = _metadata(self.message, self.stop_reason, self.stop_sequence)
        return Result(outputs, _metrics(self.counts), metadata)


def _endpoint(name: str) -> Endpoint:
    return Endpoint(name, _request, _response, MessageAccumulator)


CREATE = _endpoint("anthropic.messages.create")
PARSE = _endpoint("anthropic.messages.parse")
STREAM = _endpoint("anthropic.messages.stream")
BETA_CREATE = _endpoint("anthropic.beta.messages.create")
BETA_PARSE = _endpoint("anthropic.beta.messages.parse")
BETA_STREAM = _endpoint("anthropic.beta.messages.stream")
