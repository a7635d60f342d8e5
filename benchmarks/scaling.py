"""Does cost grow linearly? Per-event cost at 1, 10 and 100 events per session, and at nesting
depth 1, 10 and 50. Flat numbers mean nothing is quadratic in session size or depth."""

from __future__ import annotations

from collections.abc import Callable

import honeytrace

from .hotpath import _drain
from .timing import Case


@honeytrace.trace_tool
def leaf(i: int) -> int:
    return i


@honeytrace.trace_chain
def nest(depth: int) -> int:
    return leaf(0) if depth <= 1 else nest(depth - 1)


def _sessions_of(size: int) -> Callable[[int], None]:
    """``n`` traced calls in sessions of ``size`` calls (the session's own cost included)."""

    def run(n: int) -> None:
        for _ in range(max(1, n // size)):
            with honeytrace.session("scale"):
                for i in range(size):
                    leaf(i)

    return run


def _depth_of(depth: int) -> Callable[[int], None]:
    """``n`` traced calls as chains nested ``depth`` deep (the leaf included), in one
    session."""

    def run(n: int) -> None:
        with honeytrace.session("depth"):
            for _ in range(max(1, n // (depth + 1))):
                nest(depth)

    return run


def scaling_cases() -> list[Case]:
    """Per-event cost by session size and by depth."""
    cases = [
        Case(f"{size} events per session", _sessions_of(size), group="scaling", reset=_drain)
        for size in (1, 10, 100)
    ]
    cases += [
        Case(f"nesting depth {depth}", _depth_of(depth), group="scaling", reset=_drain)
        for depth in (1, 10, 50)
    ]
    return cases
