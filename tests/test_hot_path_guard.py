"""A non-timing guard on the hot path: count the Python calls, C calls and retained allocations
of one traced call, so that CI catches a slowdown (a helper call, a JSON dump, an id formatted
too early) without a flaky timing assert. Speed itself is measured by `make bench`."""

from __future__ import annotations

import asyncio
import inspect
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest

import honeytrace
from honeytrace._record import buffer as _buffer

FORBIDDEN_MODULES = ("pydantic", "json", "uuid", "honeytrace/_encode", "honeytrace/_serialize")


@honeytrace.trace_tool
def tool(a: int, b: int) -> int:
    return a + b


@honeytrace.trace_tool
def echo(text: str) -> int:
    return len(text)


@honeytrace.trace_tool
def stream(a: int, b: int) -> Iterator[int]:
    yield a + b


@honeytrace.trace_tool
async def atool(a: int, b: int) -> int:
    return a + b


def profile(call: Callable[[], Any]) -> list[tuple[str, str]]:
    """Every Python ('call') and C ('c_call') function entered while ``call`` runs."""
    seen: list[tuple[str, str]] = []

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            seen.append(("call", f"{frame.f_code.co_filename}:{frame.f_code.co_name}"))
        elif event == "c_call":
            seen.append(("c_call", getattr(arg, "__qualname__", repr(arg))))

    sys.setprofile(hook)
    try:
        call()
    finally:
        sys.setprofile(None)
    return seen[:-1]  # the last entry is sys.setprofile itself


def python_calls(seen: list[tuple[str, str]], *exclude: str) -> list[str]:
    return [
        name
        for kind, name in seen
        if kind == "call" and not any(name.endswith(f":{ex}") for ex in exclude)
    ]


@pytest.fixture
def quiet_flusher() -> Iterator[None]:
    honeytrace.configure(exporter="none", flush_interval=3600, batch_size=100_000)
    yield
    _buffer.QUEUE.clear()


def test_a_traced_call_makes_three_python_calls_and_no_serialization(
    quiet_flusher: None,
) -> None:
    with honeytrace.session("guard"):
        tool(1, 2)  # warm
        seen = profile(lambda: tool(1, 2))
    calls = python_calls(seen, "tool", "<lambda>")
    # the wrapper and the buffer's append (the Event is built inline, without __init__)
    assert [name.rsplit(":", 1)[1] for name in calls] == ["traced"]
    assert len([kind for kind, _ in seen if kind == "c_call"]) <= 8
    assert not [name for _, name in seen if any(mod in name for mod in FORBIDDEN_MODULES)]


def test_a_traced_generator_stays_within_its_call_budget(quiet_flusher: None) -> None:
    def consume() -> None:
        for _ in stream(1, 2):
            pass

    with honeytrace.session("guard"):
        consume()
        seen = profile(consume)
    calls = [name.rsplit(":", 1)[1] for name in python_calls(seen, "consume", "<lambda>")]
    # two resumes of the wrapper and of the user's generator (the append is inline)
    assert sorted(calls) == sorted(["traced", "stream", "traced", "stream"])


def test_an_async_call_stays_within_its_call_budget(quiet_flusher: None) -> None:
    async def main() -> list[tuple[str, str]]:
        async with honeytrace.session("guard"):
            await atool(1, 2)
            seen: list[tuple[str, str]] = []

            def hook(frame: FrameType, event: str, arg: Any) -> None:
                if event == "call":
                    seen.append(("call", frame.f_code.co_name))

            sys.setprofile(hook)
            await atool(1, 2)
            sys.setprofile(None)
            return seen

    seen = asyncio.run(main())
    names = [name for _, name in seen if name not in ("main", "hook")]
    # reset_current guards a token reset against a coroutine driven from another context
    assert sorted(names) == ["atool", "reset_current", "traced"]


@pytest.mark.parametrize("wrapped", [tool, stream, atool])
def test_wrappers_take_the_functions_own_parameters(wrapped: Any) -> None:
    # No *args/**kwargs packing per call: the wrapper's code has the function's parameters.
    code = wrapped.__code__
    assert code.co_varnames[: code.co_argcount] == ("a", "b")
    assert not code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)


def test_retained_memory_per_pending_event_is_small(quiet_flusher: None) -> None:
    with honeytrace.session("guard"):
        tool(1, 2)
        assert honeytrace.flush(10)  # the flusher's lazy imports happen now, not while measured
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            for _ in range(2000):
                tool(1, 2)
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    blocks = sum(stat.count_diff for stat in after.compare_to(before, "filename"))
    assert grown / 2000 <= 512  # bytes kept per pending event (budget: 2 KiB)
    # the event, its args tuple and its two clock readings (ints), and the queue's own blocks
    assert blocks / 2000 <= 4.1


def test_ids_are_not_formatted_on_the_hot_path(quiet_flusher: None) -> None:
    with honeytrace.session("guard"):
        tool(1, 2)
        event = _buffer.QUEUE[-1]
        assert event._id is None  # made by the flusher (or when the app asks for it)


def test_encoding_a_plain_event_stays_within_its_call_budget(quiet_flusher: None) -> None:
    # The flusher's share of the end-to-end cost: a plain event (small flat arguments and
    # result) is encoded and validated with a handful of Python calls, no general walker.
    from honeytrace._deliver.encode import Encoder
    from honeytrace._runtime import get_config

    with honeytrace.session("guard"):
        tool(1, 2)
        event = _buffer.QUEUE[-1]
    encoder = Encoder(get_config())
    encoder.event(event, None)  # warm
    encoder.refresh_clock()  # a new cycle: the event's id is formatted again
    seen = profile(lambda: encoder.event(event, None))
    calls = [name.rsplit(":", 1)[1] for name in python_calls(seen, "<lambda>")]
    # event, the id (made, formatted), the parent's id, inputs (bind, one flat copy), outputs
    # (one flat copy), the validation: 15 (28 before the path was shortened)
    assert len(calls) <= 15, calls
    assert "walk" not in calls and "to_jsonable" not in calls


def test_disabled_by_the_environment_costs_one_lookup_not_an_environ_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Issue 16 goal 4: HONEYTRACE_ENABLED=false is honoured at call time, but reading it went
    # through os.environ.get (encode the key, decode the value: ~0.4 µs, more than the whole
    # disabled call). Now: one lookup in the mapping behind os.environ, no Python call.
    monkeypatch.setenv("HONEYTRACE_ENABLED", "false")
    tool(1, 2)  # the changed value is parsed once, here
    seen = profile(lambda: tool(1, 2))
    calls = [name.rsplit(":", 1)[1] for name in python_calls(seen, "tool", "<lambda>")]
    assert calls == ["traced", "enabled_at_root"]
    assert honeytrace.stats().recorded == 0
    monkeypatch.setenv("HONEYTRACE_ENABLED", "true")  # and a change is still seen at once
    tool(1, 2)
    assert honeytrace.stats().recorded == 2  # the implicit session and the call


@pytest.fixture
def stalled_flusher(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A backlog: the flusher sleeps (wake-ups go nowhere) while events pile up past
    ``batch_size``; everything is delivered at the end."""
    honeytrace.configure(exporter="none", flush_interval=3600, batch_size=100)
    with honeytrace.session("warm"):
        tool(1, 2)
    assert honeytrace.flush(10)  # the flusher runs, then sleeps for the interval
    wake = _buffer.wake
    monkeypatch.setattr(_buffer, "wake", lambda: None)
    yield
    _buffer.wake = wake
    wake()  # the wake-up the backlog asked for (it went nowhere)
    assert honeytrace.flush(10)


def test_a_backlog_costs_a_record_call_per_sampled_event_only(stalled_flusher: None) -> None:
    # Issue 16 goal 4: past batch_size every event went through record() and, past 2,000
    # pending, through a size estimate: the calling thread's cost per call rose by half while
    # the flusher caught up. Now the wrappers append inline between two sampled measures.
    def burst() -> None:
        with honeytrace.session("burst"):
            for _ in range(3000):
                tool(1, 2)

    seen = profile(burst)
    records = [name for name in python_calls(seen) if name.endswith(":record")]
    assert len(_buffer.QUEUE) > 3000  # nothing was taken: a real backlog
    assert 3000 // 30 < len(records) < 3000 // 4  # about one in 8 (random strides of 1-16)
    assert _buffer.pending_bytes > 0


@pytest.mark.parametrize("period", [2, 8, 16])
def test_the_byte_estimate_of_a_backlog_is_not_fooled_by_a_regular_pattern(
    stalled_flusher: None, period: int
) -> None:
    # Sampling at a fixed stride would see only one phase of an app that alternates small and
    # large calls; random strides see them all, in proportion.
    large = "y" * 20_000
    with honeytrace.session("pattern"):
        for i in range(8000):
            echo(large if i % period == 0 else "x")
    measured_region = list(_buffer.QUEUE)[_buffer.batch_size :]
    truth = sum(_buffer.estimate(event) for event in measured_region)
    assert 0.6 < _buffer.pending_bytes / truth < 1.6


def test_the_flusher_steps_aside_only_while_the_application_records() -> None:
    # Issue 16 goal 4: a flusher computing for milliseconds stalled a computing application
    # thread for the GIL's whole switch interval (5 ms) at a time. pace(), called between its
    # pieces of work, sleeps a moment (handing the GIL over) when events were recorded since
    # its last look, and does nothing when no one records.
    pace = _buffer._pace
    pace.busy, pace.seen, pace.next = False, len(_buffer.QUEUE), 0.0
    steps = pace.steps
    _buffer.pace()
    assert pace.steps == steps  # nothing recorded since: no sleep
    pace.next = 0.0
    with honeytrace.session("burst"):
        tool(1, 2)  # an application thread recorded meanwhile
    _buffer.pace()
    assert pace.steps == steps + 1
    _buffer.pace()  # within half a millisecond of the last look: not even a look
    assert pace.steps == steps + 1


def test_the_flusher_does_not_step_aside_once_half_the_room_is_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Giving way while the queue fills would let a computing application run it full and lose
    # events: past half of max_queue (or of max_queue_bytes) the flusher catches up first.
    pace = _buffer._pace
    monkeypatch.setattr(_buffer, "limit", 2 * len(_buffer.QUEUE) + 1)
    pace.busy, pace.seen, pace.next = True, 0, 0.0
    steps = pace.steps
    _buffer.pace()
    assert pace.steps == steps + 1  # below half the room: a computing app gets the GIL
    monkeypatch.setattr(_buffer, "limit", 1)
    monkeypatch.setattr(_buffer, "QUEUE", _buffer.QUEUE.__class__([object(), object()]))
    pace.busy, pace.next = True, 0.0
    _buffer.pace()
    assert pace.steps == steps + 1  # past half the room: no step aside
    monkeypatch.undo()
    monkeypatch.setattr(_buffer, "pending_bytes", _buffer.max_bytes)
    pace.busy, pace.next = True, 0.0
    _buffer.pace()
    assert pace.steps == steps + 1  # past half the bytes: no step aside either
