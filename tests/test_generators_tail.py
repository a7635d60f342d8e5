"""Generators whose every ``yield`` is followed by a bare ``return``: the wrapper finishes them
without switching the context in for the last step (_generators._tail_yields_only). Each
scenario is run twice, through that path and through the full step loop, and must record the
same events, values and exceptions."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sys
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from types import FrameType
from typing import Any

import pytest

import honeytrace
from honeytrace._record import generators as _generators
from honeytrace.testing import Capture


class Boom(Exception):
    pass


# -- which shapes qualify ---------------------------------------------------------------------


def one(a: int, b: int) -> Iterator[int]:
    yield a + b


def either(flag: bool) -> Iterator[int]:
    if flag:
        yield 1
    else:
        yield 2


def in_try(x: int) -> Iterator[int]:
    try:
        yield x
    except KeyError:
        pass


def in_finally(x: int) -> Iterator[int]:
    try:
        yield x
    finally:
        pass


def in_with(x: Any) -> Iterator[int]:
    with x:
        yield 1


def loop(xs: list[int]) -> Iterator[int]:
    for x in xs:  # noqa: UP028 -- the shape under test
        yield x


def delegates(xs: list[int]) -> Iterator[int]:
    yield from xs


def code_after(x: int) -> Iterator[int]:
    yield 1
    print(x)


def two() -> Iterator[int]:
    yield 1
    yield 2


def returns_value() -> Generator[int, None, int]:
    yield 1
    return 5


def no_yield() -> None:
    return None


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (one, True),
        (either, True),
        (in_try, False),
        (in_finally, False),
        (in_with, False),
        (loop, False),
        (delegates, False),
        (code_after, False),
        (two, False),
        (returns_value, False),
        (no_yield, False),
        (len, False),
    ],
)
def test_only_a_yield_followed_by_a_bare_return_qualifies(
    fn: Callable[..., Any], expected: bool
) -> None:
    assert _generators._tail_yields_only(fn) is expected


# -- the same events either way ---------------------------------------------------------------


@honeytrace.trace_tool
def child(x: int) -> int:
    return x * 2


def make_pair(monkeypatch: pytest.MonkeyPatch, body: Callable[..., Any]) -> tuple[Any, Any]:
    """The generator function traced twice: through the tail path and through the full loop."""
    fast = honeytrace.trace_chain(name="gen")(body)
    monkeypatch.setattr(_generators, "_tail_yields_only", lambda fn: False)
    full = honeytrace.trace_chain(name="gen")(body)
    monkeypatch.undo()
    return fast, full


def shape(capture: Capture) -> list[tuple[Any, ...]]:
    """The events without ids and times: name, parent's name, inputs, outputs, error."""
    events = capture.events
    names = {event["event_id"]: event["event_name"] for event in events}
    names.update({session["session_id"]: "session" for session in capture.sessions})
    capture.clear()
    return [
        (
            event["event_name"],
            names.get(event.get("parent_id"), event.get("parent_id")),
            event.get("inputs"),
            event.get("outputs"),
            event.get("error"),
            event.get("metadata", {}).get("yielded_items"),
        )
        for event in events
    ]


def run_both(
    capture: Capture,
    monkeypatch: pytest.MonkeyPatch,
    body: Callable[..., Any],
    scenario: Callable[[Any], Any],
) -> list[tuple[Any, ...]]:
    fast, full = make_pair(monkeypatch, body)
    capture.clear()
    outcomes: list[tuple[Any, ...]] = []
    recorded = []
    for traced in (fast, full):
        with honeytrace.session("s"):
            try:
                outcomes.append(("value", scenario(traced)))
            except Exception as exc:  # the same exception, through both paths
                outcomes.append(("raised", type(exc), str(exc)))
        recorded.append(shape(capture))
    assert outcomes[0] == outcomes[1]
    assert recorded[0] == recorded[1]
    return recorded[0]


def calls_a_child(x: int) -> Iterator[int]:
    yield child(x)


def fails_first(x: int) -> Iterator[int]:
    if x:
        raise Boom(f"bad {x}")
    yield x


def consume(traced: Any) -> Any:
    return list(traced(3))


def break_early(traced: Any) -> Any:
    for item in traced(3):
        return item
    return None


def close_unstarted(traced: Any) -> Any:
    gen = traced(3)
    gen.close()
    return "closed"


def close_suspended(traced: Any) -> Any:
    gen = traced(3)
    first = next(gen)
    gen.close()
    return first


def send_value(traced: Any) -> Any:
    gen = traced(3)
    first = next(gen)
    with pytest.raises(StopIteration) as stop:
        gen.send("in")
    return first, stop.value.value


def throw_in(traced: Any) -> Any:
    gen = traced(3)
    next(gen)
    return gen.throw(Boom("thrown"))


def caller_calls_between_steps(traced: Any) -> Any:
    gen = traced(3)
    first = next(gen)
    between = child(10)  # the caller's, not the generator's
    rest = list(gen)
    return first, between, rest


@pytest.mark.parametrize(
    "scenario",
    [
        consume,
        break_early,
        close_unstarted,
        close_suspended,
        send_value,
        throw_in,
        caller_calls_between_steps,
    ],
)
def test_a_tail_generator_records_what_the_full_loop_records(
    honeytrace_capture: Capture, monkeypatch: pytest.MonkeyPatch, scenario: Any
) -> None:
    recorded = run_both(honeytrace_capture, monkeypatch, calls_a_child, scenario)
    # the child made in the body nests under the generator, whichever way it ran
    assert ("child", "gen", {"x": 3}, {"result": 6}, None, None) in recorded or (
        scenario is close_unstarted
    )


def test_a_tail_generator_that_raises_records_the_same_error(
    honeytrace_capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = run_both(honeytrace_capture, monkeypatch, fails_first, consume)
    assert recorded == [("gen", "session", {"x": 3}, {"result": []}, "Boom: bad 3", None)]


def test_the_tail_path_is_the_one_taken(honeytrace_capture: Capture) -> None:
    # The step after the item runs with the caller's context: a finalizer of one of the body's
    # locals, released in that step, sees the session, as without tracing.
    seen: list[str | None] = []

    class Noted:
        def __del__(self) -> None:
            seen.append(honeytrace.current_event_id())

    @honeytrace.trace_chain
    def holds() -> Iterator[int]:
        noted = Noted()
        inside = honeytrace.current_event_id()
        yield 1 if noted and inside else 0

    assert _generators._tail_yields_only(getattr(holds, "__wrapped__"))
    with honeytrace.session("s") as session:
        assert list(holds()) == [1]
    assert seen == [session.session_id]
    assert honeytrace_capture.event("holds")["outputs"] == {"result": [1]}


# -- ContextVar changes made by the body reach the caller, as with a plain generator ----------

_var: contextvars.ContextVar[str] = contextvars.ContextVar("test_generators_tail", default="-")


@pytest.mark.parametrize("traced", [True, False])
def test_a_traced_contextmanager_sets_a_variable_the_caller_sees(
    honeytrace_capture: Capture, traced: bool
) -> None:
    def sets(value: str) -> Iterator[str]:  # a tail generator: the change stays
        _var.set(value)
        yield value

    def scoped(value: str) -> Iterator[str]:  # not a tail generator: it undoes the change
        token = _var.set(value)
        try:
            yield value
        finally:
            _var.reset(token)

    wrap = honeytrace.trace_chain if traced else (lambda fn: fn)
    set_for_good = contextlib.contextmanager(wrap(sets))
    set_for_a_while = contextlib.contextmanager(wrap(scoped))
    with honeytrace.session("s"):
        with set_for_a_while("a") as got:
            assert (got, _var.get()) == ("a", "a")
        assert _var.get() == "-"
        with set_for_good("b") as got:
            assert (got, _var.get()) == ("b", "b")
        assert _var.get() == "b"
    _var.set("-")
    if traced:
        assert [e["event_name"] for e in honeytrace_capture.events] == ["scoped", "sets"]


# -- what the tail path saves: one ContextVar set and reset -------------------------------------


def context_switches(call: Callable[[], Any]) -> int:
    """ContextVar.set calls made while ``call`` runs."""
    count = 0

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal count
        if event == "c_call" and getattr(arg, "__qualname__", "") == "ContextVar.set":
            count += 1

    sys.setprofile(hook)
    try:
        call()
    finally:
        sys.setprofile(None)
    return count


def test_a_tail_generator_switches_the_context_in_once() -> None:
    tail = honeytrace.trace_tool(one)
    looping = honeytrace.trace_tool(loop)
    with honeytrace.session("s"):
        assert context_switches(lambda: list(tail(1, 2))) == 1
        assert context_switches(lambda: list(looping([3]))) == 2


def test_a_generator_that_yields_past_its_tail_loses_nothing(
    honeytrace_capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Should the bytecode reading ever be wrong, the extra items still go through the full loop.
    monkeypatch.setattr(_generators, "_tail_yields_only", lambda fn: True)
    wrong = honeytrace.trace_chain(name="gen")(two)
    monkeypatch.undo()
    with honeytrace.session("s"):
        assert list(wrong()) == [1, 2]
        gen = wrong()
        assert next(gen) == 1
        assert next(gen) == 2
        gen.close()
        gen = wrong()
        next(gen)
        next(gen)
        with pytest.raises(Boom):
            gen.throw(Boom("in"))
    recorded = [(e["outputs"], e.get("error")) for e in honeytrace_capture.events]
    assert recorded == [
        ({"result": [1, 2]}, None),
        ({"result": [1, 2]}, None),
        ({"result": [1, 2]}, "Boom: in"),
    ]


def test_an_async_generator_counts_each_item_once(honeytrace_capture: Capture) -> None:
    @honeytrace.trace_chain
    async def many(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    async def main() -> list[int]:
        async with honeytrace.session("s"):
            return [i async for i in many(_generators.MAX_YIELDED + 5)]

    assert len(asyncio.run(main())) == _generators.MAX_YIELDED + 5
    event = honeytrace_capture.event("many")
    assert len(event["outputs"]["result"]) == _generators.MAX_YIELDED
    assert event["metadata"]["yielded_items"] == _generators.MAX_YIELDED + 5
