"""The sync and async call wrappers (generators: ``_generators``), built once per function.

This is the hot path. A traced call inside a session does: read the context, make an
:class:`~honeytrace._record.span.Event` (one clock read), set the ContextVar, call, take the second
clock, reset the ContextVar with its token, and append the event to the buffer. Arguments are
kept as passed (top-level lists, dicts and sets are shallow-copied, so that an app appending to
its message list after the call does not rewrite what was recorded); everything else is done
later by the flusher.

A call outside any session opens an implicit session named after the function (for
``@trace_session``, the session itself). Generators never hold a context token across a
``yield``: the ContextVar is set around each step of the inner generator only.

Plain function wrappers (``functools.update_wrapper``), not wrapt proxies, are used here: on
CPython 3.11 a wrapt ``FunctionWrapper`` call costs about 0.85 µs by itself (it probes
``__self__`` on every call, raising and formatting an AttributeError), more than the whole
budget of a traced call. Wrapt remains the tool for patching other libraries (integrations).
Both wrappers come from one source template (:mod:`honeytrace._record.codegen`), which gives a plain
function's wrapper that function's own parameters: no ``*args, **kwargs`` packing per call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from string import Template
from time import perf_counter_ns
from typing import Any

from honeytrace._errors import internal_error
from honeytrace._record import buffer as _buffer  # noqa: F401 -- this and the others marked: used by _CALL
from honeytrace._record import hooks
from honeytrace._record import state as rt
from honeytrace._record.buffer import QUEUE, record  # noqa: F401
from honeytrace._record.codegen import make_wrapper
from honeytrace._record.context import _current, current, reset_current, set_current  # noqa: F401
from honeytrace._record.signature import Spec
from honeytrace._record.span import NO_RESULT, SPARE, ErrorInfo, Event, Session, blank  # noqa: F401

__all__ = ["SessionOptions", "flush_if_asked", "root_session", "wrap_async", "wrap_sync"]

_COPIED: dict[type, Callable[[Any], Any]] = {list: list.copy, dict: dict.copy, set: set.copy}
reset = _current.reset
new_event = Event.__new__
take_spare = SPARE.pop


# Off the hot path, types are compared by identity, not looked up in _COPIED: a type whose
# metaclass defines __eq__ without __hash__ is unhashable, and a lookup would raise. (The hot
# path keeps the faster lookup and falls back here on that TypeError.)


def _snapshot(value: Any) -> Any:
    kind = type(value)
    if kind is list or kind is dict or kind is set:
        return kind.copy(value)
    return value


def _copied(kind: type) -> bool:
    return kind is list or kind is dict or kind is set


def _snapshot_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    for value in args:
        if _copied(type(value)):
            return tuple(_snapshot(v) for v in args)
    return args


def _snapshot_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    # The dict itself is new for each call; only values that the caller may mutate are copied.
    for key, value in kwargs.items():
        if _copied(type(value)):
            kwargs = dict(kwargs)
            kwargs[key] = _snapshot(value)
    return kwargs


class SessionOptions:
    """The arguments of ``@trace_session``, applied each time the function opens a session."""

    __slots__ = ("config", "flush", "inputs", "metadata", "session_id", "source", "user_properties")

    def __init__(
        self,
        session_id: str | Callable[..., Any] | None,
        inputs: dict[str, Any] | None,
        user_properties: dict[str, Any] | None,
        source: str | None,
        flush: bool,
    ) -> None:
        self.session_id = session_id
        self.inputs = inputs
        self.user_properties = user_properties
        self.source = source
        self.flush = flush

    def open(self, spec: Spec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Session:
        """Make the session of one call (not yet begun)."""
        key = self.session_id
        if callable(key):
            key = key(*args, **kwargs)
        session = rt.new_session(spec, None if key is None else str(key), self.source)
        session.args = _snapshot_args(args)
        session.kwargs = _snapshot_kwargs(kwargs)
        extra: dict[str, Any] = {}
        if self.inputs:
            extra["inputs"] = dict(self.inputs)
        if self.user_properties:
            extra["user_properties"] = dict(self.user_properties)
        if extra:
            session.extra = extra
        return session


def root_session(spec: Spec, options: SessionOptions | None, args: Any, kwargs: Any) -> Session:
    """The session for a call made outside any session."""
    if options is not None:
        return options.open(spec, args, kwargs)
    session = rt.new_session(spec.as_session())
    session.args = _snapshot_args(args)
    session.kwargs = _snapshot_kwargs(kwargs)
    return session


_AT_THE_LIMIT = ErrorInfo("RecursionError: maximum recursion depth exceeded", None)
"""The error of the innermost call of a recursion that hit the limit (see _CALL)."""


def _failed(span: Event, token: Any, exc: BaseException, observed: Any) -> None:
    try:
        span.end = perf_counter_ns()
        reset_current(token, span.parent)
        span.error = ErrorInfo.from_exception(exc)
        observer = hooks.active
        if observer is not None:
            hooks.leave(observer, span, observed, True)
        rt.record(span)
    except RecursionError:
        raise  # the wrapper finishes the event itself (see _CALL)
    except Exception:
        internal_error("recording an exception")


# The sync and async wrappers, as one template (see _codegen). What it does per call, inside a
# sampled session: read the context, make the event (one clock read), set the ContextVar, call,
# take the second clock, reset the ContextVar, append the event to the buffer.
_CALL = """
def make(fn, spec, options):
    ${async_}def traced($params):
        if not rt.enabled and not rt.host.enabled_at_root():
            return ${await_}fn($call)
        parent = current()
        if parent is None:
            return ${await_}root($pack, $kwargs)
        session = parent.session
        if not session.sampled:
            return ${await_}fn($call)
        try:
            $snapshot
            # A blank event from SPARE (see span.recycle), else a new one. Event.__init__ is
            # written out: a Python __init__ costs a frame per call (CPython 3.11 does not
            # inline it), a tenth of this wrapper's whole cost.
            if SPARE:
                try:
                    span = take_spare()
                except IndexError:  # a signal handler's traced call took the last one
                    span = blank()
            else:
                span = new_event(Event)
                span.kwargs = None
                span._id = None
                span.extra = None
                span.error = None
                span.result = NO_RESULT
                span.end = 0
            span.spec = spec
            span.parent = parent
            span.session = session
            span.args = snapshot
            $if_kwargs span.kwargs = $recorded_kwargs
            span.start = perf_counter_ns()
            token = set_current(span)
            observer = hooks.active
            observed = hooks.enter(observer, span) if observer is not None else None
        except Exception:
            internal_error("starting a span")
            return ${await_}fn($call)
        try:
            result = ${await_}fn($call)
        except BaseException as exc:
            try:
                _failed(span, token, exc, observed)
            except RecursionError:
                # The innermost call of a recursion at the limit: _failed could not call on.
                # One level up, here, C calls still fit: finish the event with those only.
                span.error = _AT_THE_LIMIT
                if not span.end:
                    span.end = perf_counter_ns()
                try:
                    reset(token)
                except (ValueError, RuntimeError):  # another context's token, or used
                    pass
                QUEUE.append(span)
            raise
        try:
            span.end = perf_counter_ns()
            ${reset}
            # A returned list the caller appends to later must not rewrite what was recorded.
            try:
                span.result = (
                    result if type(result) not in _COPIED else _COPIED[type(result)](result)
                )
            except TypeError:  # an unhashable type (its metaclass defines __eq__)
                span.result = _snapshot(result)
            if observer is not None:
                hooks.leave(observer, span, observed, True)
            if len(QUEUE) < _buffer.fast_limit:  # record(), its common case inline
                QUEUE.append(span)
            else:
                record(span)
        except Exception:
            internal_error("ending a span")
        return result

    ${async_}def root(args, kwargs):
        if not rt.host.enabled_at_root():
            return ${await_}fn(*args, **kwargs)
        try:
            session = root_session(spec, options, args, kwargs)
            session._open()
        except Exception:
            internal_error("opening a session")
            return ${await_}fn(*args, **kwargs)
        call = fn if options is not None else traced
        try:
            result = ${await_}call(*args, **kwargs)
        except BaseException as exc:
            session._close(exc)
            if options is not None and options.flush:
                ${await_}rt.host.${flush}()
            raise
        session.result = _snapshot(result)
        session._close(None)
        if options is not None and options.flush:
            ${await_}rt.host.${flush}()
        return result

    return traced
"""
_SYNC = Template(_CALL).safe_substitute(
    async_="", await_="", reset="reset(token)  # same thread, same frame", flush="flush_now"
)
_ASYNC = Template(_CALL).safe_substitute(
    async_="async ", await_="await ", reset="reset_current(token, parent)", flush="flush_async"
)


def wrap_sync(fn: Callable[..., Any], spec: Spec, options: SessionOptions | None) -> Any:
    """The wrapper of a plain function."""
    # A session's own function keeps the generic form: its session_id callable gets the call's
    # arguments exactly as they were passed.
    wrapper = make_wrapper(_SYNC, globals(), fn, spec, options, exact=options is None)
    return functools.update_wrapper(wrapper, fn)


def wrap_async(fn: Callable[..., Any], spec: Spec, options: SessionOptions | None) -> Any:
    """The wrapper of an ``async def`` function."""
    wrapper = make_wrapper(_ASYNC, globals(), fn, spec, options, exact=options is None)
    return functools.update_wrapper(wrapper, fn)


def flush_if_asked(options: SessionOptions | None) -> None:
    if options is not None and options.flush:
        rt.host.flush_now()
