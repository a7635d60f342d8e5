"""Cost of one spool put and one claim with 16,000 files already in the spool directory.

Run: ``python -m benchmarks.spool_cost`` (add ``PYTHONPATH=<other checkout>/src`` to time
another version: the script speaks both the index-less spool of before and today's). Each
figure is the median of 200 operations on a real directory (tmpfs-backed /tmp on the dev VM).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from honeytrace._deliver.spool import Spool

FILES = int(os.environ.get("SPOOL_FILES", "16000"))
OPERATIONS = 200
BODY = b'{"events":[' + b'{"event_type":"tool","inputs":{}}' * 10 + b"]}"


def _put(spool: Any, n: int) -> None:
    try:
        spool.put("POST", f"/v1/sessions/{n}/events/batch", BODY, 10, f"s{n}")
    except TypeError:  # the spool of before: no session group
        spool.put("POST", f"/v1/sessions/{n}/events/batch", BODY, 10)


_pass: list[Any] = []


def _claim(spool: Any) -> None:
    if hasattr(spool, "claim_oldest"):
        entry = spool.claim_oldest()
    else:
        # As a replay pass does: one snapshot of the index per pass (its cost included in the
        # first claim of the pass), then a claim per file.
        if not _pass:
            _pass.extend(reversed(spool.replayable()))
        entry = _pass.pop()
        spool.claim(entry)
    spool.done(entry)


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        spool = Spool(Path(directory), 1 << 40)
        for n in range(FILES):
            _put(spool, n)
        puts, claims = [], []
        for n in range(OPERATIONS):
            start = time.perf_counter()
            _put(spool, FILES + n)
            puts.append(time.perf_counter() - start)
            start = time.perf_counter()
            _claim(spool)
            claims.append(time.perf_counter() - start)
        start = time.perf_counter()
        Spool(Path(directory), 1 << 40)
        opened = time.perf_counter() - start
    print(f"python {sys.version.split()[0]}, {FILES} files in the spool")
    for what, times in (("put", puts), ("claim", claims)):
        median, mean = statistics.median(times) * 1e3, statistics.mean(times) * 1e3
        print(f"{what:5} median {median:8.3f} ms, mean {mean:8.3f} ms")
    print(f"open (index the directory) {opened * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
