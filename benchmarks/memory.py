"""Memory: what a pending event costs, and whether RSS stays flat over a million traced calls.

Both run in fresh subprocesses so that nothing measured before (peers' buffers, caches) is
counted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

PENDING = textwrap.dedent(
    """
    import json, tracemalloc, honeytrace
    honeytrace.configure(exporter="none", flush_interval=3600, batch_size=100000, max_queue=10**7)

    @honeytrace.trace_tool
    def step(i, text):
        return i

    n = 10_000
    with honeytrace.session("memory"):
        step(0, "warm")
        assert honeytrace.flush(60)  # the flusher's lazy imports happen now, not while measured
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for i in range(n):
            step(i, "some text")
        after = tracemalloc.take_snapshot()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    print(json.dumps({"events": n, "bytes_per_pending_event": grown / n}))
    """
)

RSS = textwrap.dedent(
    """
    import json, resource, sys, honeytrace
    url, calls = sys.argv[1], int(sys.argv[2])
    honeytrace.configure(api_key="bench", server_url=url)

    @honeytrace.trace_tool
    def step(i, text):
        return i

    def rss_mib():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize() / 2**20

    samples = []
    per_session = 100
    for done in range(0, calls, per_session):
        with honeytrace.session("rss"):
            for i in range(per_session):
                step(i, "some text")
        if done % 20_000 == 0:
            # Paced to what one flusher delivers: a producer ten times faster than its sink
            # would (rightly) be cut at max_queue; this measures the steady state instead.
            honeytrace.flush(60)
        if done % 100_000 == 0:
            samples.append((done, rss_mib()))
    assert honeytrace.flush(300)
    samples.append((calls, rss_mib()))
    stats = honeytrace.stats()
    print(json.dumps({"samples": samples, "sent": stats.sent, "dropped": stats.dropped}))
    """
)


def _python(code: str, *args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYTRACE_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def pending_event_bytes() -> dict[str, Any]:
    """tracemalloc's count of bytes held per pending (recorded, not yet sent) small event."""
    return _python(PENDING)


def rss_over_calls(sink_url: str, calls: int = 1_000_000) -> dict[str, Any]:
    """RSS every 100,000 calls while a million traced calls are delivered to a healthy sink
    (the producer waits for the flusher every 20,000 calls, so none is dropped)."""
    result = _python(RSS, sink_url, str(calls))
    samples = result["samples"]
    settled = [rss for done, rss in samples if done >= calls // 5]
    result["growth_after_warmup_mib"] = max(settled) - min(settled)
    return result
