"""The benchmark's output: the machine it ran on, the budget checks, the table and the chart."""

from __future__ import annotations

import importlib.metadata
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
    for name in ("honeytrace", "opentelemetry-sdk", "langsmith", "langfuse", "wrapt", "pydantic"):
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


def budgets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every budget of the performance issue, as measured in this run: hot-path budgets as
    paired ratios (see :func:`_paired`), the others directly."""
    hot = results["hot_path"]

    def sync(at: Callable[[str], float]) -> float:
        return at("honeytrace sync, 2 args") - at("bare call")

    checks: list[tuple[str, float, float]] = [
        # (what, measured, limit): ok when measured <= limit
        ("sync overhead / floor call (<= 3)", _paired(results, lambda at: sync(at) / at(FLOOR)), 3),
        (
            "sync overhead / floor's own overhead (<= 3, stricter)",
            _paired(results, lambda at: sync(at) / (at(FLOOR) - at("bare call"))),
            3,
        ),
    ]
    if "OpenTelemetry SDK span" in hot:

        def otel(at: Callable[[str], float]) -> float:
            return at("OpenTelemetry SDK span") - at("bare call")

        checks += [
            (
                "sync overhead / OTel SDK span overhead (<= 1/8)",
                _paired(results, lambda at: sync(at) / otel(at)),
                1 / 8,
            ),
            (
                "10-message chat overhead / OTel SDK span overhead (<= 1/3)",
                _paired(
                    results,
                    lambda at: (
                        (at("honeytrace sync, 10-message chat") - at("bare call")) / otel(at)
                    ),
                ),
                1 / 3,
            ),
        ]
    checks += [
        (
            "async overhead / sync overhead (<= 1.5)",
            _paired(results, lambda at: (at("honeytrace async") - at("bare async")) / sync(at)),
            1.5,
        ),
        (
            "generator overhead / sync overhead (<= 1.5)",
            _paired(
                results, lambda at: (at("honeytrace generator") - at("bare generator")) / sync(at)
            ),
            1.5,
        ),
        (
            "disabled / wrapt pass-through (<= 2)",
            _paired(results, lambda at: at("honeytrace disabled") / at("wrapt pass-through")),
            2,
        ),
    ]
    e2e = results["end_to_end"]
    checks.append(
        (
            "50k events end to end / OTel + OTLP/HTTP, median of paired runs (<= 1/2)",
            e2e["ratio_wall"],
            0.5,
        )
    )
    mem = results["memory"]
    checks.append(
        ("bytes per pending small event <= 2 KiB", mem["pending"]["bytes_per_pending_event"], 2048)
    )
    if "rss" in mem:
        checks.append(
            (
                "RSS growth over 1M calls after warm-up <= 16 MiB",
                mem["rss"]["growth_after_warmup_mib"],
                16,
            )
        )
        checks.append(("events dropped over 1M calls", sum(mem["rss"]["dropped"].values()), 0))
    collector = results.get("collector")
    if collector is not None:
        # Lower is better in this table: seconds per 40,000 committed events.
        checks.append(
            (
                "collector ingest, 4 clients: s per 40k events committed (<= 1, i.e. >= 40k/s)",
                40_000 / collector["ingest"]["events_per_s"],
                1.0,
            )
        )
    # Linear cost keeps these flat; quadratic cost would multiply them by 10 and by 5.
    scale = {name: value["median_ns"] for name, value in results["scaling"].items()}
    checks += [
        (
            "per-event cost at 100/session <= 1.5x at 10/session",
            scale["100 events per session"],
            1.5 * scale["10 events per session"],
        ),
        (
            "per-event cost at depth 50 <= 1.5x at depth 10",
            scale["nesting depth 50"],
            1.5 * scale["nesting depth 10"],
        ),
    ]
    return [
        {
            "budget": what,
            "measured": round(value, 3),
            "limit": round(limit, 3),
            "ok": value <= limit,
        }
        for what, value, limit in checks
    ]


def print_table(results: dict[str, Any]) -> None:
    """The table the README reproduces."""
    bare = _median(results, "bare call")
    floor = _median(results, FLOOR)
    print(f"\n{'case':52} {'median':>10} {'p25-p75':>17} {'x bare':>8} {'x floor':>8}")
    for name, value in {**results["hot_path"], **results["scaling"]}.items():
        median = value["median_ns"]
        spread = f"{value['p25_ns'] / 1000:.2f}-{value['p75_ns'] / 1000:.2f}"
        ratios = f"{median / bare:8.1f} {median / floor:8.2f}"
        print(f"{name:52} {median / 1000:8.2f}µs {spread:>15}µs {ratios}")
    e2e = results["end_to_end"]
    print(
        f"\nend to end, {e2e['events']:,} events: honeytrace {e2e['honeytrace']['wall_s']:.2f} s "
        f"(background CPU {e2e['honeytrace']['background_cpu_us_per_event']:.1f} µs/event), "
        f"OpenTelemetry {e2e['opentelemetry']['wall_s']:.2f} s "
        f"({e2e['opentelemetry']['background_cpu_us_per_event']:.1f} µs/event); "
        f"paired ratio {e2e['ratio_wall']:.2f}"
    )
    mem = results["memory"]
    print(f"pending event: {mem['pending']['bytes_per_pending_event']:.0f} bytes")
    if "rss" in mem:
        print(f"RSS over 1M calls: {mem['rss']['samples']} (MiB)")
    print("\nbudgets:")
    for check in results["budgets"]:
        mark = "ok  " if check["ok"] else "FAIL"
        print(f"  {mark} {check['budget']}: {check['measured']:,} (limit {check['limit']:,})")


def write_chart(results: dict[str, Any], path: Path) -> Path | None:
    """A bar chart of per-call cost, log scale, with the machine it was taken on."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    names = list(results["hot_path"])
    medians = [results["hot_path"][n]["median_ns"] / 1000 for n in names]
    colors = ["#f2a900" if n.startswith("honeytrace") else "#9aa5b1" for n in names]
    figure, axes = plt.subplots(figsize=(10, 0.42 * len(names) + 1.6))
    axes.barh(names[::-1], medians[::-1], color=colors[::-1])
    axes.set_xscale("log")
    axes.set_xlabel("µs per call (median, log scale)")
    for y, value in enumerate(medians[::-1]):
        axes.text(value * 1.08, y, f"{value:.2f}", va="center", fontsize=8)
    info = results["machine"]
    axes.set_title(
        f"Cost of one traced call — {info['cpu']}, {info['cores']} cores, Python {info['python']}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
