"""The benchmark's output: the machine it ran on, the budget checks (goals 1-5 of the
performance issue, then the older ones), the tables and the chart."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

FLOOR = "floor: ContextVar set/reset + 2 clocks + append"


def machine() -> dict[str, Any]:
    """What the numbers were taken on."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for name in (
        "honeytrace",
        "opentelemetry-sdk",
        "logfire",
        "langsmith",
        "langfuse",
        "honeyhive",
        "wrapt",
        "pydantic",
    ):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": f"{platform.system()} {platform.release()}",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "versions": versions,
    }


def _median(results: dict[str, Any], name: str) -> float:
    return float(results["hot_path"][name]["median_ns"])


def _paired(results: dict[str, Any], ratio: Callable[[Callable[[str], float]], float]) -> float:
    """The median over rounds of a ratio computed within each round. Every round times every
    case once, back to back, so a ratio within a round compares cases under the same machine
    conditions; on a shared VM that alternates between fast and slow periods this is far
    steadier than a ratio of medians taken from different periods."""
    hot = results["hot_path"]
    rounds = min(len(value["samples_ns"]) for value in hot.values())
    values = [ratio(lambda name, i=i: float(hot[name]["samples_ns"][i])) for i in range(rounds)]
    return statistics.median(values)


SYNC = "honeytrace sync, 2 args"
BY_CONFIGURE = "honeytrace disabled by configure(enabled=False)"
BY_ENV = "honeytrace disabled by HONEYTRACE_ENABLED=false"
OTEL = "OpenTelemetry SDK span, 2 attributes"
# Hot-path rows and the peers' row that gives their all-in CPU column.
ALL_IN = {
    SYNC: "honeytrace @trace_tool",
    BY_CONFIGURE: "honeytrace, configure(enabled=False)",
    BY_ENV: "honeytrace, HONEYTRACE_ENABLED=false",
    OTEL: "OpenTelemetry SDK + OTLP/HTTP",
    "OpenTelemetry SDK disabled (OTEL_SDK_DISABLED)": "OpenTelemetry, OTEL_SDK_DISABLED=true",
}
KIB, MIB = 1024, 2**20


def hot_path_checks(results: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    """Goal 4's budgets, as paired ratios over the hot-path rounds (see :func:`_paired`)."""

    def sync(at: Callable[[str], float]) -> float:
        return at(SYNC) - at("bare call")

    return [
        (
            "G4 (sync - bare) / floor call, sender running",
            _paired(results, lambda at: sync(at) / at(FLOOR)),
            2,
            "<=",
        ),
        (
            "G4 generator overhead / sync overhead",
            _paired(
                results, lambda at: (at("honeytrace generator") - at("bare generator")) / sync(at)
            ),
            1.3,
            "<=",
        ),
        (
            "G4 disabled by HONEYTRACE_ENABLED=false / by configure(enabled=False)",
            _paired(results, lambda at: at(BY_ENV) / at(BY_CONFIGURE)),
            2,
            "<=",
        ),
    ]


def budgets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every budget, as measured in this run: hot-path budgets as paired ratios (see
    :func:`_paired`), the others directly. Each: (what, measured, limit, op)."""
    hot = results["hot_path"]
    checks: list[tuple[str, float, float, str]] = []

    def sync(at: Callable[[str], float]) -> float:
        return at(SYNC) - at("bare call")

    # Goal 1: end to end by session size, paired against OpenTelemetry.
    for size, row in results["end_to_end"]["sizes"].items():
        limit = 0.5 if int(size) >= 10 else 1.0
        for metric, what in (("wall_s", "wall time"), ("all_cpu_s", "all-in CPU")):
            checks.append(
                (
                    f"G1 end to end, {size}/session: {what} / OTel+OTLP",
                    row[f"ratio_{metric}"],
                    limit,
                    "<=",
                )
            )
        strict = row["strict_sink"]
        checks.append(
            (
                f"G1 end to end, {size}/session: requests refused or broken (strict sink)",
                strict["refused"] + strict["violation_count"],
                0,
                "<=",
            )
        )
    # Goal 2: the flusher's encoding.
    checks.append(
        (
            "G2 encoding, flusher CPU per plain event incl. JSON (µs)",
            results["encoding"]["us_per_event"],
            4,
            "<=",
        )
    )
    # Goal 3: the embedded store.
    checks.append(
        ("G3 embedded store, events/s committed", results["store"]["events_per_s"], 50_000, ">=")
    )
    if "collector" in results:  # benchmarks/ingest.py: 4 clients posting batches to serve
        checks.append(
            (
                "G3 honeytrace serve ingest, events/s committed",
                results["collector"]["ingest"]["events_per_s"],
                50_000,
                ">=",
            )
        )
    # Goal 4: the hot path, sender running.
    checks += hot_path_checks(results)
    # Goal 5: memory.
    mem = results["memory"]
    if "big_session" in mem:
        big = mem["big_session"]
        checks += [
            (
                "G5 largest session request (create/end) of a 1M-event session, KiB",
                big["session_request_max_bytes"] / KIB,
                64,
                "<=",
            ),
            ("G5 RSS after a 1M-event session - before (MiB)", big["rss_growth_mib"], 10, "<="),
            ("G5 events dropped in the 1M-event session", sum(big["dropped"].values()), 0, "<="),
        ]
    # Older budgets, kept.
    if OTEL in hot:

        def otel(at: Callable[[str], float]) -> float:
            return at(OTEL) - at("bare call")

        checks += [
            (
                "sync overhead / OTel span overhead",
                _paired(results, lambda at: sync(at) / otel(at)),
                1 / 8,
                "<=",
            ),
            (
                "10-message chat overhead / OTel span overhead",
                _paired(
                    results,
                    lambda at: (
                        (at("honeytrace sync, 10-message chat") - at("bare call")) / otel(at)
                    ),
                ),
                1 / 3,
                "<=",
            ),
        ]
    checks += [
        (
            "async overhead / sync overhead",
            _paired(results, lambda at: (at("honeytrace async") - at("bare async")) / sync(at)),
            1.5,
            "<=",
        ),
        (
            "disabled by configure / wrapt pass-through",
            _paired(results, lambda at: at(BY_CONFIGURE) / at("wrapt pass-through")),
            2,
            "<=",
        ),
        (
            "bytes per pending small event",
            mem["pending"]["bytes_per_pending_event"],
            2048,
            "<=",
        ),
        (
            "hot path: requests refused or broken (strict sink)",
            results["hot_path_sink"]["refused"] + results["hot_path_sink"]["violation_count"],
            0,
            "<=",
        ),
    ]
    # Linear cost keeps these flat; quadratic cost would multiply them by 10 and by 5.
    scale = {name: value["median_ns"] for name, value in results["scaling"].items()}
    checks += [
        (
            "per-event cost at 100/session / at 10/session",
            scale["100 events per session"] / scale["10 events per session"],
            1.5,
            "<=",
        ),
        (
            "per-event cost at depth 50 / at depth 10",
            scale["nesting depth 50"] / scale["nesting depth 10"],
            1.5,
            "<=",
        ),
    ]
    return [
        {
            "budget": what,
            "measured": round(value, 3),
            "limit": round(limit, 3),
            "op": op,
            "ok": value <= limit if op == "<=" else value >= limit,
        }
        for what, value, limit, op in checks
    ]


def _all_in(results: dict[str, Any], name: str) -> str:
    peer = results.get("peers", {}).get(ALL_IN.get(name, ""))
    return f"{peer['all_in']['all_cpu_us_per_event']:9.2f}µs" if peer else f"{'-':>11}"


def print_report(results: dict[str, Any]) -> None:
    """The tables the README reproduces, then every budget."""
    info = results["machine"]
    print(
        f"\nmachine: {info['cpu']}, {info['cores']} cores, {info['implementation']} "
        f"{info['python']}, {info['system']}; load average at start "
        f"{info['load_average_at_start']}, at end {[round(x, 2) for x in results['load_average']]}"
    )
    bare = _median(results, "bare call")
    floor = _median(results, FLOOR)
    print("\ncalling thread, delivery on (in one process, cases interleaved):")
    header = f"{'case':52} {'median':>10} {'p25-p75':>17} {'x bare':>8} {'x floor':>8}"
    print(f"{header} {'all-in CPU':>11}")
    for name, value in {**results["hot_path"], **results["scaling"]}.items():
        median = value["median_ns"]
        spread = f"{value['p25_ns'] / 1000:.2f}-{value['p75_ns'] / 1000:.2f}"
        ratios = f"{median / bare:8.1f} {median / floor:8.2f}"
        row = f"{name:52} {median / 1000:8.2f}µs {spread:>15}µs {ratios}"
        print(f"{row} {_all_in(results, name)}")
    if results.get("peers"):
        print(
            "\neach tracer in its own process, 10 calls per session "
            "(calling thread: median per call, x its own floor; all-in: CPU of every thread "
            "per event until delivered):"
        )
        print(
            f"{'tracer':46} {'calling':>11} {'x floor':>8} {'all-in CPU':>11} "
            f"{'calling CPU':>12} {'wall':>11}"
        )
        for label, row in results["peers"].items():
            hot, allin = row["hot"], row["all_in"]
            per_call = hot["traced_ns"]
            print(
                f"{label:46} {per_call / 1000:9.2f}µs {per_call / hot['floor_ns']:8.1f} "
                f"{allin['all_cpu_us_per_event']:9.2f}µs {allin['main_cpu_us_per_event']:10.2f}µs "
                f"{allin['wall_us_per_event']:9.2f}µs"
            )
    e2e = results["end_to_end"]
    print(
        f"\nend to end, {e2e['events']:,} calls delivered, by session size "
        f"(median of {e2e['repeats']} paired runs; per call):"
    )
    print(
        f"{'per session':>11} {'honeytrace wall':>16} {'OTel wall':>11} {'ratio':>6} "
        f"{'honeytrace CPU':>15} {'OTel CPU':>10} {'ratio':>6} {'sessions at sink, all runs':>27}"
    )
    for size, row in e2e["sizes"].items():
        h, o = row["honeytrace"], row["opentelemetry"]
        print(
            f"{size:>11} {h['wall_us_per_event']:14.2f}µs {o['wall_us_per_event']:9.2f}µs "
            f"{row['ratio_wall_s']:6.2f} {h['all_cpu_us_per_event']:13.2f}µs "
            f"{o['all_cpu_us_per_event']:8.2f}µs {row['ratio_all_cpu_s']:6.2f} "
            f"{row['strict_sink']['sessions']:>27,}"
        )
    enc, store, mem = results["encoding"], results["store"], results["memory"]
    print(
        f"\nencoding: {enc['us_per_event']:.2f} µs flusher CPU per plain event "
        f"({enc['events']:,} events, exporter none; median of runs {_runs(enc, 'runs')}); "
        f"generator events {enc['generator_us_per_event']:.2f} µs "
        f"(runs {_runs(enc, 'generator_runs')})"
    )
    print(
        f"embedded store: {store['events_per_s']:,.0f} events/s committed "
        f"({store['flusher_cpu_us_per_event']:.1f} µs flusher CPU per event; "
        f"median of runs {_runs(store, 'runs')})"
    )
    for part, value in results.get("collector", {}).items():
        print(f"honeytrace serve {part}: {json.dumps(value)}")
    print(f"pending event: {mem['pending']['bytes_per_pending_event']:.0f} bytes")
    if "big_session" in mem:
        big = mem["big_session"]
        print(
            f"1M-event session: RSS {big['rss_before_mib']:.1f} -> peak {big['rss_peak_mib']:.1f} "
            f"-> after {big['rss_after_mib']:.1f} MiB; largest session request "
            f"{big['session_request_max_bytes'] / KIB:,.1f} KiB"
        )
    print("\nbudgets:")
    for check in results["budgets"]:
        mark = "PASS" if check["ok"] else "FAIL"
        print(
            f"  {mark} {check['budget']}: {check['measured']:,} "
            f"(limit {check['op']} {check['limit']:,})"
        )
    failed = sum(1 for check in results["budgets"] if not check["ok"])
    print(f"\n{len(results['budgets']) - failed} passed, {failed} failed")


def write_chart(results: dict[str, Any], path: Path) -> Path | None:
    """Two panels, log scale, with the machine named: the calling thread's cost per call (delivery
    on), and all-in CPU per event (every thread, until delivered) for each tracer on and off."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    hot_names = list(results["hot_path"])
    hot_values = [results["hot_path"][n]["median_ns"] / 1000 for n in hot_names]
    peer_names = list(results.get("peers", {}))
    peer_values = [results["peers"][n]["all_in"]["all_cpu_us_per_event"] for n in peer_names]
    panels = [("calling thread, µs per call (median, delivery on)", hot_names, hot_values)]
    if peer_names:
        panels.append(
            ("all-in CPU, µs per event (all threads, until delivered)", peer_names, peer_values)
        )
    height = 0.36 * max(len(names) for _, names, _ in panels) + 1.8
    figure, axes_list = plt.subplots(1, len(panels), figsize=(8 * len(panels), height))
    if len(panels) == 1:
        axes_list = [axes_list]
    for axes, (label, names, values) in zip(axes_list, panels, strict=True):
        colors = ["#f2a900" if n.startswith("honeytrace") else "#9aa5b1" for n in names]
        axes.barh(names[::-1], values[::-1], color=colors[::-1])
        axes.set_xscale("log")
        axes.set_xlabel(label)
        for y, value in enumerate(values[::-1]):
            axes.text(value * 1.08, y, f"{value:.2f}", va="center", fontsize=8)
    info = results["machine"]
    figure.suptitle(
        f"{info['cpu']}, {info['cores']} cores, Python {info['python']}, "
        f"load {info['load_average_at_start'][0]:.1f}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _runs(result: dict[str, Any], key: str) -> str:
    """A measurement's runs (benchmarks/goals.py keeps the median of several), for the
    printout."""
    return " / ".join(
        f"{value:,.2f}" if value < 100 else f"{value:,.0f}" for value in result.get(key, [])
    )
