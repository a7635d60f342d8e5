"""Issue 12, in one process: what an adversary tried against "never loses, never hurts".

Each test names its item. The server is the strict fake API on 127.0.0.1; the processes,
signals and forks are real ones (see also ``test_adversary_process.py``).
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import os
import sys
import threading
import time
from typing import Any

import pytest

import honeytrace
from honeytrace import _runtime
from honeytrace._lifecycle import close_open_events
from honeytrace._record import buffer as _buffer
from honeytrace._record.signature import Spec
from honeytrace._record.span import NO_RESULT, Event, Session
from tests.support.fake_api import FakeApi, fake_api_fixture

fake_api = fake_api_fixture


@honeytrace.trace_tool
def tool(value: Any) -> Any:
    return value


def point_at(api: FakeApi, **options: Any) -> None:
    options.setdefault("retry_deadline", 20.0)
    honeytrace.configure(api_key="test-key", server_url=api.url, **options)


# -- item 1: a half-built event at exit ------------------------------------------------------


def test_exit_closes_open_sessions_despite_a_half_built_event() -> None:
    """Item 1: the hot path fills an event's slots one by one; a SIGTERM landing half-way left
    one without ``end``, and the exit walk gave up on every open event."""
    half_built = Event.__new__(Event)  # what the wrapper has made when the signal lands
    half_built.spec = Spec("half", "tool")
    session = honeytrace.session("open at exit")
    session.__enter__()
    try:
        assert close_open_events() >= 1
        assert session.end, "the open session was not closed"
    finally:
        del half_built
        session.__exit__(None, None, None)  # the test's context no longer points at it
    assert honeytrace.flush(5)


# -- item 2: unhashable types ----------------------------------------------------------------


class _EqMeta(type):  # noqa: PLW1641 -- unhashable on purpose
    def __eq__(cls, other: object) -> bool:  # defining __eq__ makes the classes unhashable
        return cls is other


class Odd(metaclass=_EqMeta):
    def __repr__(self) -> str:
        return "Odd()"


def test_a_value_of_an_unhashable_type_is_recorded_not_raised(fake_api: FakeApi) -> None:
    """Item 2: ``type(result)`` whose metaclass defines ``__eq__`` cannot be a dict key."""
    point_at(fake_api)
    with pytest.raises(TypeError):
        hash(Odd)
    root = tool(Odd())  # a root-level call: raised TypeError into the caller
    assert isinstance(root, Odd)
    with honeytrace.session("odd") as session:
        assert isinstance(tool(Odd()), Odd)  # inside a session: the event was lost
        tool([Odd()])
    assert honeytrace.flush(10)
    events = fake_api.events_for(session.session_id)
    assert len(events) == 2
    assert all("Odd()" in str(event["outputs"]) for event in events)
    assert honeytrace.stats().internal_errors == 0


# -- item 3: fork while another thread is in shutdown() -------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_during_shutdown_traces(fake_api: FakeApi) -> None:
    """Item 3: the child inherited the runtime's lock held by the parent's shutdown() thread
    and hung on its first traced call."""
    point_at(fake_api, timeout=5.0)
    fake_api.blackhole()
    tool(1)  # a session the flusher now sends into the blackhole
    assert fake_api.wait_for_requests(1)
    stopper = threading.Thread(target=_runtime.shutdown, args=(3.0,))
    stopper.start()
    deadline = time.monotonic() + 10
    while _runtime._lock.acquire(blocking=False):  # until the shutdown thread holds it
        _runtime._lock.release()
        assert time.monotonic() < deadline
        time.sleep(0.001)
    pid = os.fork()
    if pid == 0:  # the child: one traced call, then report by exit status
        try:
            tool(2)
            os._exit(0)
        except BaseException:
            os._exit(3)
    try:
        status = _wait_child(pid, 20.0)
    finally:
        fake_api.release()
        stopper.join(10)
    assert status is not None, "the child hung on its first traced call"
    assert os.waitstatus_to_exitcode(status) == 0


def _wait_child(pid: int, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return None


# -- item 4: cancelling a flush=True handler ------------------------------------------------


def test_cancelling_a_flushing_async_handler_raises_at_once(fake_api: FakeApi) -> None:
    """Item 4: ``asyncio.wait_for(handler(), 0.5)`` took 5.5 s while the API hung: the flush
    ran in the loop's default executor, which ``asyncio.run`` waits for."""
    point_at(fake_api, exit_timeout=5.0, timeout=10.0)
    fake_api.blackhole()

    @honeytrace.trace_session(flush=True)
    async def handler() -> int:
        return 1

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(handler(), 0.5)

    before = {thread.ident for thread in threading.enumerate()}
    started = time.monotonic()
    try:
        asyncio.run(main())
        elapsed = time.monotonic() - started
        new = [t.name for t in threading.enumerate() if t.ident not in before]
    finally:
        fake_api.release()
    assert not [name for name in new if name.startswith("asyncio")], new
    assert elapsed < 0.5 + 1.5, f"asyncio.run took {elapsed:.2f} s (the flush is 5 s)"
    assert honeytrace.flush(10)  # the flush went on in the background: delivered now


# -- item 5: recursion and the exit walk ----------------------------------------------------


def _max_depth(fn: Any, offset: int = 0) -> int:
    """How deep ``fn`` recursed (through ``down``) before RecursionError, started ``offset``
    frames deeper (which frame meets the limit depends on where the recursion starts)."""
    if offset:
        return _max_depth(fn, offset - 1)
    reached = 0

    def down(depth: int) -> int:
        nonlocal reached
        reached = depth
        return fn(depth + 1)  # type: ignore[no-any-return]

    fn.down = down
    try:
        down(0)
    except RecursionError:
        pass
    return reached


def test_traced_recursion_reaches_half_the_untraced_depth_and_is_recorded(
    fake_api: FakeApi,
) -> None:
    """Item 5: a traced level is two Python frames (the wrapper and the function; a Python
    wrapper cannot be fewer), so a traced recursion reaches half the depth. What must hold: the
    ratio is no worse than that, the RecursionError reaches the caller as itself, and every
    traced call is delivered, the innermost one too (it has no room left to record itself the
    usual way: it was lost)."""
    point_at(fake_api)

    def plain(depth: int) -> int:
        return plain.down(depth)  # type: ignore[attr-defined, no-any-return]

    @honeytrace.trace_tool
    def traced(depth: int) -> int:
        return traced.down(depth)  # type: ignore[attr-defined, no-any-return]

    # A low limit keeps it quick: each level records its traceback, as deep as the stack.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + 240)
    try:
        _recurse(plain, traced, fake_api)
    finally:
        sys.setrecursionlimit(limit)
    assert honeytrace.stats().internal_errors == 0


def _recurse(plain: Any, traced: Any, fake_api: FakeApi) -> None:
    untraced_depth = _max_depth(plain)
    for offset in range(4):
        with honeytrace.session(f"deep {offset}") as session:
            traced_depth = _max_depth(traced, offset)
        if offset == 0:
            ratio = traced_depth / untraced_depth
            assert ratio >= 0.45, f"traced {traced_depth} vs plain {untraced_depth}: {ratio:.2f}"
        assert honeytrace.flush(30)
        events = fake_api.events_for(session.session_id)
        # Every call that reached ``down`` is there; the innermost wrapper too when it got
        # as far as starting its event before its function could not be entered.
        assert traced_depth <= len(events) <= traced_depth + 1, f"offset {offset}"
        assert all("RecursionError" in event["error"] for event in events)
        ids = {event["event_id"] for event in events} | {session.session_id}
        assert {event["parent_id"] for event in events} <= ids  # one unbroken chain


def test_the_exit_walk_stops_at_its_deadline(caplog: pytest.LogCaptureFixture) -> None:
    """Item 5: the walk over gc.get_objects() at exit ignored exit_timeout (20M objects: 9.8 s
    with exit_timeout=1). It stops at its deadline, youngest objects first, so an event opened
    lately is still closed."""
    ballast = [[] for _ in range(1_500_000)]  # old objects, in the oldest generation
    gc.collect()
    session = honeytrace.session("young")
    session.__enter__()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="honeytrace"):
        closed = close_open_events(time.monotonic() + 0.005)
    elapsed = time.monotonic() - started
    session.__exit__(None, None, None)
    del ballast
    assert closed == 1 and session.end
    assert "too many objects" in caplog.text
    assert elapsed < 1.0, f"the walk took {elapsed:.2f} s for a 5 ms budget"


# -- item 15: a flood never drops its session's record --------------------------------------


def test_a_flood_keeps_its_session_and_the_session_says_what_it_lost(fake_api: FakeApi) -> None:
    """Item 15: with max_queue=1000 and 20k events while the API hung, the session's own
    record was dropped with them: the server never heard of the session or of the loss."""
    point_at(fake_api, max_queue=1_000, batch_size=100)
    fake_api.blackhole()
    with honeytrace.session("flood") as session:
        for i in range(20_000):
            tool(i)
    stats = honeytrace.stats()
    lost = stats.dropped["queue_full"]
    assert lost > 10_000
    fake_api.release()
    assert honeytrace.flush(30)
    stored = fake_api.sessions[session.session_id]
    assert stored["metadata"]["honeytrace"]["dropped_events"] == {"queue_full": lost}
    assert len(fake_api.events_for(session.session_id)) == 20_000 - lost
    assert fake_api.violations == []


def test_after_many_overflowing_bursts_the_flusher_remembers_no_session(
    fake_api: FakeApi,
) -> None:
    """Item 15: each overflowing session left its flusher state behind forever."""
    point_at(fake_api, max_queue=200, batch_size=50)
    for burst in range(30):
        fake_api.blackhole()
        with honeytrace.session(f"burst {burst}"):
            for i in range(600):
                tool(i)
        fake_api.release()
    assert honeytrace.flush(60)
    flusher = _runtime._flusher
    assert flusher is not None
    assert flusher.session_count == 0
    assert len(fake_api.sessions) == 30


# -- item 16: a bound in bytes --------------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_pending_memory_is_bounded_in_bytes_while_the_server_is_down(fake_api: FakeApi) -> None:
    """Item 16: 50 KB arguments with the server down took RSS to 4.8 GB: max_queue bounds a
    count only. ``max_queue_bytes`` (an estimate) bounds the bytes; the rest is counted."""
    point_at(fake_api, max_queue_bytes=8 * 1024 * 1024, retry_deadline=2.0, batch_size=100)
    fake_api.stop()
    try:
        before = _rss()
        with honeytrace.session("big args"):
            for i in range(10_000):  # 500 MB if all were kept
                tool("x" * 50_000 + str(i))
        grown = _rss() - before
        stats = honeytrace.stats()
    finally:
        fake_api.start()
    assert stats.dropped.get("queue_bytes", 0) > 8_000
    assert grown < 150 * 1024 * 1024, f"RSS grew by {grown / 1e6:.0f} MB"


def test_max_queue_bytes_is_an_option() -> None:
    honeytrace.configure(max_queue_bytes=1 << 20)
    assert _runtime.get_config().max_queue_bytes == 1 << 20
    with pytest.raises(honeytrace.ConfigError, match="max_queue_bytes"):
        honeytrace.configure(max_queue_bytes=-1)


# -- item 17: accounting stays exact --------------------------------------------------------


def test_a_redact_hook_failing_on_a_follow_up_recounts_nothing(fake_api: FakeApi) -> None:
    """Item 17: a redact hook raising on a session's follow-up (its metrics) counted the
    session's already sent events as dropped (pending=-2), and the queue's room grew."""

    def redact(body: dict[str, Any]) -> dict[str, Any]:
        if "metrics" in body and "session_id" not in body:  # the follow-up only
            raise ValueError("no metrics leave")
        return body

    point_at(fake_api, redact=redact, max_queue=1_000)
    for n in range(50):
        with honeytrace.session(f"s{n}") as session:
            tool(n)
            session.enrich(metrics={"score": n})
    assert honeytrace.flush(10)
    stats = honeytrace.stats()
    assert stats.pending == 0, stats
    assert stats.dropped == {}, stats
    assert stats.sent == stats.recorded == 100
    assert _buffer.limit <= 1_000


# -- item 18: late enrichments --------------------------------------------------------------


def test_late_enrichments_are_coalesced_per_event(fake_api: FakeApi) -> None:
    """Item 18: each late enrichment was its own request, with the whole retry deadline."""
    point_at(fake_api, flush_interval=3600)
    with honeytrace.session("late") as session:
        span = honeytrace.span("work")
        with span:
            pass
        for i in range(100):
            span.enrich(metadata={f"k{i}": i})
    assert honeytrace.flush(10)
    updates = [r for r in fake_api.requests_for("update") if span.event_id in r.path]
    assert len(updates) == 1
    stored = fake_api.events_for(session.session_id)[0]
    assert stored["metadata"] == {f"k{i}": i for i in range(100)}


def test_late_enrichments_are_bounded_and_counted(fake_api: FakeApi) -> None:
    """Item 18: 200k late enrichments sat in an unbounded, uncounted queue."""
    point_at(fake_api, max_queue=1_000)
    fake_api.blackhole()
    with honeytrace.session("late") as session:
        span = honeytrace.span("work")
        with span:
            pass
    for i in range(5_000):
        span.enrich(metadata={"i": i})
    assert len(_buffer.UPDATES) <= 1_000
    assert honeytrace.stats().updates_dropped >= 3_000
    fake_api.release()
    assert honeytrace.flush(30)
    assert session.session_id in fake_api.sessions


# -- item 21: deadlines ---------------------------------------------------------------------


def test_shutdown_returns_by_its_timeout_with_a_request_in_flight(fake_api: FakeApi) -> None:
    """Item 21: shutdown(0.2) took 0.70 s with a request in flight (it waited 0.5 s more for
    the flusher). The promise is timeout + 100 ms; the test allows 400 ms for a busy machine."""
    point_at(fake_api, timeout=10.0)
    fake_api.blackhole()
    tool(1)
    assert fake_api.wait_for_requests(1)
    started = time.monotonic()
    try:
        assert not honeytrace.shutdown(0.2)
        elapsed = time.monotonic() - started
    finally:
        fake_api.release()
    assert elapsed < 0.2 + 0.4, f"shutdown(0.2) took {elapsed:.3f} s"


def test_pending_bytes_return_to_zero_once_delivered(fake_api: FakeApi) -> None:
    """Item 16: the byte estimate of what waits is released as it is delivered (no drift)."""
    point_at(fake_api, batch_size=50)
    fake_api.blackhole()
    with honeytrace.session("bytes"):
        for i in range(2_000):
            tool("y" * 1_000 + str(i))
    assert _buffer.pending_bytes > 0
    fake_api.release()
    assert honeytrace.flush(30)
    assert _buffer.pending_bytes == 0


def test_a_session_record_has_room_beyond_a_full_queue() -> None:
    """Item 15: the session's end goes in even when its events overflow the queue."""
    honeytrace.configure(max_queue=10, flush_interval=3600)
    _runtime.shutdown(1)  # no flusher: nothing takes from the queue
    session = Session(Spec("s", "session"))
    session.begun = True
    for _ in range(20):
        event = Event(Spec("e", "tool"), session)
        event.result = NO_RESULT
        event.end = 1
        _buffer.record(event)
    assert len(_buffer.QUEUE) == 10
    _buffer.record_session(session)
    assert _buffer.QUEUE[-1] is session
    assert _buffer.counters.entry_drops() == {"queue_full": 10}
    _buffer.QUEUE.clear()
