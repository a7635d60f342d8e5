"""`python -m benchmarks`: every budget of the performance issue, measured in one run.

Prints the hot-path table (median, p25-p75, ratio to the bare call and to the floor, all-in CPU
per event), the session-size matrix against OpenTelemetry, the peers on and off, and every
budget as PASS/FAIL; writes benchmarks/results/latest.json and benchmarks/results/hotpath.png.
Exits 1 when a budget fails. Options: ``--quick`` (fewer samples, 10,000 events a size, no
million-event session), ``--no-peers`` (no Logfire/Langfuse/LangSmith/honeyhive rows).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from . import endtoend, goals, memory, peers, sinks
from .hotpath import honeytrace_cases, otel_cases
from .report import budgets, machine, print_report, write_chart
from .scaling import scaling_cases
from .timing import Case, measure

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples, no 1M session")
    parser.add_argument("--no-peers", action="store_true", help="skip the peers' processes")
    args = parser.parse_args(argv)
    # 5,000 calls per sample: about what waits between two flusher wake-ups at batch_size=500
    # and a few threads; far more would measure the garbage collector walking a backlog.
    samples, calls = (7, 5_000) if args.quick else (21, 5_000)
    started = time.time()
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick}

    def step(what: str) -> None:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"[{time.time() - started:6.0f} s, load {load}] {what} ...", file=sys.stderr)

    with sinks.sink() as sink_url, sinks.strict_sink() as (strict_url, strict_count):
        step(f"hot path, delivery on: {samples} samples")
        cases: list[Case] = honeytrace_cases(strict_url, sinks.STRICT_KEY)
        for peer in otel_cases(sink_url):
            peer.calls = calls // 10  # 10-30x slower: keep samples short
            cases.append(peer)
        measure(cases, calls, samples)
        scaling = scaling_cases()
        step("scaling")
        # Fewer calls: a sample's sessions are delivered between samples (10,000 requests for
        # 5,000 one-call sessions); linearity needs only the per-call figure.
        measure(scaling, 1_000 if args.quick else 2_000, max(5, samples // 2))
        results["hot_path"] = {c.name: _stats(c) for c in cases}
        results["scaling"] = {c.name: _stats(c) for c in scaling}
        step("each tracer in its own process, on and off")
        rows = peers.ROWS if not args.no_peers else peers.ROWS[:5]
        results["peers"] = peers.run(strict_url, sink_url, args.quick, rows)
        results["hot_path_sink"] = sinks.stats(strict_count)

    step("end to end by session size, paired with OpenTelemetry")
    results["end_to_end"] = endtoend.run(1 if args.quick else 3, 5_000 if args.quick else 50_000)
    step("encoding (budget 2)")
    results["encoding"] = goals.encoding()
    step("embedded store (budget 3)")
    results["store"] = goals.store()
    ingest = _ingest_module()
    if ingest is not None:
        step("honeytrace serve: ingest, OTLP, reads (budget 3)")
        results["collector"] = ingest.run(quick=args.quick)
    step("memory (budget 5)")
    results["memory"] = {"pending": memory.pending_event_bytes()}
    if not args.quick:
        results["memory"]["big_session"] = goals.big_session()
    results["duration_s"] = round(time.time() - started, 1)
    results["load_average"] = os.getloadavg()

    results["budgets"] = budgets(results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    print_report(results)
    chart = write_chart(results, RESULTS / "hotpath.png")
    print(f"\nwrote {RESULTS / 'latest.json'}" + (f" and {chart}" if chart else ""))
    return 0 if all(b["ok"] for b in results["budgets"]) else 1


def _ingest_module() -> Any:
    """``benchmarks/ingest.py`` (``honeytrace serve`` ingest, from the collector's work), or None
    where it is not there."""
    try:
        return importlib.import_module(f"{__package__}.ingest")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.ingest":
            raise
        return None


def _stats(case: Case) -> dict[str, Any]:
    return {
        "median_ns": case.median,
        "p25_ns": case.p25,
        "p75_ns": case.p75,
        "samples_ns": [round(sample, 1) for sample in case.samples_ns],
    }


if __name__ == "__main__":
    sys.exit(main())
