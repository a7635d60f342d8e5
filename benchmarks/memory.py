"""Memory: what a pending event costs (RSS around a million-event session: :mod:`.goals`).

It runs in a fresh subprocess so that nothing measured before (peers' buffers, caches) is
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
