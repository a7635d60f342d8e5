"""Nesting, and the context crossing asyncio tasks and threads."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import honeytrace
from honeytrace.testing import Capture


@honeytrace.trace_tool
def leaf(x: int) -> int:
    return x


@honeytrace.trace_chain
def middle(x: int) -> int:
    return leaf(x) + leaf(x + 1)


def test_nested_calls_form_a_tree_with_children_ids(honeytrace_capture: Capture) -> None:
    with honeytrace.session("tree") as s:
        middle(1)
    events = {e["event_id"]: e for e in honeytrace_capture.events}
    (chain,) = [e for e in events.values() if e["event_name"] == "middle"]
    leaves = [e for e in events.values() if e["event_name"] == "leaf"]
    assert chain["parent_id"] == s.session_id
    assert [leaf_event["parent_id"] for leaf_event in leaves] == [chain["event_id"]] * 2
    assert chain["children_ids"] == [leaf_event["event_id"] for leaf_event in leaves]
    assert honeytrace_capture.session("tree")["children_ids"] == [chain["event_id"]]


def test_fifty_concurrent_sessions_under_gather_never_mix(honeytrace_capture: Capture) -> None:
    @honeytrace.trace_tool
    async def step(session_no: int, i: int) -> int:
        await asyncio.sleep(0)
        return session_no

    @honeytrace.trace_session
    async def conversation(session_no: int) -> str:
        for i in range(3):
            await step(session_no, i)
        return honeytrace.current_session_id() or ""

    async def main() -> list[str]:
        return await asyncio.gather(*(conversation(n) for n in range(50)))

    ids = asyncio.run(main())
    assert len(set(ids)) == 50
    sessions = {s["session_id"]: s["inputs"]["session_no"] for s in honeytrace_capture.sessions}
    assert set(sessions) == set(ids)
    for event in honeytrace_capture.events:
        assert event["inputs"]["session_no"] == sessions[event["parent_id"]]
    assert len(honeytrace_capture.events) == 150


def test_thread_pool_submit_carries_the_context(honeytrace_capture: Capture) -> None:
    with honeytrace.session("pool") as s, ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(leaf, i) for i in range(4)]
        assert [f.result() for f in futures] == [0, 1, 2, 3]
        assert list(pool.map(leaf, [5, 6])) == [5, 6]
    assert [e["parent_id"] for e in honeytrace_capture.events] == [s.session_id] * 6
    assert len(honeytrace_capture.sessions) == 1


def test_thread_propagation_can_be_turned_off(honeytrace_capture: Capture) -> None:
    honeytrace.configure(exporter="memory", propagate_threads=False)
    with honeytrace.session("pool") as s, ThreadPoolExecutor(1) as pool:
        pool.submit(leaf, 1).result()
    sessions = honeytrace_capture.sessions
    # Without propagation the worker's call is a session of its own.
    assert {x["session_name"] for x in sessions} == {"pool", "leaf"}
    (event,) = honeytrace_capture.events
    assert event["parent_id"] != s.session_id


def test_wrap_carries_the_context_into_a_plain_thread(honeytrace_capture: Capture) -> None:
    with honeytrace.session("threads") as s:
        thread = threading.Thread(target=honeytrace.wrap(leaf), args=(1,))
        thread.start()
        thread.join(10)
        unwrapped = threading.Thread(target=leaf, args=(2,))
        unwrapped.start()
        unwrapped.join(10)
    parents = {e["inputs"]["x"]: e["parent_id"] for e in honeytrace_capture.events}
    assert parents[1] == s.session_id
    assert parents[2] != s.session_id


def test_asyncio_tasks_inherit_the_current_event(honeytrace_capture: Capture) -> None:
    @honeytrace.trace_chain
    async def parent() -> None:
        await asyncio.gather(*(asyncio.create_task(child(i)) for i in range(3)))

    @honeytrace.trace_tool
    async def child(i: int) -> int:
        return i

    async def main() -> None:
        async with honeytrace.session("tasks"):
            await parent()

    asyncio.run(main())
    chain = honeytrace_capture.event("parent")
    children = [e for e in honeytrace_capture.events if e["event_name"] == "child"]
    assert len(children) == 3
    assert {c["parent_id"] for c in children} == {chain["event_id"]}
