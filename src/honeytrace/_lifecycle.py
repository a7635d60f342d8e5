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
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from time import perf_counter_ns
from types import FrameType

from honeytrace._errors import internal_error
from honeytrace._record import hooks, state
from honeytrace._record.span import Event, Session, Span

__all__ = ["close_open_events", "install_sigterm_handler"]

logger = logging.getLogger("honeytrace")


def _is_open(obj: Event) -> bool:
    # An event the hot path is still filling in (a signal arrived half-way) has no "end" or
    # no "start" yet (a blank one taken for reuse: start 0, no session): it is not open, it
    # is not finished either; the thread that builds it will record it.
    end = getattr(obj, "end", None)
    if end is None or end or obj.remote or getattr(obj, "session", None) is None:
        return False
    if isinstance(obj, Session):
        return obj.begun  # a session() made but never entered is not open
    if isinstance(obj, Span):
        return obj.parent is not None  # a span() made but never begun has no parent yet
    return bool(getattr(obj, "start", 0))


_CHECK_EVERY = 1 << 15  # objects between two looks at the clock


def _find_open(deadline: float | None) -> tuple[list[Event], bool]:
    """Open events among the garbage collector's objects, youngest generation first; and
    whether the walk was complete (it stops at ``deadline``: 20 million objects take seconds)."""
    found: list[Event] = []
    for generation in range(3):
        objects = gc.get_objects(generation)
        for start in range(0, len(objects), _CHECK_EVERY):
            if deadline is not None and time.monotonic() > deadline:
                return found, False
            for obj in objects[start : start + _CHECK_EVERY]:
                # type(), not isinstance(): isinstance reads __class__, which a user's object
                # may break.
                if issubclass(type(obj), Event):
                    try:
                        if _is_open(obj):
                            found.append(obj)
                    except Exception:  # one odd object must not stop the rest
                        continue
        del objects
    return found, True


def close_open_events(deadline: float | None = None) -> int:
    """End every open event, then every open session, marked incomplete; returns how many.

    They are found by one walk over the garbage collector's objects, here at exit, so that
    nothing on the hot path has to register them. The walk stops at ``deadline``
    (``time.monotonic()``), leaving what it did not reach unsent (counted as pending)."""
    closed = 0
    try:
        now = perf_counter_ns()
        found, complete = _find_open(deadline)
        if not complete:
            logger.warning(
                "honeytrace: too many objects to find every open event within exit_timeout; "
                "%d found are closed, others may stay unsent",
                len(found),
            )
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
