"""`python -m benchmarks`: every case of the performance budget, side by side, in one run.

Prints a table (median, p25-p75, ratio to the bare call and to the floor), checks each budget,
and writes benchmarks/results/latest.json and benchmarks/results/hotpath.png. Options:
``--quick`` (fewer samples, no million-call RSS run), ``--no-peers``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from . import endtoend, ingest, memory
from .hotpath import honeytrace_cases, langfuse_case, langsmith_case, otel_case
from .report import budgets, machine, print_table, write_chart
from .scaling import scaling_cases
from .timing import Case, measure

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples, skip the RSS run")
    parser.add_argument("--no-peers", action="store_true", help="skip LangSmith and Langfuse")
    args = parser.parse_args(argv)
    # 5,000 calls per sample: about what waits between two flusher wake-ups at batch_size=500
    # and a few threads; far more would measure the garbage collector walking a backlog.
    samples, calls = (9, 5_000) if args.quick else (41, 5_000)
    started = time.time()

    cases: list[Case] = honeytrace_cases()
    peers = [otel_case()] + ([] if args.no_peers else [langsmith_case(), langfuse_case()])
    for peer in peers:
        if peer is not None:
            peer.calls = calls // 10  # they are 10-300x slower: keep samples short
            cases.append(peer)
    print(f"hot path: {len(cases)} cases x {samples} samples ...", file=sys.stderr)
    measure(cases, calls, samples)
    scaling = scaling_cases()
    print("scaling ...", file=sys.stderr)
    measure(scaling, calls, max(5, samples // 2))

    print("end to end: 50,000 events, honeytrace vs OpenTelemetry OTLP/HTTP ...", file=sys.stderr)
    e2e = endtoend.run(1 if args.quick else 5)
    print("memory ...", file=sys.stderr)
    mem: dict[str, Any] = {"pending": memory.pending_event_bytes()}
    if not args.quick:
        with endtoend.sink() as url:
            mem["rss"] = memory.rss_over_calls(url)

    print("collector: ingest from 4 clients, reads of a large store ...", file=sys.stderr)
    collector = ingest.run(quick=args.quick)

    results = {
        "machine": machine(),
        "collector": collector,
        "hot_path": {c.name: _stats(c) for c in cases},
        "scaling": {c.name: _stats(c) for c in scaling},
        "end_to_end": e2e,
        "memory": mem,
        "duration_s": round(time.time() - started, 1),
    }
    results["budgets"] = budgets(results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"\ncollector ingest: {json.dumps(collector['ingest'])}")
    print(f"collector OTLP: {json.dumps(collector['otlp'])}")
    print(f"collector reads: {json.dumps(collector['reads'])}")
    chart = write_chart(results, RESULTS / "hotpath.png")
    print(f"\nwrote {RESULTS / 'latest.json'}" + (f" and {chart}" if chart else ""))
    return 0 if all(b["ok"] for b in results["budgets"]) else 1


def _stats(case: Case) -> dict[str, Any]:
    return {
        "median_ns": case.median,
        "p25_ns": case.p25,
        "p75_ns": case.p75,
        "samples_ns": [round(sample, 1) for sample in case.samples_ns],
    }


if __name__ == "__main__":
    sys.exit(main())
