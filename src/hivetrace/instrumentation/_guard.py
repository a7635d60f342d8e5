"""The integration's internal-error guard: tracing trouble never reaches the application.

Every piece of tracing work around an API call runs under :func:`internal_error` (from an
``except`` block) or :func:`guarded`: an unexpected exception is logged once per place and
swallowed, and the call goes on untouched. With ``HIVETRACE_RAISE_INTERNAL_ERRORS=1`` (set by
the test suites) it is re-raised instead, so that a bug cannot hide behind the guard.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["forget_logged", "guarded", "internal_error", "logger"]

logger = logging.getLogger("hivetrace.integrations")

P = ParamSpec("P")
R = TypeVar("R")

_seen: set[str] = set()
_lock = threading.Lock()


def _raising() -> bool:
    # Read on the error path only (never on a healthy call), so tests may flip it at any time.
    return os.environ.get("HIVETRACE_RAISE_INTERNAL_ERRORS", "") in ("1", "true")


def internal_error(where: str) -> None:
    """Handle the exception being raised: re-raise under test, else log it once and go on.

    Call only from an ``except`` block.
    """
    if _raising():
        raise  # noqa: PLE0704 -- called from an except block by contract
    with _lock:
        first = where not in _seen
        _seen.add(where)
    if first:
        logger.exception("hivetrace: internal error in %s (swallowed; the call goes on)", where)


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


def forget_logged() -> None:
    """Log each place's first error again (``hivetrace.testing.capture`` calls this, so that
    every test sees its own messages)."""
    with _lock:
        _seen.clear()
