"""`python -m benchmarks.encoding`: the flusher's encoding cost per event, on 50,000 events.

Four shapes of event, recorded for real (decorators, a quiet flusher) and then encoded with
:class:`honeytrace._deliver.encode.Encoder` as the flusher does: ``plain`` (small int
arguments), ``gen`` (a generator of two ints: its outputs are a list), ``chat`` (a question, a
user id, a 1,000-character answer: strings that secret masking has to look at), ``long`` (a
16 KiB document in, a 4 KiB answer out). Prints the median
of interleaved samples, in CPU microseconds per event (CPU time: the machine is shared).

For exact counts, instructions under callgrind: the difference between ``--samples 1`` and
``--samples 0`` is one encoding pass over the events::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        python -m benchmarks.encoding --events 5000 --samples 1 --kinds chat
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import honeytrace
from honeytrace._deliver.encode import Encoder
from honeytrace._record import buffer as _buffer
from honeytrace._runtime import get_config

_PROSE = (
    "Refunds are issued within 14 days of the return. The customer pays return shipping "
    "unless the item arrived damaged; see https://example.com/policy for details. "
)


@honeytrace.trace_tool
def plain(a: int, b: int) -> int:
    return a + b


@honeytrace.trace_model(model="gpt-4o", provider="openai")
def chat(question: str, user_id: str) -> str:
    return (_PROSE * 8)[:1000]


@honeytrace.trace_chain
def long(document: str) -> str:
    return (_PROSE * 30)[:4096]


@honeytrace.trace_tool
def gen(a: int, b: int) -> Any:
    yield a
    yield b


def _record(kind: str, count: int) -> list[Any]:
    _buffer.QUEUE.clear()
    with honeytrace.session("bench"):
        for number in range(count):
            if kind == "plain":
                plain(number, 2)
            elif kind == "gen":
                for _ in gen(number, 2):
                    pass
            elif kind == "chat":
                chat(f"How do refunds work for order {number}? I returned it last week.", "u-42")
            else:
                long((_PROSE * 120)[:16384])
    events = [event for event in _buffer.QUEUE if type(event).__name__ == "Event"]
    _buffer.QUEUE.clear()
    return events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.encoding", description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--samples", type=int, default=7)
    parser.add_argument("--kinds", default="plain,gen,chat,long", help="comma-separated")
    args = parser.parse_args(argv)
    honeytrace.configure(exporter="none", flush_interval=3600, batch_size=100_000)
    encoder = Encoder(get_config())
    kinds = tuple(args.kinds.split(","))
    events = {
        kind: _record(kind, args.events if kind != "long" else args.events // 10) for kind in kinds
    }
    results: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(args.samples):  # interleaved: machine noise spreads over every kind
        for kind in kinds:
            batch = events[kind]
            encoder.refresh_clock()
            started = time.process_time_ns()
            for event in batch:
                encoder.event(event, None)
            results[kind].append((time.process_time_ns() - started) / len(batch) / 1000)
    for kind in kinds:
        samples = results[kind]
        if not samples:
            continue
        print(f"{kind:6} {statistics.median(samples):8.2f} us/event  (min {min(samples):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
