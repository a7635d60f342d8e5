"""The one ContextVar that holds the innermost open event, and how it crosses threads.

asyncio tasks copy it by themselves. ``ThreadPoolExecutor.submit`` is taught to carry it (only
this variable, not the whole context, so an application's other ContextVars behave as before)
unless ``configure(propagate_threads=False)``; :func:`wrap` carries it into any other thread.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from honeytrace._record.span import Event

__all__ = [
    "current",
    "current_event_id",
    "current_session_id",
    "install_thread_propagation",
    "reset_current",
    "set_current",
    "wrap",
]

P = ParamSpec("P")
R = TypeVar("R")

_current: contextvars.ContextVar[Event | None] = contextvars.ContextVar(
    "honeytrace_current_event", default=None
)

current = _current.get
"""The innermost open event of this context, or ``None``."""

set_current = _current.set


def reset_current(token: contextvars.Token[Event | None], fallback: Event | None) -> None:
    """Reset with the token; if the token belongs to another context (a ``with`` block left in
    another task or thread), fall back to setting the parent rather than raising."""
    try:
        _current.reset(token)
    except ValueError:
        _current.set(fallback)


def current_session_id() -> str | None:
    """The id of the session this code runs in, or ``None`` outside any session."""
    span = _current.get()
    return None if span is None else span.session.session_id


def current_event_id() -> str | None:
    """The id of the innermost open event (the session at the top level), or ``None``."""
    span = _current.get()
    return None if span is None else span.event_id


def wrap(fn: Callable[P, R]) -> Callable[P, R]:
    """Bind ``fn`` to the current event, so that when it runs in another thread its events nest
    under the event that was open here."""
    captured = _current.get()

    @functools.wraps(fn)
    def run_in_captured(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _current.set(captured)
        try:
            return fn(*args, **kwargs)
        finally:
            reset_current(token, None)

    return run_in_captured


_propagate = True
_original_submit: Callable[..., Any] | None = None


def install_thread_propagation(enabled: bool) -> None:
    """Patch ``ThreadPoolExecutor.submit`` once; ``enabled`` switches it on or off later."""
    global _propagate, _original_submit
    _propagate = enabled
    if _original_submit is not None or not enabled:
        return
    original: Callable[..., Any] = ThreadPoolExecutor.submit
    _original_submit = original

    @functools.wraps(original)
    def submit(
        self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Any:
        if _propagate and _current.get() is not None:
            fn = wrap(fn)
        return original(self, fn, *args, **kwargs)

    setattr(ThreadPoolExecutor, "submit", submit)  # noqa: B010 -- the stub's type is narrower
