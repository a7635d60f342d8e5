"""The generator and async-generator wrappers: an event that lasts as long as the iteration.

The event starts at the first step (a generator function's body only runs then) and ends when
the generator is exhausted, raises, is closed or is garbage-collected; an early ``break`` is
not an error. Its outputs are the yielded items (the first :data:`MAX_YIELDED`). The context
is switched in around each step of the inner generator and switched back before each
``yield``, so no ContextVar token is ever held across a ``yield`` (except for the last step of
a generator whose every ``yield`` is followed by a bare ``return``: it runs none of the body's
code, so it runs without the switch; see :func:`_tail_yields_only`).

The step loop is written out in full in each wrapper (no helper calls per step): a generator
step is the hot path of streaming code.
"""

from __future__ import annotations

import dis
import functools
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any

from honeytrace._errors import internal_error
from honeytrace._record import buffer as _buffer  # noqa: F401 -- this and the others marked: used by _GEN
from honeytrace._record import hooks
from honeytrace._record import state as rt
from honeytrace._record.buffer import QUEUE, record  # noqa: F401
from honeytrace._record.codegen import make_wrapper
from honeytrace._record.context import _current, current
from honeytrace._record.signature import Spec
from honeytrace._record.span import SPARE, SPARE_LISTS, ErrorInfo, Event, Session, blank  # noqa: F401
from honeytrace._record.wrappers import (
    _COPIED,  # noqa: F401 -- read by the templates' snapshot code
    SessionOptions,
    _snapshot_args,
    _snapshot_kwargs,
    flush_if_asked,
    new_event,  # noqa: F401
    root_session,
    take_spare,  # noqa: F401
)

__all__ = ["MAX_YIELDED", "wrap_async_gen", "wrap_gen"]

MAX_YIELDED = 1000
"""Yielded items kept as a generator's outputs; the count of all of them goes to metadata."""

take_list = SPARE_LISTS.pop
_END: Any = object()  # what next() returns, instead of raising, when the generator is done
_set = _current.set
_reset = _current.reset  # set and reset happen within one step: the token is always ours


class _Thrown:
    """An exception thrown into the wrapper at a ``yield``, to throw into the inner generator
    at the next step."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _begin(
    spec: Spec, options: SessionOptions | None, args: Any, kwargs: Any
) -> tuple[Event, Session | None] | None:
    """The event of a generator at its first step and the implicit session it opened, if
    any; None means run it untraced (disabled, unsampled, or an internal error)."""
    try:
        if not rt.enabled and not rt.host.enabled_at_root():
            return None
        parent = current()
        root = None
        if parent is None:
            if not rt.host.enabled_at_root():
                return None
            root = root_session(spec, options, args, kwargs)
            root.begin()
            if options is not None:  # @trace_session: the session is the event itself
                root.result = []
                return root, None
            parent = root
        elif not parent.session.sampled:
            return None
        snapshot = _snapshot_args(args)
        event = Event(spec, parent, snapshot, _snapshot_kwargs(kwargs) if kwargs else None)
        event.result = []  # the yielded items, visible even if the generator is abandoned
        return event, root
    except Exception:
        internal_error("starting a generator span")
        return None


def _end(
    event: Event, root: Session | None, count: int, exc: BaseException | None, observed: Any
) -> None:
    """The generator finished, failed or was closed: end its event (and implicit session)."""
    try:
        items = event.result
        if count > MAX_YIELDED:
            event.enrich(metadata={"yielded_items": count, "kept_items": MAX_YIELDED})
        if isinstance(event, Session):
            if exc is not None:
                event.set_error(exc)
            event._observed = observed  # finish() tells the observer, detaching this token
            event.finish()
            return
        event.end = perf_counter_ns()
        if exc is not None:
            event.error = ErrorInfo.from_exception(exc)
        record(event)  # sampled: _begin checked
        if root is not None:
            root.result = items
            root.finish(exc)
        observer = hooks.active
        if observer is not None:
            hooks.leave(observer, event, observed, True)
    except Exception:
        internal_error("ending a generator span")


def _returns_only_none(fn: Callable[..., Any]) -> bool:
    """Whether every ``return`` of a generator function returns None (read from its bytecode,
    once, at decoration). Then the wrapper can step it with ``next(gen, _END)``, which ends
    without raising StopIteration, instead of ``send``, which must raise it to carry a value.
    """
    code = getattr(fn, "__code__", None)
    if code is None:
        return False
    previous = None
    for instruction in dis.get_instructions(code):
        if instruction.opname == "RETURN_CONST" and instruction.argval is not None:
            return False
        if instruction.opname == "RETURN_VALUE" and not (
            previous is not None and previous.opname == "LOAD_CONST" and previous.argval is None
        ):
            return False
        previous = instruction
    return True


# What may follow a ``yield`` for the step after it to run none of the body's code: the sent
# value dropped, then ``return None``, in the forms of CPython 3.10 to 3.13 (RESUME, left out,
# is the interpreter's own check for signals and thread switches).
_TAIL_FORMS = (
    [("POP_TOP", None), ("RETURN_CONST", None)],
    [("POP_TOP", None), ("LOAD_CONST", None), ("RETURN_VALUE", None)],
)
# Code that could run between a yield and the end: a handler (try, with) or a delegation.
_NOT_TAIL = frozenset(
    {
        "PUSH_EXC_INFO",
        "SETUP_FINALLY",
        "SETUP_WITH",
        "SETUP_ASYNC_WITH",
        "BEFORE_WITH",
        "SEND",
        "GET_YIELD_FROM_ITER",
        "YIELD_FROM",
    }
)


def _tail_yields_only(fn: Callable[..., Any]) -> bool:
    """Whether a generator function has a ``yield`` and every one is followed by nothing but
    ``return None`` (read from its bytecode, once, at decoration), as in ``def f(x): yield
    g(x)``.

    Then the step after its one item only finishes the generator: none of the body's code runs
    in it, so the wrapper runs that step without switching the context in and out (a ContextVar
    set and reset, a third of a traced call). What remains in that step is the release of the
    frame's locals: a finalizer (``__del__``) that one of them runs there sees the caller's
    context, as it would if the generator were not traced.
    """
    code = getattr(fn, "__code__", None)
    if code is None:
        return False
    ops = [(i.opname, i.argval) for i in dis.get_instructions(code) if i.opname != "RESUME"]
    yields = 0
    for index, (name, _) in enumerate(ops):
        if name in _NOT_TAIL:
            return False
        if name == "YIELD_VALUE":
            if not any(ops[index + 1 : index + 1 + len(form)] == form for form in _TAIL_FORMS):
                return False
            yields += 1
    return yields > 0


def _steps(
    event: Event,
    root: Session | None,
    gen: Any,
    options: SessionOptions | None,
    count: int,
    quiet: bool,
    sent: Any,
) -> Any:
    """Every step of a traced generator, in full: observers, values sent in, exceptions thrown
    in, return values and the implicit session. ``sent`` is what the next step passes in:
    None, a value sent in, or a :class:`_Thrown`."""
    items = event.result
    observed: Any = None
    while True:
        token = _set(event)
        observer = hooks.active
        if observer is not None:
            observed = hooks.enter(observer, event)
        try:
            if sent is None and quiet:
                item = next(gen, _END)
            elif type(sent) is _Thrown:
                item = gen.throw(sent.exc)
            else:
                item = gen.send(sent)
        except StopIteration as stop:
            _reset(token)
            _end(event, root, count, None, observed)
            flush_if_asked(options)
            return stop.value
        except BaseException as exc:
            _reset(token)
            _end(event, root, count, exc, observed)
            flush_if_asked(options)
            raise
        _reset(token)
        if item is _END:
            _end(event, root, count, None, observed)
            flush_if_asked(options)
            return None
        if observer is not None:
            hooks.leave(observer, event, observed, False)
            observed = None  # detached: the end must not detach it again
        count += 1
        if count <= MAX_YIELDED:
            items.append(item)
        try:
            sent = yield item
        except GeneratorExit:
            # An early break, close() or garbage collection: not an error.
            token = _set(event)
            try:
                gen.close()
            finally:
                _reset(token)
                _end(event, root, count, None, observed)
            raise
        except BaseException as exc:
            sent = _Thrown(exc)


def _past_the_end(event: Event, gen: Any, count: int, item: Any) -> Any:
    """A tail generator yielded again after the step that was to end it (its bytecode said it
    could not): yield that item and go on with the full loop, so that nothing is lost."""
    count += 1
    if count <= MAX_YIELDED:
        event.result.append(item)
    sent: Any
    try:
        sent = yield item
    except GeneratorExit:
        token = _set(event)
        try:
            gen.close()
        finally:
            _reset(token)
            _end(event, None, count, None, None)
        raise
    except BaseException as exc:
        sent = _Thrown(exc)
    return (yield from _steps(event, None, gen, None, count, True, sent))


def _general(
    fn: Callable[..., Any],
    spec: Spec,
    options: SessionOptions | None,
    quiet: bool,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """A generator call off the common path: disabled, unsampled, outside any session (an
    implicit session), or a ``@trace_session`` generator."""
    begun = _begin(spec, options, args, kwargs)
    if begun is None:
        return (yield from fn(*args, **kwargs))
    event, root = begun
    return (yield from _steps(event, root, fn(*args, **kwargs), options, 0, quiet, None))


# The generator wrapper's common case as a template (see _codegen): inside a sampled session,
# no observer at the start, nothing sent or thrown in, a generator that returns no value, at
# most MAX_YIELDED items. Anything else hands over to _steps (or, from the start, to
# _general). (An observer installed while such a generator is suspended sees it from its next
# call on.) The steps go through a ``for`` loop (FOR_ITER resumes the generator without a call
# of next()); a generator whose yields are all followed by a bare return (_tail_yields_only)
# takes its last step outside the context: one ContextVar set and reset per call, as a plain
# function's wrapper does, instead of two.
_GEN = """
def make(fn, spec, options):
    quiet = _returns_only_none(fn)
    general = options is not None or not quiet
    tail = not general and _tail_yields_only(fn)

    def traced($params):
        parent = current() if rt.enabled else None
        if (
            parent is None
            or general
            or not (session := parent.session).sampled
            or hooks.active is not None
        ):
            return (yield from _general(fn, spec, options, quiet, $pack, $kwargs))
        try:
            $snapshot
            if SPARE:  # as in the sync wrapper
                try:
                    event = take_spare()
                except IndexError:
                    event = blank()
            else:
                event = new_event(Event)
                event.kwargs = None
                event._id = None
                event.extra = None
                event.error = None
                event.end = 0
            event.spec = spec
            event.parent = parent
            event.session = session
            event.args = snapshot
            $if_kwargs event.kwargs = $recorded_kwargs
            if SPARE_LISTS:
                try:
                    items = event.result = take_list()
                except IndexError:
                    items = event.result = []
            else:
                items = event.result = []
            event.start = perf_counter_ns()
        except Exception:
            internal_error("starting a generator span")
            return (yield from fn($call))
        gen = fn($call)
        count = 0  # items yielded so far
        token = _set(event)
        try:
            for item in gen:  # FOR_ITER: no call of next() per step
                _reset(token)
                token = None  # none held: what is raised below is handled where it is
                items.append(item)
                count += 1
                try:
                    sent = yield item
                except GeneratorExit:
                    # An early break, close() or garbage collection: not an error.
                    closing = _set(event)
                    try:
                        gen.close()
                    finally:
                        _reset(closing)
                        _end(event, None, count, None, None)
                    raise
                except BaseException as exc:
                    return (yield from _steps(event, None, gen, None, count, True, _Thrown(exc)))
                if tail:
                    # The step left runs none of the body's code (not even one that reads a
                    # value sent in: the yield's value is dropped): it needs no context.
                    break
                if sent is not None or count == MAX_YIELDED:
                    return (yield from _steps(event, None, gen, None, count, True, sent))
                token = _set(event)
        except BaseException as exc:
            if token is not None:  # raised by the generator's step
                _reset(token)
                _end(event, None, count, exc, None)
            raise
        if token is None:
            # A tail generator after its item (see _tail_yields_only): only its end is left.
            try:
                item = next(gen, _END)
            except BaseException as exc:  # only an asynchronous one (a signal handler's)
                _end(event, None, count, exc, None)
                raise
            if item is not _END:  # more than its bytecode said: go on with the full loop
                return (yield from _past_the_end(event, gen, count, item))
        else:
            _reset(token)
        event.end = perf_counter_ns()  # the common end, inline (see _end)
        if len(QUEUE) < _buffer.fast_limit:  # record(), its common case inline
            QUEUE.append(event)
        else:
            record(event)
        return None

    return traced
"""


def wrap_gen(fn: Callable[..., Any], spec: Spec, options: SessionOptions | None) -> Any:
    """The wrapper of a generator function."""
    wrapper = make_wrapper(_GEN, globals(), fn, spec, options, exact=options is None)
    return functools.update_wrapper(wrapper, fn)


def wrap_async_gen(fn: Callable[..., Any], spec: Spec, options: SessionOptions | None) -> Any:
    """The wrapper of an async generator function."""

    async def traced(*args: Any, **kwargs: Any) -> Any:
        begun = _begin(spec, options, args, kwargs)
        agen = fn(*args, **kwargs)
        if begun is None:
            # Untraced (disabled, unsampled): still forward asend/athrow/aclose faithfully.
            sent_plain: Any = None
            thrown_plain: BaseException | None = None
            while True:
                try:
                    if thrown_plain is None:
                        item = await agen.asend(sent_plain)
                    else:
                        error, thrown_plain = thrown_plain, None
                        item = await agen.athrow(error)
                except StopAsyncIteration:
                    return
                try:
                    sent_plain = yield item
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as thrown_in:
                    thrown_plain = thrown_in
        event, root = begun
        items: list[Any] = event.result
        count = 0
        observed: Any = None
        flush = options is not None and options.flush
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            token = _set(event)  # held across the await of one step: same task, same context
            observer = hooks.active
            if observer is not None:
                observed = hooks.enter(observer, event)
            try:
                if thrown is None:
                    item = await agen.asend(sent)
                else:
                    exc, thrown = thrown, None
                    item = await agen.athrow(exc)
            except StopAsyncIteration:
                _reset(token)
                _end(event, root, count, None, observed)
                if flush:
                    await rt.host.flush_async()
                return
            except BaseException as exc:
                _reset(token)
                _end(event, root, count, exc, observed)
                if flush:
                    await rt.host.flush_async()
                raise
            _reset(token)
            if observer is not None:
                hooks.leave(observer, event, observed, False)
                observed = None  # detached: the end must not detach it again
            count += 1
            if count <= MAX_YIELDED:
                items.append(item)
            try:
                sent = yield item
            except GeneratorExit:
                token = _set(event)
                try:
                    await agen.aclose()
                finally:
                    _reset(token)
                    _end(event, root, count, None, observed)
                raise
            except BaseException as exc:
                thrown = exc

    return functools.update_wrapper(traced, fn)
