"""The internal-error guard: honeytrace never raises into the host application.

SDK-side work runs under :func:`guarded` (or calls :func:`internal_error` from an ``except``):
an unexpected exception is logged once per place, counted, and swallowed. Tests switch the
guard to re-raise (:func:`set_raise_internal_errors`, or ``HONEYTRACE_RAISE_INTERNAL_ERRORS=1``)
so that a bug cannot hide behind it.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = [
    "guarded",
    "internal_error",
    "internal_error_count",
    "log_once",
    "reset_for_tests",
    "set_raise_internal_errors",
]

logger = logging.getLogger("honeytrace")

P = ParamSpec("P")
R = TypeVar("R")

_raise = os.environ.get("HONEYTRACE_RAISE_INTERNAL_ERRORS", "") in ("1", "true")
_seen: set[str] = set()
# Reentrant: a signal handler whose traced call logs while this thread is logging goes on.
_lock = threading.RLock()
_count = 0


def reset_lock_after_fork() -> None:
    """In a forked child: a lock held by another thread of the parent stays held forever."""
    global _lock
    _lock = threading.RLock()


def set_raise_internal_errors(enabled: bool) -> bool:
    """Make internal errors propagate (tests) or be swallowed (production); returns the old
    setting."""
    global _raise
    previous, _raise = _raise, enabled
    return previous


def internal_error_count() -> int:
    """How many internal errors were swallowed in this process."""
    return _count


def internal_error(where: str) -> None:
    """Handle the exception being raised: re-raise in tests, else log it once and count it.

    Call only from an ``except`` block.
    """
    global _count
    if _raise:
        raise  # noqa: PLE0704 -- called from an except block by contract
    with _lock:
        _count += 1
        first = where not in _seen
        _seen.add(where)
    if first:
        logger.exception("honeytrace: internal error in %s (swallowed; tracing continues)", where)


def log_once(key: str, level: int, message: str, *args: object) -> None:
    """Log ``message`` the first time ``key`` is seen in this process."""
    with _lock:
        if key in _seen:
            return
        _seen.add(key)
    logger.log(level, message, *args)


def guarded(fn: Callable[P, R]) -> Callable[P, R | None]:
    """Run ``fn`` under the guard: an exception becomes a logged internal error and ``None``."""
    where = getattr(fn, "__qualname__", repr(fn))

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return fn(*args, **kwargs)
        except Exception:
            internal_error(where)
            return None

    return run


def reset_for_tests() -> None:
    """Forget which messages were already logged, and the count of internal errors."""
    global _count
    with _lock:
        _seen.clear()
        _count = 0
