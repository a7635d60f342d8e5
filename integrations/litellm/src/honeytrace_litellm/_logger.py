"""The LiteLLM callback: each ``completion`` / ``acompletion`` / ``embedding`` call (streamed or
not) as one honeytrace ``model`` event.

LiteLLM calls ``log_pre_api_call`` on the caller's thread (or task) just before the request:
the event begins there, so it nests in the caller's honeytrace event and its start is the
request's. The outcome arrives later, on a LiteLLM logging thread or on the event loop
(``log_success_event`` / ``async_log_success_event``, ``..._failure_event``): the event is found
again by ``litellm_call_id`` and ended with the response, the usage, and the cost LiteLLM
computed, kept as ``metadata.cost.source = "reported"`` (a cost LiteLLM could not compute, 0,
is left to honeytrace's own pricing rather than shown as free). A call whose start was not seen
(the LiteLLM proxy's hooks) is recorded when its outcome arrives.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

import honeytrace
from honeytrace.instrumentation import guarded, usage_metrics, usage_source

__all__ = ["HoneytraceLogger"]

# Request parameters that are not the call's configuration (or are recorded elsewhere).
_NOT_CONFIG = frozenset(
    {"messages", "input", "stream", "stream_options", "api_key", "api_base", "extra_body"}
)
_MAX_OPEN = 10_000  # calls whose outcome never came are forgotten past this many


class HoneytraceLogger(CustomLogger):
    """Put it in ``litellm.callbacks`` (``honeytrace_litellm.instrument()`` does)."""

    def __init__(self) -> None:
        super().__init__()
        self.active = True
        self._open: dict[str, honeytrace.Span] = {}
        self._done: dict[str, None] = {}  # ids of calls already recorded, oldest first

    # -- the start, on the caller's thread -------------------------------------------------

    @guarded
    def log_pre_api_call(self, model: Any, messages: Any, kwargs: dict[str, Any]) -> None:
        """The request is about to be sent: begin the event in the caller's context."""
        call_id = kwargs.get("litellm_call_id")
        if not self.active or not isinstance(call_id, str) or call_id in self._open:
            return
        if len(self._open) >= _MAX_OPEN:
            self._open.clear()
        span = _span(kwargs, messages)
        span.begin()
        self._open[call_id] = span

    # -- the outcome, wherever LiteLLM reports it -----------------------------------------

    @guarded
    def log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """A call succeeded (a stream: once, with the assembled response)."""
        self._success(kwargs, response_obj, start_time)

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """An async call succeeded."""
        guarded(self._success)(kwargs, response_obj, start_time)

    @guarded
    def log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """A call failed."""
        self._failure(kwargs)

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """An async call failed."""
        guarded(self._failure)(kwargs)

    def _take(self, kwargs: dict[str, Any]) -> honeytrace.Span | None:
        call_id = kwargs.get("litellm_call_id")
        if not isinstance(call_id, str):
            call_id = None
        elif call_id in self._done:
            return None  # LiteLLM reports some calls twice (a stream: sync and async handlers)
        else:
            if len(self._done) >= _MAX_OPEN:
                self._done.pop(next(iter(self._done)))
            self._done[call_id] = None
        span = self._open.pop(call_id, None) if call_id is not None else None
        if span is None and self.active:
            span = _span(kwargs, kwargs.get("messages"))  # its start was not seen
            span.begin()
        return span

    def _success(self, kwargs: dict[str, Any], response: Any, start_time: Any) -> None:
        span = self._take(kwargs)
        if span is None:
            return
        logged = kwargs.get("standard_logging_object")
        logged = logged if isinstance(logged, Mapping) else {}
        metrics: dict[str, Any] = _usage(getattr(response, "usage", None))
        metadata = _response_metadata(response)
        metadata["usage_source"] = usage_source(metrics)
        first = kwargs.get("completion_start_time")
        if (
            kwargs.get("stream")
            and isinstance(first, datetime)
            and isinstance(start_time, datetime)
        ):
            metrics["time_to_first_token_ms"] = (first - start_time).total_seconds() * 1000
        cost = logged.get("response_cost", kwargs.get("response_cost"))
        if isinstance(cost, int | float) and not isinstance(cost, bool) and cost > 0:
            metrics["cost_usd"] = float(cost)
            metadata["cost"] = {
                "source": "reported",
                "reporter": "litellm",
                "provider": logged.get("custom_llm_provider"),
                "model_ref": logged.get("model"),
                "estimated": False,
            }
        span.set_outputs(_outputs(response))
        span.enrich(metrics=metrics or None, metadata=metadata)
        span.finish()

    def _failure(self, kwargs: dict[str, Any]) -> None:
        span = self._take(kwargs)
        if span is None:
            return
        error = kwargs.get("exception")
        metadata: dict[str, Any] = {"usage_source": "missing"}
        status = getattr(error, "status_code", None)
        if isinstance(status, int):
            metadata["status_code"] = status
        span.enrich(metadata=metadata)
        if isinstance(error, BaseException):
            span.finish(error)
        else:
            logged = kwargs.get("standard_logging_object")
            text = logged.get("error_str") if isinstance(logged, Mapping) else None
            span.finish(str(text or "LiteLLM call failed"))


def _span(kwargs: Mapping[str, Any], messages: Any) -> honeytrace.Span:
    call_type = kwargs.get("call_type")
    name = f"litellm.{call_type}" if isinstance(call_type, str) else "litellm.completion"
    if call_type in ("embedding", "aembedding"):
        given = kwargs.get("input")
        inputs = {"input": given if given is not None else messages}
    else:
        inputs = {"messages": messages if messages is not None else kwargs.get("messages")}
    return honeytrace.span(
        name, "model", inputs=inputs, config=_config(kwargs), metadata=_request_metadata(kwargs)
    )


def _config(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    provider = kwargs.get("custom_llm_provider")
    if isinstance(provider, str) and provider:
        config["provider"] = provider
    model = kwargs.get("model")
    if isinstance(model, str) and model:
        # "openai/gpt-4o-mini" names the provider too: the model is the rest.
        config["model"] = (
            model.split("/", 1)[1] if provider and model.startswith(f"{provider}/") else model
        )
    params = kwargs.get("optional_params")
    for key, value in params.items() if isinstance(params, Mapping) else ():
        if key not in _NOT_CONFIG and value is not None:
            config[key] = value
    return config


def _request_metadata(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    call_id = kwargs.get("litellm_call_id")
    if isinstance(call_id, str):
        metadata["litellm_call_id"] = call_id
    params = kwargs.get("litellm_params")
    api_base = params.get("api_base") if isinstance(params, Mapping) else None
    if isinstance(api_base, str) and api_base:
        metadata["base_url"] = api_base
    return metadata


def _usage(usage: Any) -> dict[str, int]:
    if usage is None:
        return {}
    prompt_details = getattr(usage, "prompt_tokens_details", None)
    completion_details = getattr(usage, "completion_tokens_details", None)
    return usage_metrics(
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        total_tokens=getattr(usage, "total_tokens", None),
        cache_read_tokens=getattr(prompt_details, "cached_tokens", None),
        cache_creation_tokens=getattr(usage, "cache_creation_input_tokens", None),
        reasoning_tokens=getattr(completion_details, "reasoning_tokens", None),
        audio_input_tokens=getattr(prompt_details, "audio_tokens", None),
        audio_output_tokens=getattr(completion_details, "audio_tokens", None),
    )


def _response_metadata(response: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for key, name in (("response_id", "id"), ("response_model", "model")):
        value = getattr(response, name, None)
        if isinstance(value, str) and value:
            metadata[key] = value
    choices = getattr(response, "choices", None)
    if isinstance(choices, list) and choices:
        reason = getattr(choices[0], "finish_reason", None)
        if reason:
            metadata["finish_reason"] = reason
    return metadata


def _outputs(response: Any) -> dict[str, Any]:
    choices = getattr(response, "choices", None)
    if isinstance(choices, list) and choices:
        messages = [_message(getattr(choice, "message", None)) for choice in choices]
        return messages[0] if len(messages) == 1 else {"choices": messages}
    data = getattr(response, "data", None)
    if isinstance(data, list):  # embeddings: their shape, not the vectors
        first = data[0] if data else None
        vector = first.get("embedding") if isinstance(first, Mapping) else None
        vector = vector if vector is not None else getattr(first, "embedding", None)
        out: dict[str, Any] = {"embeddings": len(data)}
        if isinstance(vector, list):
            out["dimensions"] = len(vector)
        return out
    return {"result": response}


def _message(message: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "role": getattr(message, "role", None) or "assistant",
        "content": getattr(message, "content", None),
    }
    tool_calls = getattr(message, "tool_calls", None)
    if tool_calls:
        out["tool_calls"] = [
            {
                "id": getattr(call, "id", None),
                "type": getattr(call, "type", None),
                "function": {
                    "name": getattr(getattr(call, "function", None), "name", None),
                    "arguments": getattr(getattr(call, "function", None), "arguments", None),
                },
            }
            for call in tool_calls
        ]
    return out
