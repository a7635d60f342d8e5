"""Blank events reused by the wrappers (``span.SPARE``): the flusher puts back the delivered
events that nothing else holds, the next traced calls take them instead of allocating, and a
reused event is indistinguishable from a new one (issue 16 goal 4: a fresh event per call, and
the collections its allocation triggered, were a tenth of a traced call)."""

from __future__ import annotations

import gc
import os
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

import honeytrace
from honeytrace import _runtime
from honeytrace._lifecycle import close_open_events
from honeytrace._record import buffer as _buffer
from honeytrace._record import span as _span
from honeytrace._record.context import current
from honeytrace._record.span import NO_RESULT, SPARE, SPARE_LISTS, Event


@honeytrace.trace_tool
def tool(a: int, b: int) -> int:
    return a + b


@honeytrace.trace_tool
def stream(n: int) -> Iterator[int]:
    yield from range(n)


kept: list[Any] = []


@honeytrace.trace_tool
def keeps_its_event(a: int) -> int:
    kept.append(current())  # the application holds the event past the call
    return a


@pytest.fixture(autouse=True)
def no_spares() -> Iterator[None]:
    SPARE.clear()
    SPARE_LISTS.clear()
    kept.clear()
    yield
    SPARE.clear()
    SPARE_LISTS.clear()
    kept.clear()


def _is_blank(event: Event) -> bool:
    return (
        type(event) is Event
        and event.spec is None
        and event.parent is None
        and event.session is None
        and event.args is None
        and event.kwargs is None
        and event._id is None
        and event.extra is None
        and event.error is None
        and event.result is NO_RESULT
        and event.end == 0
        and event.start == 0
    )


def test_delivered_events_become_blanks_and_the_next_calls_take_them() -> None:
    with honeytrace.session("first"):
        for i in range(5):
            tool(i, 1)
    assert honeytrace.flush(10)
    blanks = list(SPARE)
    assert len(blanks) == 5 and all(_is_blank(event) for event in blanks)
    with honeytrace.session("second") as second:
        tool(7, 8)
        reused = _buffer.QUEUE[-1]
    assert any(reused is blank for blank in blanks)
    assert len(SPARE) == 4
    assert honeytrace.flush(10)
    events = _runtime.memory_exporter().events
    ids = [event["event_id"] for event in events]
    assert len(set(ids)) == len(ids) == 6  # a reused event draws a new id
    last = events[-1]
    assert last["inputs"] == {"a": 7, "b": 8} and last["outputs"] == {"result": 15}
    assert last["parent_id"] == second.session_id and last["session_id"] == second.session_id


def test_a_traced_call_with_a_blank_at_hand_allocates_no_event() -> None:
    honeytrace.configure(exporter="none", flush_interval=3600, batch_size=100_000)
    with honeytrace.session("fill"):
        for _ in range(2000):
            tool(1, 2)
    assert honeytrace.flush(10)
    assert len(SPARE) == 2000
    with honeytrace.session("guard"):
        tool(1, 2)
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            for _ in range(1000):
                tool(1, 2)
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
    blocks = sum(stat.count_diff for stat in after.compare_to(before, "filename"))
    # the args tuple and two clock readings per call, and the queue's blocks: no event object
    # (4.1 with a new event per call: see test_hot_path_guard)
    assert blocks / 1000 <= 3.1
    assert len(SPARE) == 2000 - 1001
    _buffer.QUEUE.clear()


def test_a_generator_reuses_a_blank_and_a_delivered_list_of_items() -> None:
    with honeytrace.session("first"):
        assert list(stream(3)) == [0, 1, 2]
    assert honeytrace.flush(10)
    assert len(SPARE_LISTS) == 1 and SPARE_LISTS[0] == []
    items = SPARE_LISTS[0]
    with honeytrace.session("second"):
        assert list(stream(2)) == [0, 1]
        reused = _buffer.QUEUE[-1]
    assert reused.result is items and items == [0, 1]
    assert honeytrace.flush(10)
    outputs = [event["outputs"] for event in _runtime.memory_exporter().events]
    assert outputs == [{"result": [0, 1, 2]}, {"result": [0, 1]}]


def test_an_event_someone_still_holds_is_never_reused() -> None:
    with honeytrace.session("held"):
        keeps_its_event(5)
        with honeytrace.span("outer"):
            tool(1, 1)  # its parent is a Span: spans and sessions are never reused
    assert honeytrace.flush(10)
    event = kept[0]
    assert all(blank is not event for blank in SPARE)
    assert event.args == (5,) and event.result == 5 and event.end > event.start > 0
    assert len(SPARE) == 1  # only tool's event: nothing else held it


def test_a_late_update_keeps_its_event_until_it_is_sent() -> None:
    with honeytrace.session("late"):
        keeps_its_event(1)
    kept[0].enrich(metadata={"late": True})  # ended: queued as an update holding the event
    assert honeytrace.flush(10)
    assert _runtime.memory_exporter().updates
    assert all(blank is not kept[0] for blank in SPARE)


def test_blanks_are_not_open_events_at_exit() -> None:
    with honeytrace.session("done"):
        tool(1, 2)
    assert honeytrace.flush(10)
    assert SPARE
    assert close_open_events() == 0  # the walk over gc objects sees them and passes by
    assert all(_is_blank(event) for event in SPARE)


def test_the_spares_stay_bounded() -> None:
    _span.recycle([_span.blank() for _ in range(_span.spare_limit + 50)])
    assert len(SPARE) == _span.spare_limit
    gc.collect()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_without_the_parents_blanks() -> None:
    with honeytrace.session("parent"):
        tool(1, 2)
    assert honeytrace.flush(10)
    assert SPARE
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running anything else
        os.write(write, str(len(SPARE) + len(SPARE_LISTS)).encode())
        os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 16) == b"0"
    finally:
        os.close(read)
        os.waitpid(pid, 0)
