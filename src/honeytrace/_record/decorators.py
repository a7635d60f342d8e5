"""What the user calls: the ``trace_*`` decorators, ``session()``, ``span()`` and ``enrich_*``.

Each decorator works bare (``@trace_tool``) and called (``@trace_tool(name="search")``), and
picks the right wrapper once, at decoration: sync, async, generator or async generator
(:mod:`honeytrace._record.wrappers`). ``classmethod`` and ``staticmethod`` objects are unwrapped,
traced, and wrapped again, so the decorators go on either side of them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal, ParamSpec, Protocol, TypeVar, overload

from honeytrace._errors import guarded
from honeytrace._record import state as rt
from honeytrace._record.context import current
from honeytrace._record.generators import wrap_async_gen, wrap_gen
from honeytrace._record.signature import Spec
from honeytrace._record.span import Session, Span
from honeytrace._record.wrappers import SessionOptions, wrap_async, wrap_sync

__all__ = [
    "Decorator",
    "enrich_session",
    "enrich_span",
    "session",
    "span",
    "trace",
    "trace_chain",
    "trace_model",
    "trace_session",
    "trace_tool",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_T = TypeVar("_T")
EventType = Literal["chain", "tool", "model"]
_EVENT_TYPES = ("chain", "tool", "model")


class Decorator(Protocol):
    """What a called decorator (``@trace_tool(name="search")``) returns: a decorator that keeps
    the decorated callable's parameters and return type, and keeps a ``classmethod`` or
    ``staticmethod`` what it is."""

    @overload
    def __call__(self, fn: classmethod[_T, _P, _R], /) -> classmethod[_T, _P, _R]: ...
    @overload
    def __call__(self, fn: staticmethod[_P, _R], /) -> staticmethod[_P, _R]: ...
    @overload
    def __call__(self, fn: Callable[_P, _R], /) -> Callable[_P, _R]: ...


def _instrument(fn: Any, make_spec: Callable[[Any], Spec], options: SessionOptions | None) -> Any:
    if isinstance(fn, (classmethod, staticmethod)):
        return type(fn)(_instrument(fn.__func__, make_spec, options))
    if inspect.isclass(fn) or not callable(fn):
        raise TypeError(f"honeytrace decorators apply to functions and methods, not {fn!r}")
    spec = make_spec(fn)
    if inspect.isasyncgenfunction(fn):
        return wrap_async_gen(fn, spec, options)
    if inspect.iscoroutinefunction(fn):
        return wrap_async(fn, spec, options)
    if inspect.isgeneratorfunction(fn):
        return wrap_gen(fn, spec, options)
    return wrap_sync(fn, spec, options)


def _name_of(fn: Any) -> str:
    return str(getattr(fn, "__name__", None) or type(fn).__name__)


def _decorator(
    fn: Any,
    event_type: str,
    name: str | None,
    metadata: dict[str, Any] | None,
    config: dict[str, Any] | None,
    capture_inputs: bool | None,
    capture_outputs: bool | None,
    options: SessionOptions | None = None,
) -> Any:
    if event_type not in (*_EVENT_TYPES, "session"):
        raise ValueError(f"event_type must be one of {', '.join(_EVENT_TYPES)}, not {event_type!r}")
    if isinstance(fn, str):  # @trace_tool("search"): a name given positionally
        name, fn = fn, None

    def make_spec(target: Any) -> Spec:
        return Spec(
            name or _name_of(target),
            event_type,
            fn=target,
            config=dict(config) if config else None,
            metadata=dict(metadata) if metadata else None,
            capture_inputs=capture_inputs,
            capture_outputs=capture_outputs,
        )

    def decorate(target: Any) -> Any:
        return _instrument(target, make_spec, options)

    return decorate(fn) if fn is not None else decorate


# The overloads below exist for type checkers only (the bare form keeps the callable's type, the
# called form returns a ``Decorator``); at run time each name is the one plain function after
# them, so decorating costs what it did and a traced call is untouched.


@overload
def trace(fn: classmethod[_T, _P, _R], /) -> classmethod[_T, _P, _R]: ...
@overload
def trace(fn: staticmethod[_P, _R], /) -> staticmethod[_P, _R]: ...
@overload
def trace(fn: Callable[_P, _R], /) -> Callable[_P, _R]: ...
@overload
def trace(
    fn: str | None = None,
    /,
    *,
    event_type: EventType = "chain",
    name: str | None = None,
    metadata: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    capture_inputs: bool | None = None,
    capture_outputs: bool | None = None,
) -> Decorator: ...
def trace(
    fn: Any = None,
    /,
    *,
    event_type: EventType = "chain",
    name: str | None = None,
    metadata: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    capture_inputs: bool | None = None,
    capture_outputs: bool | None = None,
) -> Any:
    """Trace a function as an event of ``event_type`` (``chain``, ``tool`` or ``model``).

    Each call becomes a timed event with the call's arguments as ``inputs``, the return value
    as ``outputs={"result": ...}``, and an exception as ``error`` (re-raised unchanged).
    ``capture_inputs``/``capture_outputs`` override the global settings for this function.
    """
    return _decorator(fn, event_type, name, metadata, config, capture_inputs, capture_outputs)


@overload
def trace_chain(fn: classmethod[_T, _P, _R], /) -> classmethod[_T, _P, _R]: ...
@overload
def trace_chain(fn: staticmethod[_P, _R], /) -> staticmethod[_P, _R]: ...
@overload
def trace_chain(fn: Callable[_P, _R], /) -> Callable[_P, _R]: ...
@overload
def trace_chain(
    fn: str | None = None,
    /,
    *,
    name: str | None = None,
    metadata: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    capture_inputs: bool | None = None,
    capture_outputs: bool | None = None,
) -> Decorator: ...
def trace_chain(
    fn: Any = None,
    /,
    *,
    name: str | None = None,
    metadata: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    capture_inputs: bool | None = None,
    capture_outputs: bool | None = None,
) -> Any:
    """Trace a function as a ``chain`` event (a step of a pipeline)."""
    return _decorator(fn, "chain", name, metadata, config, capture_inputs, capture_outputs)


@overload
def trace_tool(fn: classmethod[_T, _P, _R], /) -> classmethod[_T, _P, _R]: ...
@overload
def trace_tool(fn: staticmethod[_P, _R], /) -> staticmethod[_P, _R]: ...
@overload
def trace_tool(fn: Callable[_P, _R], /) -> Callable[_P, _R]: ...
@overload
def trace_tool(
    fn: str | None = None,
    /,
    *,
    name: str | None = None,
    metadata: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    capture_inputs: bool | None = None,
    capture_outputs: bool | None = None,
) -> Decorator: ...
def trace_tool(
    fn: Any = None,
    /,
    *,
    name: str | None = None,
    metadata: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    capture_inputs: bool | None = None,
    capture_outputs: bool | None = None,
) -> Any:
    """Trace a function as a ``tool`` event (retrieval, API, code)."""
    return _decorator(fn, "tool", name, metadata, config, capture_inputs, capture_outputs)


@overload
def trace_model(fn: classmethod[_T, _P, _R], /) -> classmethod[_T, _P, _R]: ...
@overload
def trace_model(fn: staticmethod[_P, _R], /) -> staticmethod[_P, _R]: ...
@overload
def trace_model(fn: Callable[_P, _R], /) -> Callable[_P, _R]: ...
@overload
def trace_model(
    fn: str | None = None,
    /,
    *,
    model: str | None = None,
    provider: str | None = None,
    name: str | None = None,
    metadata: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    capture_inputs: bool | None = None,
    capture_outputs: bool | None = None,
) -> Decorator: ...
def trace_model(
    fn: Any = None,
    /,
    *,
    model: str | None = None,
    provider: str | None = None,
    name: str | None = None,
    metadata: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    capture_inputs: bool | None = None,
    capture_outputs: bool | None = None,
) -> Any:
    """Trace a function as a ``model`` event (an LLM call); ``model`` and ``provider`` go into
    the event's ``config``."""
    merged = dict(config or {})
    if model is not None:
        merged.setdefault("model", model)
    if provider is not None:
        merged.setdefault("provider", provider)
    return _decorator(fn, "model", name, metadata, merged, capture_inputs, capture_outputs)


@overload
def trace_session(fn: classmethod[_T, _P, _R], /) -> classmethod[_T, _P, _R]: ...
@overload
def trace_session(fn: staticmethod[_P, _R], /) -> staticmethod[_P, _R]: ...
@overload
def trace_session(fn: Callable[_P, _R], /) -> Callable[_P, _R]: ...
@overload
def trace_session(
    fn: str | None = None,
    /,
    *,
    name: str | None = None,
    session_id: str | Callable[..., Any] | None = None,
    inputs: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    user_properties: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    source: str | None = None,
    flush: bool = False,
) -> Decorator: ...
def trace_session(
    fn: Any = None,
    /,
    *,
    name: str | None = None,
    session_id: str | Callable[..., Any] | None = None,
    inputs: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    user_properties: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    source: str | None = None,
    flush: bool = False,
) -> Any:
    """Make each call of a function a session (inside an open session: a ``chain`` event).

    ``session_id`` may be a UUID, any other string (mapped to a stable UUID, the original kept
    as ``metadata["session_key"]``, so one conversation spans many calls), or a callable that
    receives the call's arguments and returns one. ``flush=True`` delivers the session before
    the call returns (serverless handlers), bounded by ``exit_timeout``.
    """
    options = SessionOptions(session_id, inputs, user_properties, source, flush)
    return _decorator(fn, "session", name, metadata, config, None, None, options)


def session(
    name: str,
    *,
    session_id: str | None = None,
    inputs: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    user_properties: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    source: str | None = None,
) -> Session:
    """A session to use as ``with`` or ``async with``; its ``session_id`` is known at once."""
    spec = Spec(
        name,
        "session",
        config=dict(config) if config else None,
        metadata=dict(metadata) if metadata else None,
    )
    result = rt.new_session(spec, session_id, source)
    extra: dict[str, Any] = {}
    if inputs:
        extra["inputs"] = dict(inputs)
    if user_properties:
        extra["user_properties"] = dict(user_properties)
    if extra:
        result.extra = extra
    return result


def span(
    name: str,
    event_type: EventType = "chain",
    *,
    inputs: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Span:
    """An event around a block, as ``with`` or ``async with``; outside any session it opens an
    implicit one named after it."""
    if event_type not in _EVENT_TYPES:
        raise ValueError(f"event_type must be one of {', '.join(_EVENT_TYPES)}, not {event_type!r}")
    spec = Spec(
        name,
        event_type,
        config=dict(config) if config else None,
        metadata=dict(metadata) if metadata else None,
    )
    result = Span(spec, None)
    if inputs:
        result.extra = {"inputs": dict(inputs)}
    return result


@guarded
def enrich_span(
    metadata: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    feedback: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    outputs: Any = None,
    user_properties: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
) -> None:
    """Merge fields into the innermost open event (no-op outside any session)."""
    target = current()
    if target is not None:
        target.enrich(metadata, metrics, feedback, config, outputs, user_properties, inputs)


@guarded
def enrich_session(
    metadata: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    feedback: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    outputs: Any = None,
    user_properties: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
) -> None:
    """Merge fields into the current session (no-op outside any session)."""
    target = current()
    if target is not None:
        target.session.enrich(metadata, metrics, feedback, config, outputs, user_properties, inputs)
