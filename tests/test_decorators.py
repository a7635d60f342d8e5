"""The decorators on every kind of callable: what they record and what they leave unchanged."""

from __future__ import annotations

import asyncio
import gc
import inspect

import pytest

import honeytrace
from honeytrace.testing import Capture


@honeytrace.trace_tool
def search(query: str, k: int = 3, *extra: str, **options: object) -> list[str]:
    """Search the index."""
    return [query] * k


@honeytrace.trace_model(model="gpt-4o", provider="openai")
async def complete(prompt: str) -> str:
    """Ask the model."""
    await asyncio.sleep(0)
    return prompt.upper()


@honeytrace.trace_chain(name="numbers")
def count(n: int):  # type: ignore[no-untyped-def]
    """Yield numbers."""
    yield from range(n)


@honeytrace.trace_chain
async def acount(n: int):  # type: ignore[no-untyped-def]
    """Yield numbers, asynchronously."""
    for i in range(n):
        await asyncio.sleep(0)
        yield i


class Agent:
    def __init__(self, name: str) -> None:
        self.name = name

    @honeytrace.trace_chain
    def run(self, task: str) -> str:
        return f"{self.name}:{task}"

    @honeytrace.trace_tool
    @classmethod
    def build(cls, name: str) -> Agent:
        return cls(name)

    @classmethod
    @honeytrace.trace_tool
    def build_outer(cls, name: str) -> Agent:
        return cls(name)

    @honeytrace.trace_tool
    @staticmethod
    def helper(x: int) -> int:
        return x + 1


def test_metadata_of_the_function_is_kept() -> None:
    assert search.__name__ == "search"
    assert search.__doc__ == "Search the index."
    assert str(inspect.signature(search)) == str(
        inspect.signature(search.__wrapped__)  # type: ignore[attr-defined]
    )
    assert inspect.iscoroutinefunction(complete)
    assert inspect.isgeneratorfunction(count)
    assert inspect.isasyncgenfunction(acount)
    assert not inspect.iscoroutinefunction(search)
    assert complete.__doc__ == "Ask the model."


def test_inputs_are_bound_by_name_with_defaults_varargs_and_kwargs(
    honeytrace_capture: Capture,
) -> None:
    with honeytrace.session("s"):
        search("q")
        search("q", 2, "a", "b", flag=True)
    first, second = honeytrace_capture.events
    assert first["inputs"] == {"query": "q", "k": 3}
    assert second["inputs"] == {"query": "q", "k": 2, "extra": ["a", "b"], "flag": True}
    assert first["outputs"] == {"result": ["q", "q", "q"]}
    assert first["event_type"] == "tool"


def test_model_decorator_puts_model_and_provider_in_config(honeytrace_capture: Capture) -> None:
    with honeytrace.session("s"):
        assert asyncio.run(complete("hi")) == "HI"
    event = honeytrace_capture.event("complete")
    assert event["event_type"] == "model"
    assert event["config"] == {"model": "gpt-4o", "provider": "openai"}
    assert event["inputs"] == {"prompt": "hi"}
    assert event["outputs"] == {"result": "HI"}


def test_methods_classmethods_staticmethods(honeytrace_capture: Capture) -> None:
    with honeytrace.session("s"):
        agent = Agent.build("a")
        Agent.build_outer("b")
        assert agent.run("t") == "a:t"
        assert Agent.helper(1) == 2
        assert agent.helper(2) == 3
    events = {e["event_name"]: e for e in honeytrace_capture.events}
    assert events["run"]["inputs"] == {"task": "t"}
    assert events["build"]["inputs"] == {"name": "a"}
    assert events["build_outer"]["inputs"] == {"name": "b"}
    assert events["helper"]["inputs"] == {"x": 2}


def test_bare_and_called_forms_and_generic_trace(honeytrace_capture: Capture) -> None:
    @honeytrace.trace
    def plain() -> int:
        return 1

    @honeytrace.trace(event_type="tool", name="renamed", metadata={"team": "x"})
    def named() -> int:
        return 2

    @honeytrace.trace_tool("positional-name")
    def positional() -> int:
        return 3

    with honeytrace.session("s"):
        plain()
        named()
        positional()
    names = [(e["event_name"], e["event_type"]) for e in honeytrace_capture.events]
    assert names == [("plain", "chain"), ("renamed", "tool"), ("positional-name", "tool")]
    assert honeytrace_capture.event("renamed")["metadata"] == {"team": "x"}


def test_bad_event_type_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="event_type"):
        honeytrace.trace(event_type="llm")  # type: ignore[arg-type]


class Boom(Exception):
    pass


def test_exception_is_recorded_and_reraised_unchanged(honeytrace_capture: Capture) -> None:
    error = Boom("bad input")

    @honeytrace.trace_tool
    def fails() -> None:
        raise error

    with honeytrace.session("s"), pytest.raises(Boom) as caught:
        fails()
    assert caught.value is error
    event = honeytrace_capture.event("fails")
    assert event["error"] == "Boom: bad input"
    assert "raise error" in event["metadata"]["traceback"]
    assert "outputs" not in event


def test_generator_event_lasts_until_exhausted_and_keeps_items(
    honeytrace_capture: Capture,
) -> None:
    with honeytrace.session("s"):
        assert list(count(3)) == [0, 1, 2]
    event = honeytrace_capture.event("numbers")
    assert event["outputs"] == {"result": [0, 1, 2]}
    assert "error" not in event


def test_generator_early_break_is_not_an_error(honeytrace_capture: Capture) -> None:
    with honeytrace.session("s"):
        for item in count(10):
            if item == 1:
                break
        gen = count(5)
        next(gen)
        gen.close()
        dropped = count(5)
        next(dropped)
        del dropped
        gc.collect()
    events = honeytrace_capture.events
    assert [e["outputs"]["result"] for e in events] == [[0, 1], [0], [0]]
    assert all("error" not in e for e in events)


def test_generator_error_and_send_and_throw_pass_through(honeytrace_capture: Capture) -> None:
    @honeytrace.trace_chain
    def echo():  # type: ignore[no-untyped-def]
        received = yield "ready"
        try:
            yield f"got {received}"
        except KeyError:
            yield "caught"
        raise Boom("done")

    with honeytrace.session("s"):
        gen = echo()
        assert next(gen) == "ready"
        assert gen.send("x") == "got x"
        assert gen.throw(KeyError("k")) == "caught"
        with pytest.raises(Boom):
            next(gen)
    event = honeytrace_capture.event("echo")
    assert event["error"] == "Boom: done"
    assert event["outputs"] == {"result": ["ready", "got x", "caught"]}


def test_no_context_token_is_held_across_a_yield(honeytrace_capture: Capture) -> None:
    with honeytrace.session("s") as s:
        gen = count(2)
        next(gen)
        # Between steps the caller's context is the session again, not the generator's event.
        assert honeytrace.current_event_id() == s.session_id
        list(gen)


def test_async_generator(honeytrace_capture: Capture) -> None:
    async def main() -> list[int]:
        async with honeytrace.session("s"):
            got = [i async for i in acount(3)]
            agen = acount(5)
            await agen.__anext__()
            await agen.aclose()
            return got

    assert asyncio.run(main()) == [0, 1, 2]
    results = [e["outputs"]["result"] for e in honeytrace_capture.events]
    assert results == [[0, 1, 2], [0]]


def test_call_outside_a_session_opens_an_implicit_one(honeytrace_capture: Capture) -> None:
    search("alone", 1)
    session = honeytrace_capture.session()
    assert session["session_name"] == "search"
    assert session["inputs"] == {"query": "alone", "k": 1}
    assert session["outputs"] == {"result": ["alone"]}
    (event,) = honeytrace_capture.events
    assert event["parent_id"] == session["session_id"]
    assert event["event_name"] == "search"


def test_trace_session_inside_a_session_is_a_chain(honeytrace_capture: Capture) -> None:
    @honeytrace.trace_session
    def handle(message: str) -> str:
        return search(message, 1)[0]

    handle("outer")
    with honeytrace.session("outer-session"):
        handle("inner")
    sessions = {s["session_name"]: s for s in honeytrace_capture.sessions}
    assert set(sessions) == {"handle", "outer-session"}
    assert sessions["handle"]["inputs"] == {"message": "outer"}
    chain = honeytrace_capture.event("handle")
    assert chain["event_type"] == "chain"
    assert chain["parent_id"] == sessions["outer-session"]["session_id"]


def test_session_id_key_maps_to_stable_uuid(honeytrace_capture: Capture) -> None:
    @honeytrace.trace_session(session_id=lambda chat, text: f"chat-{chat}")
    def reply(chat: int, text: str) -> str:
        return text

    reply(7, "a")
    reply(7, "b")
    with honeytrace.session("x", session_id="chat-7") as s:
        pass
    ids = {body["session_id"] for body in honeytrace_capture.sessions}
    assert ids == {s.session_id}
    assert honeytrace_capture.sessions[0]["metadata"]["session_key"] == "chat-7"


def test_session_and_span_blocks_sync_and_async(honeytrace_capture: Capture) -> None:
    with honeytrace.session("chat", inputs={"q": 1}, metadata={"m": 1}) as s:
        assert honeytrace.current_session_id() == s.session_id
        with honeytrace.span("step", inputs={"a": 1}) as sp:
            assert honeytrace.current_event_id() == sp.event_id
            sp.set_outputs({"answer": 42})
            sp.enrich(metrics={"score": 0.5}, metadata={"k": "v"})
        with pytest.raises(ValueError), honeytrace.span("broken", "tool"):
            raise ValueError("nope")

    async def main() -> str:
        async with honeytrace.session("async-chat") as a:
            async with honeytrace.span("astep", "model") as sp:
                sp.set_error("refused")
            return a.session_id

    async_id = asyncio.run(main())
    step = honeytrace_capture.event("step")
    assert step["inputs"] == {"a": 1}
    assert step["outputs"] == {"answer": 42}
    assert step["metrics"] == {"score": 0.5}
    assert step["metadata"] == {"k": "v"}
    assert step["parent_id"] == s.session_id
    assert honeytrace_capture.event("broken")["error"] == "ValueError: nope"
    astep = honeytrace_capture.event("astep")
    assert astep["error"] == "refused"
    assert astep["parent_id"] == async_id
    chat = honeytrace_capture.session("chat")
    assert chat["inputs"] == {"q": 1}
    assert chat["metadata"] == {"m": 1}
    assert honeytrace.current_session_id() is None


def test_enrich_span_and_session(honeytrace_capture: Capture) -> None:
    @honeytrace.trace_tool
    def lookup() -> str:
        honeytrace.enrich_span(metadata={"hits": 3}, feedback={"ok": True})
        honeytrace.enrich_session(user_properties={"user": "u1"}, metrics={"turns": 1})
        return "x"

    with honeytrace.session("s"):
        lookup()
    event = honeytrace_capture.event("lookup")
    assert event["metadata"] == {"hits": 3}
    assert event["feedback"] == {"ok": True}
    session = honeytrace_capture.session("s")
    assert session["user_properties"] == {"user": "u1"}
    assert session["metrics"] == {"turns": 1}


def test_enrich_after_the_event_ended_is_sent_as_an_update(honeytrace_capture: Capture) -> None:
    with honeytrace.session("s"):
        with honeytrace.span("late") as sp:
            pass
        sp.enrich(feedback={"rating": 5})
    (update_id, body) = next(u for u in honeytrace_capture.updates if u[0] == sp.event_id)
    assert update_id == sp.event_id
    assert body == {"feedback": {"rating": 5}}


def test_enrich_outside_any_session_is_a_no_op(honeytrace_capture: Capture) -> None:
    honeytrace.enrich_span(metadata={"a": 1})
    honeytrace.enrich_session(metadata={"a": 1})
    assert honeytrace.current_event_id() is None
    assert honeytrace_capture.events == []


def test_capture_flags_per_decorator_and_global(honeytrace_capture: Capture) -> None:
    @honeytrace.trace_tool(capture_inputs=False, capture_outputs=False)
    def private(secret_doc: str) -> str:
        return secret_doc

    with honeytrace.session("s"):
        private("x")
    event = honeytrace_capture.event("private")
    assert event["inputs"] == {}
    assert "outputs" not in event


def test_decorating_a_class_is_refused() -> None:
    with pytest.raises(TypeError, match="functions and methods"):
        honeytrace.trace_tool(Agent)
