"""The real Agents SDK against a fake Responses API: what a run records, where it nests, its
usage and its errors, and the processor's registration."""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import threading
from typing import Any

import agents
import honeytrace_openai_agents
import honeytrace_openai_agents._processor as processor_module
import openai
import pytest
from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrailTripwireTriggered,
    ModelSettings,
    OpenAIChatCompletionsModel,
    RunConfig,
    Runner,
    function_tool,
    input_guardrail,
)
from agents.tracing import custom_span, get_trace_provider
from agents_fake_server import FakeResponses, call, text
from openai import AsyncOpenAI

import honeytrace
from honeytrace.testing import Capture

USAGE = {
    "prompt_tokens": 50,
    "completion_tokens": 12,
    "total_tokens": 62,
    "cache_read_tokens": 20,
    "reasoning_tokens": 4,
}


def priced_usage(event: dict[str, Any]) -> dict[str, Any]:
    """The event's usage metrics, once its cost was checked: a known model is priced by the
    flusher (``metrics.cost_usd`` with its provenance in ``metadata.cost``)."""
    metrics = dict(event["metrics"])
    cost = metrics.pop("cost_usd")
    assert cost > 0
    assert event["metadata"]["cost"]["source"] == "genai-prices"
    assert event["metadata"]["cost"]["model_ref"]
    return metrics


@honeytrace.trace_tool
def warehouse_lookup(order_id: str) -> str:
    return f"{order_id}: shipped"


@function_tool
def order_status(order_id: str) -> str:
    """Look up where an order is."""
    return warehouse_lookup(order_id)


@input_guardrail
def polite(ctx: Any, agent: Any, message: Any) -> GuardrailFunctionOutput:
    rude = "stupid" in str(message)
    return GuardrailFunctionOutput(output_info={"rude": rude}, tripwire_triggered=rude)


def make_agents() -> Agent[Any]:
    refunds = Agent(name="Refunds", instructions="Handle refunds.", model="gpt-4.1")
    return Agent(
        name="Triage",
        instructions="Route the customer.",
        model="gpt-4.1",
        tools=[order_status],
        handoffs=[refunds],
        input_guardrails=[polite],
    )


def script_tool_then_handoff(fake: FakeResponses) -> None:
    fake.script.extend(
        [
            [call("order_status", {"order_id": "A-1"}, "call_1")],
            [call("transfer_to_refunds", {}, "call_2")],
            [text("Refund issued.")],
        ]
    )


def tree(capture: Capture) -> list[tuple[str, str, str]]:
    """``(event_type, name, parent's name)`` of every event, in the order they ended."""
    names = {event["event_id"]: event["event_name"] for event in capture.events}
    names.update({item["session_id"]: item["session_name"] for item in capture.sessions})
    return [
        (event["event_type"], event["event_name"], names.get(event["parent_id"], "?"))
        for event in capture.events
    ]


def named(capture: Capture, event_type: str, name: str) -> list[dict[str, Any]]:
    return [
        event
        for event in capture.events
        if event["event_type"] == event_type and event["event_name"] == name
    ]


RUN_TREE = [
    ("chain", "polite", "turn 1"),
    ("model", "response", "turn 1"),
    ("tool", "warehouse_lookup", "order_status"),
    ("tool", "order_status", "turn 1"),
    ("chain", "turn 1", "Triage"),
    ("model", "response", "turn 2"),
    ("tool", "handoff", "turn 2"),
    ("chain", "turn 2", "Triage"),
    ("chain", "Triage", "Agent workflow"),
    ("model", "response", "turn 3"),
    ("chain", "turn 3", "Refunds"),
    ("chain", "Refunds", "Agent workflow"),
]


@pytest.mark.price_table
def test_a_run_with_a_tool_a_handoff_and_a_guardrail_is_one_session(
    fake: FakeResponses, honeytrace_capture: Capture
) -> None:
    script_tool_then_handoff(fake)

    result = Runner.run_sync(make_agents(), "Where is my refund for A-1?")

    assert result.final_output == "Refund issued."
    session = honeytrace_capture.session()
    assert session["session_name"] == "Agent workflow"
    assert session["metadata"]["agents.trace_id"].startswith("trace_")
    assert tree(honeytrace_capture) == RUN_TREE
    # The SDK's task span is the run itself: its totals are the session's.
    assert session["metadata"]["usage"]["requests"] == 3
    assert session["metadata"]["usage"]["input_tokens"] == 150

    responses = named(honeytrace_capture, "model", "response")
    assert [priced_usage(event) for event in responses] == [USAGE] * 3
    assert {event["metadata"]["usage_source"] for event in responses} == {"reported"}
    first = responses[0]
    assert first["inputs"] == {
        "input": [{"content": "Where is my refund for A-1?", "role": "user"}],
        "instructions": "Route the customer.",
    }
    assert first["config"]["model"] == "gpt-4.1-2025-04-14"
    assert first["config"]["tools"] == ["order_status", "transfer_to_refunds"]
    assert first["outputs"]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "order_status", "arguments": '{"order_id": "A-1"}'},
        }
    ]
    assert responses[2]["outputs"] == {"role": "assistant", "content": "Refund issued."}

    tool = named(honeytrace_capture, "tool", "order_status")[0]
    assert tool["inputs"] == {"arguments": {"order_id": "A-1"}}
    assert tool["outputs"] == {"output": "A-1: shipped"}
    handoff = named(honeytrace_capture, "tool", "handoff")[0]
    assert handoff["inputs"] == {"from_agent": "Triage"}
    assert handoff["outputs"] == {"to_agent": "Refunds"}
    assert named(honeytrace_capture, "chain", "polite")[0]["outputs"] == {"triggered": False}
    triage = named(honeytrace_capture, "chain", "Triage")[0]
    assert triage["config"] == {
        "tools": ["order_status"],
        "handoffs": ["Refunds"],
        "output_type": "str",
    }
    # Aggregates stay out of metrics: session totals count each model call once.
    turn = named(honeytrace_capture, "chain", "turn 1")[0]
    assert "metrics" not in turn or not turn["metrics"]
    assert turn["metadata"]["usage"]["input_tokens"] == 50
    assert not any(event.get("error") for event in honeytrace_capture.events)


def test_an_async_run_inside_the_apps_session_nests_there(
    fake: FakeResponses, honeytrace_capture: Capture
) -> None:
    script_tool_then_handoff(fake)

    async def support() -> str:
        async with honeytrace.session("support-desk"):
            result = await Runner.run(make_agents(), "Where is my refund for A-1?")
            return str(result.final_output)

    assert asyncio.run(support()) == "Refund issued."
    session = honeytrace_capture.session()
    assert session["session_name"] == "support-desk"
    # The run is a chain in the app's session.
    assert tree(honeytrace_capture) == [*RUN_TREE, ("chain", "Agent workflow", "support-desk")]


def test_a_tripped_guardrail_ends_the_run_with_its_error(
    fake: FakeResponses, honeytrace_capture: Capture
) -> None:
    fake.script.append([text("never read")])

    with pytest.raises(InputGuardrailTripwireTriggered):
        Runner.run_sync(make_agents(), "you stupid bot")

    guardrail = named(honeytrace_capture, "chain", "polite")[0]
    assert guardrail["outputs"] == {"triggered": True}
    # The SDK reports the tripwire on the turn it stopped; the events above it end normally.
    errors = {event["event_name"]: event.get("error") for event in honeytrace_capture.events}
    assert errors["turn 1"] == "Guardrail tripwire triggered"
    assert errors["Triage"] is None
    assert tree(honeytrace_capture)[-1] == ("chain", "Triage", "Agent workflow")
    processor = honeytrace_openai_agents.processor()
    assert processor is not None and processor.open_count == 0


def test_an_api_error_is_recorded_on_the_model_event_and_raised(
    fake: FakeResponses, honeytrace_capture: Capture
) -> None:
    body = {"error": {"message": "The server is overloaded", "type": "server_error"}}
    fake.script.append((500, body))

    with pytest.raises(openai.InternalServerError):
        Runner.run_sync(make_agents(), "Where is my refund for A-1?")

    response = named(honeytrace_capture, "model", "response")[0]
    assert response["error"].startswith("Error getting response")
    assert "overloaded" in response["error"]
    assert response["metadata"]["usage_source"] == "missing"
    assert (
        named(honeytrace_capture, "chain", "turn 1")[0]["parent_id"]
        == (named(honeytrace_capture, "chain", "Triage")[0]["event_id"])
    )
    assert honeytrace_capture.session()["session_name"] == "Agent workflow"


def _processors() -> list[Any]:
    return list(get_trace_provider()._multi_processor._processors)  # type: ignore[attr-defined]


@pytest.mark.price_table
def test_next_to_the_sdks_exporter_both_receive_the_run(
    fake: FakeResponses, honeytrace_capture: Capture
) -> None:
    honeytrace_openai_agents.uninstrument()
    sdk_own = _processors()
    assert sdk_own and honeytrace_openai_agents.processor() not in sdk_own
    agents.set_tracing_export_api_key("sk-test")
    mine = honeytrace_openai_agents.instrument()
    assert _processors() == [*sdk_own, mine]
    fake.script.append([text("Hello.")])

    Runner.run_sync(Agent(name="Greeter", model="gpt-4.1"), "Hi")
    agents.flush_traces()

    exported = [item for body in fake.ingested for item in body["data"]]
    assert {item.get("object") for item in exported} >= {"trace", "trace.span"}
    assert honeytrace_capture.session()["session_name"] == "Agent workflow"
    assert [event["event_name"] for event in honeytrace_capture.events][-1] == "Greeter"
    assert priced_usage(named(honeytrace_capture, "model", "response")[0]) == USAGE


def test_instrument_is_idempotent_and_uninstrument_restores_the_sdks_processors(
    fake: FakeResponses, honeytrace_capture: Capture
) -> None:
    honeytrace_openai_agents.uninstrument()
    original = _processors()
    assert honeytrace_openai_agents.instrument() is honeytrace_openai_agents.instrument()
    assert _processors() == [*original, honeytrace_openai_agents.processor()]
    honeytrace_openai_agents.instrument(replace=True)
    honeytrace_openai_agents.instrument(replace=True)
    assert _processors() == [honeytrace_openai_agents.processor()]

    honeytrace_openai_agents.uninstrument()
    honeytrace_openai_agents.uninstrument()
    assert _processors() == original
    fake.script.append([text("Hello.")])
    Runner.run_sync(Agent(name="Greeter", model="gpt-4.1"), "Hi")
    assert honeytrace_capture.events == []
    assert honeytrace_capture.sessions == []


@pytest.mark.parametrize("installed", [None, "0.1.9"])
def test_a_missing_or_old_sdk_is_one_log_line_and_nothing_else(
    installed: str | None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    honeytrace_openai_agents.uninstrument()
    before = _processors()
    real_version = importlib.metadata.version

    def version(name: str) -> str:
        if name != "openai-agents":
            return real_version(name)
        if installed is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return installed

    monkeypatch.setattr(importlib.metadata, "version", version)
    with caplog.at_level(logging.DEBUG, logger="honeytrace"):
        assert honeytrace_openai_agents.instrument() is None
    assert len(caplog.records) == 1
    assert "openai-agents" in caplog.records[0].getMessage()
    assert _processors() == before


@pytest.mark.price_table
def test_a_streamed_run_records_the_same_tree(
    fake: FakeResponses, honeytrace_capture: Capture
) -> None:
    script_tool_then_handoff(fake)

    async def streamed() -> tuple[str, int]:
        result = Runner.run_streamed(make_agents(), "Where is my refund for A-1?")
        deltas = 0
        async for event in result.stream_events():
            deltas += getattr(event, "type", "") == "raw_response_event"
        return str(result.final_output), deltas

    output, deltas = asyncio.run(streamed())

    assert output == "Refund issued." and deltas > 0
    assert fake.requests[0]["stream"] is True
    assert honeytrace_capture.session()["session_name"] == "Agent workflow"
    # Streaming, the SDK runs the guardrail beside the first turn, under the agent.
    assert sorted(tree(honeytrace_capture)) == sorted(
        [("chain", "polite", "Triage"), *RUN_TREE[1:]]
    )
    responses = named(honeytrace_capture, "model", "response")
    assert [priced_usage(event) for event in responses] == [USAGE] * 3
    assert responses[2]["outputs"]["content"] == "Refund issued."


@pytest.mark.price_table
def test_a_chat_completions_model_is_a_generation_event(
    fake: FakeResponses, honeytrace_capture: Capture
) -> None:
    fake.script.append([text("Bonjour!")])
    client = AsyncOpenAI(api_key="sk-test", base_url=fake.url, max_retries=0)
    model = OpenAIChatCompletionsModel(model="gpt-4.1-mini", openai_client=client)
    agent = Agent(
        name="Greeter",
        instructions="Greet in French.",
        model=model,
        model_settings=ModelSettings(temperature=0.3),
    )

    assert Runner.run_sync(agent, "Hello").final_output == "Bonjour!"

    (generation,) = named(honeytrace_capture, "model", "generation")
    assert generation["inputs"] == {
        "messages": [
            {"content": "Greet in French.", "role": "system"},
            {"role": "user", "content": "Hello"},
        ]
    }
    assert generation["config"]["model"] == "gpt-4.1-mini"
    assert generation["config"]["temperature"] == 0.3
    assert generation["outputs"]["content"] == "Bonjour!"
    assert priced_usage(generation) == {
        "prompt_tokens": 30,
        "completion_tokens": 7,
        "total_tokens": 37,
        "cache_read_tokens": 10,
    }
    assert generation["metadata"]["usage_source"] == "reported"
    assert tree(honeytrace_capture)[0] == ("model", "generation", "turn 1")


def test_what_the_sdk_keeps_out_of_its_spans_stays_out(
    fake: FakeResponses, honeytrace_capture: Capture
) -> None:
    fake.script.extend([[call("order_status", {"order_id": "A-1"}, "call_1")], [text("Done.")]])
    agent = Agent(name="Triage", model="gpt-4.1", tools=[order_status])

    Runner.run_sync(agent, "secret", run_config=RunConfig(trace_include_sensitive_data=False))

    response = named(honeytrace_capture, "model", "response")[0]
    assert "secret" not in str(response)
    assert not response.get("outputs")
    assert response["metrics"] == USAGE  # usage is not sensitive: it is kept
    # With the response kept out, nothing names the model: unpriced, and says why (never $0).
    assert response["metadata"]["cost"] == {
        "unpriced": True,
        "reason": "the event names no model (config.model)",
    }
    tool = named(honeytrace_capture, "tool", "order_status")[0]
    assert tool["inputs"] == {"arguments": None}
    assert tool["outputs"] == {"output": None}


def test_a_trace_block_with_custom_spans_is_one_session_with_its_metadata(
    honeytrace_capture: Capture,
) -> None:
    run = agents.trace("nightly-report", group_id="thread-7", metadata={"tenant": "acme"})
    with run, custom_span("load", {"rows": 3}):
        pass

    session = honeytrace_capture.session()
    assert session["session_name"] == "nightly-report"
    assert session["metadata"]["agents.group_id"] == "thread-7"
    assert session["metadata"]["agents.metadata"] == {"tenant": "acme"}
    load = named(honeytrace_capture, "chain", "load")[0]
    assert load["parent_id"] == session["session_id"]
    assert load["metadata"]["data"] == {"rows": 3}


def test_spans_that_never_end_are_bounded(
    monkeypatch: pytest.MonkeyPatch, honeytrace_capture: Capture
) -> None:
    monkeypatch.setattr(processor_module, "MAX_OPEN", 3)
    mine = honeytrace_openai_agents.processor()
    assert mine is not None
    with agents.trace("leaky"):
        spans = [custom_span(f"open {n}") for n in range(5)]
        for span in spans:
            span.start()
        assert mine.open_count == 3  # the trace and two spans; the rest are not traced
        for span in spans:
            span.finish()
    assert mine.open_count == 0
    assert sorted(event["event_name"] for event in honeytrace_capture.events) == [
        "open 0",
        "open 1",
    ]


def test_a_span_started_on_another_thread_nests_under_its_sdk_parent(
    honeytrace_capture: Capture,
) -> None:
    def worker(parent: Any) -> None:
        # Neither the SDK's nor honeytrace's current span crosses into a plain thread: the
        # event is placed by the SDK's parent id alone, and is not left current here.
        with custom_span("in a thread", parent=parent):
            assert honeytrace.current_event_id() is None

    with agents.trace("fan-out"), custom_span("step") as step:
        thread = threading.Thread(target=worker, args=(step,))
        thread.start()
        thread.join(timeout=10)

    session = honeytrace_capture.session()
    step_event = named(honeytrace_capture, "chain", "step")[0]
    assert step_event["parent_id"] == session["session_id"]
    assert (
        named(honeytrace_capture, "chain", "in a thread")[0]["parent_id"]
        == (step_event["event_id"])
    )
