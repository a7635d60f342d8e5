"""The wrappers of methods that make one request: traced calls, sync and async, streamed or not
(the stream helpers that build on them are in :mod:`._helpers`).

Every wrapper follows one rule: the user's call is made once and its result or exception comes
back unchanged (the one exception: a server that refuses a parameter the tracer added gets the
call again, exactly as the user made it); tracing work runs under the guard, so a tracing
failure only costs the event.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from honeytrace._errors import guarded, internal_error
from honeytrace.instrumentation._patching import Instrumentor, WrapperFunction
from honeytrace.instrumentation._record import Endpoint, Request, TracedCall
from honeytrace.instrumentation._streams import StreamState, wrap_stream

__all__ = [
    "Adoption",
    "Factory",
    "HelperScope",
    "call_wrapper",
    "current_helper",
    "end_failed",
    "inside",
    "pending_adoption",
]

Factory = Callable[[Instrumentor[Any]], WrapperFunction]

inside: ContextVar[bool] = ContextVar("honeytrace_integration_inside", default=False)
"""Set while a traced call runs: a traced method that the SDK calls from inside another one
(older SDKs' ``beta...parse`` calling ``create``) is not recorded twice."""


class HelperScope:
    """A stream helper being entered: the traced call made inside takes its name, and its
    stream is ended when the helper's ``with`` block ends."""

    __slots__ = ("name", "states")

    def __init__(self, name: str) -> None:
        self.name = name
        self.states: list[StreamState] = []


current_helper: ContextVar[HelperScope | None] = ContextVar(
    "honeytrace_integration_helper", default=None
)


class Adoption:
    """A deferred stream helper's event waiting for the SDK to build the stream object."""

    __slots__ = ("call", "endpoint", "request", "state")

    def __init__(self, call: TracedCall, endpoint: Endpoint, request: Request) -> None:
        self.call = call
        self.endpoint = endpoint
        self.request = request
        self.state: StreamState | None = None


pending_adoption: ContextVar[Adoption | None] = ContextVar(
    "honeytrace_integration_adopt", default=None
)


# -- plain calls (create, parse; streamed or not) -------------------------------------------


def call_wrapper(endpoint: Endpoint, is_async: bool) -> Factory:
    """The wrapper factory of a method that makes one request and returns its response (or a
    stream, with ``stream=True``)."""

    def factory(instrumentor: Instrumentor[Any]) -> WrapperFunction:
        def traced_sync(
            wrapped: Callable[..., Any],
            instance: Any,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Any:
            handle = instrumentor.handle_for(instance)
            if handle is None or inside.get():
                return wrapped(*args, **kwargs)
            return _run_sync(endpoint, handle.options, wrapped, instance, args, kwargs)

        def traced_async(
            wrapped: Callable[..., Any],
            instance: Any,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Any:
            handle = instrumentor.handle_for(instance)
            if handle is None:
                return wrapped(*args, **kwargs)
            return _run_async(endpoint, handle.options, wrapped, instance, args, kwargs)

        return traced_async if is_async else traced_sync

    return factory


@guarded
def _start(
    endpoint: Endpoint, options: Any, instance: Any, kwargs: dict[str, Any]
) -> tuple[TracedCall, Request]:
    request = endpoint.request(instance, kwargs, options)
    scope = current_helper.get()
    call = TracedCall(endpoint, request, scope.name if scope is not None else None)
    if request.stream:
        call.begin()
    else:
        call.enter()
    return call, request


@guarded
def _refused(endpoint: Endpoint, instance: Any, exc: BaseException) -> bool:
    return endpoint.refused is not None and endpoint.refused(instance, exc)


def end_failed(call: TracedCall, error: BaseException) -> None:
    try:
        call.end(None, error)
    except Exception:
        internal_error("recording a failed call")


def _run_sync(
    endpoint: Endpoint,
    options: Any,
    wrapped: Callable[..., Any],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    started = _start(endpoint, options, instance, kwargs)
    if started is None:
        return wrapped(*args, **kwargs)
    call, request = started
    token = inside.set(True)
    try:
        call_kwargs = request.call_kwargs
        if call_kwargs is None:
            result = wrapped(*args, **kwargs)
        else:
            try:
                result = wrapped(*args, **call_kwargs)
            except Exception as exc:
                if not _refused(endpoint, instance, exc):
                    raise
                result = None
                call_kwargs = None
            if call_kwargs is None:  # outside the except: no chained exception if this fails
                request.hide_usage_chunk = False
                result = wrapped(*args, **kwargs)
    except BaseException as exc:
        inside.reset(token)
        end_failed(call, exc)
        raise
    inside.reset(token)
    return _finish(endpoint, call, request, result)


async def _run_async(
    endpoint: Endpoint,
    options: Any,
    wrapped: Callable[..., Any],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    if inside.get():
        return await wrapped(*args, **kwargs)
    started = _start(endpoint, options, instance, kwargs)
    if started is None:
        return await wrapped(*args, **kwargs)
    call, request = started
    token = inside.set(True)
    try:
        call_kwargs = request.call_kwargs
        if call_kwargs is None:
            result = await wrapped(*args, **kwargs)
        else:
            try:
                result = await wrapped(*args, **call_kwargs)
            except Exception as exc:
                if not _refused(endpoint, instance, exc):
                    raise
                result = None
                call_kwargs = None
            if call_kwargs is None:
                request.hide_usage_chunk = False
                result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        inside.reset(token)
        end_failed(call, exc)
        raise
    inside.reset(token)
    return _finish(endpoint, call, request, result)


def _finish(endpoint: Endpoint, call: TracedCall, request: Request, result: Any) -> Any:
    """Record a returned response, or hand back a stream proxy; ``result`` on any failure."""
    try:
        kind = type(result)
        streamed = hasattr(kind, "__next__") or hasattr(kind, "__anext__")
        if request.stream and streamed and endpoint.accumulator is not None:
            state = StreamState(call, endpoint.accumulator(request))
            proxy = wrap_stream(result, state)
            scope = current_helper.get()
            if scope is not None:
                scope.states.append(state)
            return proxy
        call.end(endpoint.response(result))
    except Exception:
        internal_error("recording a response")
        try:
            call.end()
        except Exception:
            internal_error("ending a call")
    return result
