"""How a case is timed: many samples of many calls, cases interleaved, medians reported.

Interleaving (sample 1 of every case, then sample 2 of every case, ...) spreads the machine's
noise over all cases alike, which is what makes the ratios between them trustworthy.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Case:
    """One thing to time: ``run(n)`` performs ``n`` calls; ``before()`` runs before each
    sample and ``reset()`` after it, both untimed (to switch a setting, or to deliver what the
    sample recorded so that nothing piles up across samples)."""

    name: str
    run: Callable[[int], None]
    group: str = "hot path"
    reset: Callable[[], None] | None = None
    before: Callable[[], None] | None = None
    calls: int = 0  # calls per sample; 0: the run's default (slow peers take fewer)
    samples_ns: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ns)

    @property
    def p25(self) -> float:
        return statistics.quantiles(self.samples_ns, n=4)[0]

    @property
    def p75(self) -> float:
        return statistics.quantiles(self.samples_ns, n=4)[2]


def measure(cases: list[Case], calls: int, samples: int) -> None:
    """Fill each case's ``samples_ns`` with per-call nanoseconds."""
    for case in cases:  # warm up: imports, caches, lazily built state
        if case.before:
            case.before()
        case.run(min(case.calls or calls, 1000))
        if case.reset:
            case.reset()
    for _ in range(samples):
        for case in cases:
            gc.collect()
            count = case.calls or calls
            if case.before:
                case.before()
            started = time.perf_counter_ns()
            case.run(count)
            elapsed = time.perf_counter_ns() - started
            case.samples_ns.append(elapsed / count)
            if case.reset:
                case.reset()
