"""The end of a process: events still open at exit, and SIGTERM.

At exit, events that never ended (a thread still inside a traced call, a generator abandoned
half-way, a ``with`` block that will never close) are found, ended now, marked
``metadata["incomplete"] = True`` and delivered rather than lost. They are found by walking
the garbage collector's objects once, at exit, so that the hot path keeps no registry of open
events.

A process killed by SIGTERM does not run ``atexit``. When SIGTERM still has its default
action, honeytrace installs a handler that delivers (within ``exit_timeout``) and then dies of
SIGTERM exactly as before. An application's own handler is left alone: it usually exits
through ``sys.exit``, which runs ``atexit`` and so the same delivery.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
from collections.abc import Callable
from time import perf_counter_ns
from types import FrameType

from honeytrace._errors import internal_error
from honeytrace._record import hooks, state
from honeytrace._record.span import Event, Session, Span

__all__ = ["close_open_events", "install_sigterm_handler"]


def _is_open(obj: object) -> bool:
    # type(), not isinstance(): isinstance reads __class__, which a user's object may break.
    kind = type(obj)
    if not issubclass(kind, Event) or obj.end or obj.remote:  # type: ignore[attr-defined]
        return False
    assert isinstance(obj, Event)
    if isinstance(obj, Session):
        return obj.begun  # a session() made but never entered is not open
    if isinstance(obj, Span):
        return obj.parent is not None  # a span() made but never begun has no parent yet
    return True


def close_open_events() -> int:
    """End every open event, then every open session, marked incomplete; returns how many.

    They are found by one walk over the garbage collector's objects, here at exit, so that
    nothing on the hot path has to register them."""
    closed = 0
    try:
        now = perf_counter_ns()
        found = [obj for obj in gc.get_objects() if _is_open(obj)]
        sessions = [obj for obj in found if isinstance(obj, Session)]
        events = [obj for obj in found if not isinstance(obj, Session)]
        # Innermost first, so that parents end after their children as usual.
        events.sort(key=lambda event: event.start, reverse=True)
        observer = hooks.active
        for event in events:
            event.enrich(metadata={"incomplete": True})
            event.end = now
            state.record(event)
            if observer is not None:  # its OpenTelemetry span ends too
                hooks.leave(observer, event, None, True)
            closed += 1
        for session in sessions:
            session.enrich(metadata={"incomplete": True})
            session.finish(None)
            closed += 1
    except Exception:
        internal_error("closing open events at exit")
    return closed


_handler_installed = False


def install_sigterm_handler(deliver: Callable[[], None]) -> bool:
    """Deliver on SIGTERM when nobody else handles it; returns whether a handler was set."""
    global _handler_installed
    if _handler_installed or threading.current_thread() is not threading.main_thread():
        return False
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return False  # the application's handler (or SIG_IGN) stays as it is

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            try:
                deliver()
            finally:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)
    except (ValueError, OSError, AttributeError):
        return False  # no signals here (embedded interpreter, unusual platform)
    _handler_installed = True
    return True
