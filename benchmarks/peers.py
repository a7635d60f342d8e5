"""Every tracer in its own process (:mod:`benchmarks.sides`), on and off: the calling thread's
cost per call (next to the bare call and the floor timed in the same process), and the all-in
CPU per event (every thread of the process, from the first call until everything recorded was
delivered), at 10 calls per session.

honeytrace delivers to the strict fake API; every peer to the minimal sink on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# (tracer, mode, row label)
ROWS = [
    ("honeytrace", "on", "honeytrace @trace_tool"),
    ("honeytrace", "off", "honeytrace, configure(enabled=False)"),
    ("honeytrace", "off-env", "honeytrace, HONEYTRACE_ENABLED=false"),
    ("opentelemetry", "on", "OpenTelemetry SDK + OTLP/HTTP"),
    ("opentelemetry", "off", "OpenTelemetry, OTEL_SDK_DISABLED=true"),
    ("logfire", "on", "Logfire @instrument + OTLP/HTTP"),
    ("logfire", "off", "Logfire, send_to_logfire=False, no exporter"),
    ("langfuse", "on", "Langfuse @observe"),
    ("langfuse", "off", "Langfuse, LANGFUSE_TRACING_ENABLED=false"),
    ("langsmith", "on", "LangSmith @traceable"),
    ("langsmith", "off", "LangSmith, LANGSMITH_TRACING=false"),
    ("honeyhive", "on", "honeyhive SDK @trace"),
    ("honeyhive", "off", "honeyhive SDK, test_mode=True"),
]

# How much each tracer gets, scaled to its cost (the honeyhive SDK takes milliseconds per span).
SCALE = {
    "honeytrace": 1.0,
    "opentelemetry": 0.5,
    "logfire": 0.1,
    "langfuse": 0.1,
    "langsmith": 0.1,
    "honeyhive": 0.02,
}


def side(tracer: str, mode: str, url: str, options: dict[str, Any]) -> dict[str, Any]:
    """Run one tracer in a fresh process; its JSON result."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYTRACE_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.sides", tracer, mode, url, json.dumps(options)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"{tracer} {mode} failed:\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def run(
    strict_url: str, sink_url: str, quick: bool, rows: list[tuple[str, str, str]] | None = None
) -> dict[str, Any]:
    """Every row of :data:`ROWS` that can run here (a peer not installed is skipped)."""
    calls, events, samples = (1_000, 2_000, 3) if quick else (5_000, 10_000, 9)
    measured: dict[str, Any] = {}
    for tracer, mode, label in ROWS if rows is None else rows:
        scale = SCALE[tracer]
        url = strict_url if tracer == "honeytrace" else sink_url
        try:
            options = {
                "hot": max(20, int(calls * scale)),
                "samples": samples,
                "events": max(200, int(events * scale)),
                "per_session": 10,
            }
            result = side(tracer, mode, url, options)
        except RuntimeError as exc:
            if "ModuleNotFoundError" not in str(exc):
                raise
            print(f"  {label}: not installed, skipped", file=sys.stderr)
            continue
        print(f"  {label}: done", file=sys.stderr)
        result["hot"].pop("samples_ns", None)
        measured[label] = result
    return measured
