"""The Responses API (``responses.create`` / ``parse``, streamed or not) as model events.

``inputs`` are ``input`` and ``instructions``; ``outputs`` the assistant's text as
``content``, its function calls as ``tool_calls`` (shaped as in Chat Completions), and any
other output items (reasoning, built-in tool calls) as ``output_items``. A run that the API
reports as failed sets the event's ``error``. Streams carry their usage in their last event,
so nothing is added to the request.
"""

from __future__ import annotations

from typing import Any

from honeytrace.instrumentation import Endpoint, Request, Result, server_metadata, split_request

from ._chat import DEFAULT_HOST
from ._usage import response_metadata, usage_metrics

__all__ = ["CREATE", "PARSE"]

_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def _request(resource: Any, kwargs: dict[str, Any], options: Any) -> Request:
    inputs, config = split_request(kwargs, ("input", "instructions"), "openai")
    metadata = server_metadata(resource, DEFAULT_HOST)
    return Request(inputs, config, metadata, stream=kwargs.get("stream") is True)


def _outputs(response: Any) -> dict[str, Any]:
    text: list[str] = []
    refusals: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    others: list[Any] = []
    for item in getattr(response, "output", None) or ():
        kind = getattr(item, "type", None)
        if kind == "message":
            for part in item.content:
                if part.type == "output_text":
                    text.append(part.text)
                elif part.type == "refusal":
                    refusals.append(part.refusal)
        elif kind == "function_call":
            function = {"name": item.name, "arguments": item.arguments}
            tool_calls.append({"id": item.call_id, "type": "function", "function": function})
        else:
            others.append(item)
    outputs: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text else None}
    if tool_calls:
        outputs["tool_calls"] = tool_calls
    if refusals:
        outputs["refusal"] = "".join(refusals)
    if others:
        outputs["output_items"] = others
    parsed = getattr(response, "output_parsed", None)  # responses.parse
    if parsed is not None:
        outputs["parsed"] = parsed
    return outputs


def _response(response: Any) -> Result:
    if not hasattr(response, "output"):  # with_raw_response: the body is the user's to parse
        return Result(metadata={"raw_response": True})
    metadata = response_metadata(response)
    status = getattr(response, "status", None)
    if status is not None:
        metadata["status"] = status
    result = Result(_outputs(response), usage_metrics(getattr(response, "usage", None)), metadata)
    error = getattr(response, "error", None)
    if error is not None:
        result.error = f"{getattr(error, 'code', 'error')}: {getattr(error, 'message', error)}"
    elif status == "incomplete":
        details = getattr(response, "incomplete_details", None)
        metadata["incomplete_reason"] = getattr(details, "reason", None)
    return result


class ResponsesAccumulator:
    """Follows a Responses API event stream; its final event carries the whole response."""

    def __init__(self, request: Request) -> None:
        self.started: Any = None
        self.final: Any = None
        self.text: list[str] = []
        self.error: str | None = None
        self.has_output = False
        self.complete = False

    def hides(self, event: Any) -> bool:
        return False

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", None) or ""
        if kind == "response.output_text.delta":
            self.text.append(event.delta)
            self.has_output = True
        elif kind.endswith(".delta"):  # function call arguments, refusals, reasoning text
            self.has_output = True
        elif kind in _FINAL_EVENTS:
            self.final = event.response
            self.complete = True
        elif kind == "response.created":
            self.started = event.response
        elif kind == "error":
            self.error = (
                f"{getattr(event, 'code', None) or 'error'}: {getattr(event, 'message', '')}"
            )

    def result(self) -> Result:
        if self.final is not None:
            result = _response(self.final)
        else:  # ended before its last event: what was said so far
            text = "".join(self.text) if self.text else None
            metadata = response_metadata(self.started) if self.started is not None else {}
            result = Result({"role": "assistant", "content": text}, {}, metadata)
        if self.error is not None:
            result.error = self.error
        return result


CREATE = Endpoint("openai.responses.create", _request, _response, ResponsesAccumulator)
PARSE = Endpoint("openai.responses.parse", _request, _response, ResponsesAccumulator)
