"""The observer hook (used by the OpenTelemetry bridge) and spans begun without the context."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import honeytrace
from honeytrace._record import hooks as _hooks
from honeytrace._record.span import Event
from honeytrace.testing import Capture


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bool]] = []

    def enter(self, event: Event) -> Any:
        self.calls.append(("enter", event.name, False))
        assert honeytrace.current_event_id() == event.event_id  # runs inside the event
        return event.name

    def leave(self, event: Event, token: Any, done: bool) -> None:
        assert token in (event.name, None)
        if done:
            assert event.end
        self.calls.append(("leave", event.name, done))


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    observer = Recorder()
    previous = _hooks.install(observer)
    yield observer
    _hooks.install(previous)


def test_every_kind_of_event_is_entered_and_left(
    recorder: Recorder, honeytrace_capture: Capture
) -> None:
    @honeytrace.trace_tool
    def tool() -> int:
        return 1

    @honeytrace.trace_tool
    def failing() -> None:
        raise ValueError

    @honeytrace.trace_chain
    def gen() -> Iterator[int]:
        yield 1
        yield 2

    @honeytrace.trace_model
    async def model() -> int:
        return 2

    with honeytrace.session("s"):
        tool()
        with pytest.raises(ValueError):
            failing()
        assert list(gen()) == [1, 2]
        asyncio.run(model())
        with honeytrace.span("block"):
            pass
    names = [(kind, name, done) for kind, name, done in recorder.calls]
    assert names[:2] == [("enter", "s", False), ("enter", "tool", False)]
    assert ("leave", "failing", True) in names
    # a generator is entered and left around each step, and done only at the end
    gen_calls = [c for c in names if c[1] == "gen"]
    assert gen_calls == [
        ("enter", "gen", False),
        ("leave", "gen", False),
        ("enter", "gen", False),
        ("leave", "gen", False),
        ("enter", "gen", False),
        ("leave", "gen", True),
    ]
    assert names[-1] == ("leave", "s", True)
    assert names.count(("leave", "model", True)) == 1
    assert len(honeytrace_capture.events) == 5


def test_a_broken_observer_never_reaches_the_app(honeytrace_capture: Capture) -> None:
    class Broken:
        def enter(self, event: Event) -> Any:
            raise RuntimeError("observer bug")

        def leave(self, event: Event, token: Any, done: bool) -> None:
            raise RuntimeError("observer bug")

    honeytrace._errors.set_raise_internal_errors(False)
    previous = _hooks.install(Broken())
    try:
        with honeytrace.session("s"):
            assert honeytrace.trace_tool(lambda: 3, name="t")() == 3
    finally:
        _hooks.install(previous)
    assert len(honeytrace_capture.events) == 1


def test_begin_and_finish_without_the_context(honeytrace_capture: Capture) -> None:
    with honeytrace.session("s") as s:
        stream = honeytrace.span("stream", "model")
        stream.begin()
        assert honeytrace.current_event_id() == s.session_id  # not current
    stream.set_outputs({"text": "hello"})
    stream.finish()
    stream.finish()  # once only
    (event,) = honeytrace_capture.events
    assert event["parent_id"] == s.session_id
    assert event["outputs"] == {"text": "hello"}
    lone = honeytrace.span("lone", "tool")
    lone.begin()
    lone.finish(RuntimeError("gave up"))
    assert honeytrace_capture.event("lone")["error"] == "RuntimeError: gave up"
    assert honeytrace_capture.session("lone")["session_name"] == "lone"
