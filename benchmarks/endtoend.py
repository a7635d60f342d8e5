"""End to end, by session size: record and deliver 50,000 traced calls in sessions of 1, 3, 10,
100 and 1,000 calls, honeytrace to the strict fake API and the OpenTelemetry SDK over OTLP/HTTP
to the minimal sink, paired: each repeat runs both sides back to back, each in a fresh process
(:mod:`benchmarks.sides`), each sink in a process of its own.

A session of K calls is a root (a honeytrace session, an OTel root span) with K children, each
child carrying two inputs (OTel: two attributes). Wall time runs from the first call until
``flush()``/``force_flush()`` returns; all-in CPU counts every thread of the process over the
same stretch. The budget ratio is the median over repeats of the per-pair ratio (a slow spell
of a shared machine hits both runs of a pair alike). The strict sink's statistics are kept per
size: honeytrace's sessions must all arrive, none refused.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

from . import sinks
from .peers import side

EVENTS = 50_000
SIZES = (1, 3, 10, 100, 1000)


def run(repeats: int = 3, events: int = EVENTS) -> dict[str, Any]:
    """The session-size matrix: per size, both sides' medians and the paired ratios."""
    matrix: dict[str, Any] = {}
    with sinks.sink() as sink_url:
        for size in SIZES:
            runs: dict[str, list[dict[str, Any]]] = {"honeytrace": [], "opentelemetry": []}
            with sinks.strict_sink() as (strict_url, strict_count):
                for _ in range(repeats):
                    for tracer, url in (("honeytrace", strict_url), ("opentelemetry", sink_url)):
                        options = {"events": events, "per_session": size}
                        runs[tracer].append(side(tracer, "on", url, options)["all_in"])
                strict = sinks.stats(strict_count)
            row: dict[str, Any] = {"per_session": size, "events": events, "strict_sink": strict}
            for metric in ("wall_s", "all_cpu_s", "main_cpu_s"):
                pairs = [
                    h[metric] / o[metric]
                    for h, o in zip(runs["honeytrace"], runs["opentelemetry"], strict=True)
                ]
                row[f"ratio_{metric}"] = statistics.median(pairs)
                row[f"pairs_{metric}"] = pairs
            for tracer, results in runs.items():
                row[tracer] = {
                    key: statistics.median(r[key] for r in results)
                    for key in (
                        "wall_s",
                        "all_cpu_s",
                        "main_cpu_s",
                        "wall_us_per_event",
                        "all_cpu_us_per_event",
                        "main_cpu_us_per_event",
                    )
                }
            matrix[str(size)] = row
            print(
                f"  {size:>5}/session: wall x{row['ratio_wall_s']:.2f}, "
                f"all-in CPU x{row['ratio_all_cpu_s']:.2f} of OTel",
                file=sys.stderr,
            )
    return {"events": events, "repeats": repeats, "sizes": matrix}


if __name__ == "__main__":
    started = time.time()
    print(json.dumps(run(1, 10_000), indent=2))
    print(f"{time.time() - started:.1f} s")
