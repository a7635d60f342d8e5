"""What one traced API call is made of: the request as recorded, the result as recorded, the
endpoint that knows how to read both, and :class:`TracedCall`, which owns the honeytrace event.

Only honeytrace's public API is used: ``honeytrace.span(..., "model")`` and the span's
``begin``/``finish``/``enrich``/``set_outputs``/``set_error`` (and ``with`` for calls that
return at once, so that the event is the current one while the request runs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import Any, Protocol

import honeytrace
from honeytrace.instrumentation._usage import usage_source

__all__ = ["Accumulator", "Endpoint", "Request", "Result", "TracedCall", "error_metadata"]


@dataclass
class Request:
    """What is recorded about a call before it is made."""

    inputs: dict[str, Any]
    config: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    call_kwargs: dict[str, Any] | None = None
    """The keyword arguments to call with when the tracer adds one (usage in a stream);
    ``None`` means exactly the user's."""
    hide_usage_chunk: bool = False
    """The tracer asked for a usage-only chunk the user did not ask for: hide it."""


@dataclass
class Result:
    """What is recorded about a call once its response (or stream) is known."""

    outputs: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    """A failure reported inside a successful HTTP response (a failed Responses API run, an
    error event in a stream)."""


class Accumulator(Protocol):
    """Assembles a streamed response from its chunks or events."""

    has_output: bool
    """True once a chunk carried generated content (the time to first token is taken then)."""

    def hides(self, item: Any) -> bool:
        """Whether the user must not see ``item`` (a chunk only the tracer asked for)."""

    def add(self, item: Any) -> None:
        """Take one streamed item."""

    def result(self) -> Result:
        """What was assembled so far."""


@dataclass(frozen=True)
class Endpoint:
    """How to read one API method: its event name, request, response and stream."""

    name: str
    request: Callable[[Any, dict[str, Any], Any], Request]
    """``(resource instance, kwargs, options) -> Request``."""
    response: Callable[[Any], Result]
    accumulator: Callable[[Request], Accumulator] | None = None
    refused: Callable[[Any, BaseException], bool] | None = None
    """``(resource instance, error) -> True`` when the server refused a parameter the tracer
    added; the call is then repeated exactly as the user made it."""


def error_metadata(exc: BaseException) -> dict[str, Any]:
    """Status code, request id and the provider's error type/code of an API error."""
    found: dict[str, Any] = {}
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        found["status_code"] = status
    request_id = getattr(exc, "request_id", None)
    if isinstance(request_id, str):
        found["request_id"] = request_id
    body = getattr(exc, "body", None)
    # OpenAI puts the inner error object in ``body``; Anthropic the whole ``{"error": {...}}``.
    inner = body.get("error") if isinstance(body, dict) else None
    details = inner if isinstance(inner, dict) else body if isinstance(body, dict) else {}
    for key in ("type", "code"):
        value = getattr(exc, key, None)
        if not isinstance(value, str):
            value = details.get(key)
        if isinstance(value, str) and value != "error":
            found[f"error_{key}"] = value
    return found


class TracedCall:
    """The honeytrace event of one API call, from request to last chunk."""

    __slots__ = ("_current", "ended", "span", "started")

    def __init__(self, endpoint: Endpoint, request: Request, name: str | None = None) -> None:
        self.span = honeytrace.span(
            name or endpoint.name,
            "model",
            inputs=request.inputs,
            config=request.config,
            metadata=request.metadata or None,
        )
        self.started = 0
        self.ended = False
        self._current = False

    def enter(self) -> None:
        """Start the event as the current one (a call that returns its whole response)."""
        self.span.__enter__()
        self._current = True
        self.started = perf_counter_ns()

    def begin(self) -> None:
        """Start the event without making it current (a stream, read after the call returns)."""
        self.span.begin()
        self.started = perf_counter_ns()

    def end(self, result: Result | None = None, error: BaseException | None = None) -> None:
        """Record what is known and end the event; later calls do nothing."""
        if self.ended:
            return
        self.ended = True
        span = self.span
        try:
            if result is None:
                result = Result()
            if result.outputs is not None:
                span.set_outputs(result.outputs)
            metadata = result.metadata
            if "usage_source" not in metadata:
                metadata = {**metadata, "usage_source": usage_source(result.metrics)}
            span.enrich(metrics=result.metrics or None, metadata=metadata)
            if result.error is not None and error is None:
                span.set_error(result.error)
            if error is not None:
                span.enrich(metadata=error_metadata(error) or None)
        finally:
            # Always close what was opened, even if recording the details failed.
            if self._current:
                self._current = False
                if error is None:
                    span.__exit__(None, None, None)
                else:
                    span.__exit__(type(error), error, error.__traceback__)
            else:
                span.finish(error)
