"""Agents SDK runs as honeytrace events: the real ``openai-agents`` with its chat-completions
model against the fake OpenAI server on 127.0.0.1; tools, a handoff, guardrails, usage, cost."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrailTripwireTriggered,
    OpenAIChatCompletionsModel,
    Runner,
    function_tool,
    input_guardrail,
)
from openai_fake_server import FakeOpenAI, Reply, fixture

import honeytrace
from honeytrace.testing import Capture

MINI = (27 * 0.15 + 15 * 0.60) / 1e6


@function_tool
def get_weather(location: str) -> str:
    """The weather at a place."""
    return f"sunny in {location}"


@input_guardrail
async def polite(ctx: Any, agent: Any, given: Any) -> GuardrailFunctionOutput:
    return GuardrailFunctionOutput(output_info={"polite": True}, tripwire_triggered=False)


@input_guardrail
async def no_shouting(ctx: Any, agent: Any, given: Any) -> GuardrailFunctionOutput:
    return GuardrailFunctionOutput(output_info=None, tripwire_triggered=str(given).isupper())


def _by_name(capture: Capture) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for event in capture.events:
        found.setdefault(event["event_name"], []).append(event)
    return found


def test_a_run_with_tools_and_a_guardrail_is_one_tree_with_usage_and_cost(
    model: OpenAIChatCompletionsModel, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    server.reply("chat_completion_tool_calls.json")
    agent = Agent(
        name="assistant",
        instructions="Be brief.",
        tools=[get_weather],
        model=model,
        input_guardrails=[polite],
    )

    with honeytrace.session("support") as session:
        result = Runner.run_sync(agent, "Weather in Paris and Bogotá?")

    assert result.final_output.startswith("Refunds go back")
    events = _by_name(honeytrace_capture)
    trace, task = sorted(
        events["Agent workflow"], key=lambda e: "agents_trace_id" in e["metadata"], reverse=True
    )
    assert trace["parent_id"] == session.session_id
    assert task["parent_id"] == trace["event_id"]
    (agent_event,) = events["assistant"]
    assert agent_event["parent_id"] == task["event_id"]
    assert agent_event["config"]["tools"] == ["get_weather"]
    (guardrail,) = events["guardrail polite"]
    assert guardrail["metadata"]["triggered"] is False
    generations = events["generation gpt-4o-mini"]
    assert len(generations) == 2
    first, second = generations
    assert first["event_type"] == "model"
    assert first["inputs"]["messages"][-1] == {
        "role": "user",
        "content": "Weather in Paris and Bogotá?",
    }
    assert [c["function"]["name"] for c in first["outputs"]["tool_calls"]] == ["get_weather"] * 2
    assert first["metrics"]["prompt_tokens"] == 82 and first["metrics"]["cache_read_tokens"] == 64
    # gpt-4o-mini: 18 fresh input at $0.15, 64 cached at $0.075, 51 output at $0.60 per MTok
    assert first["metrics"]["cost_usd"] == pytest.approx((18 * 0.15 + 64 * 0.075 + 51 * 0.6) / 1e6)
    assert first["metadata"]["cost"]["source"] == "genai-prices"
    assert second["metrics"]["cost_usd"] == pytest.approx(MINI)
    tools = events["get_weather"]
    assert [tool["event_type"] for tool in tools] == ["tool", "tool"]
    assert sorted(tool["inputs"]["location"] for tool in tools) == [
        "Bogotá, Colombia",
        "Paris, France",
    ]
    assert tools[0]["outputs"] == {"result": f"sunny in {tools[0]['inputs']['location']}"}
    # Everything hangs from the agent's event, through its turns.
    ids = {event["event_id"]: event for event in honeytrace_capture.events}
    for event in [*generations, *tools]:
        parent = event
        while parent["parent_id"] in ids and parent["event_id"] != agent_event["event_id"]:
            parent = ids[parent["parent_id"]]
        assert parent["event_id"] == agent_event["event_id"], event["event_name"]


def test_a_handoff(
    model: OpenAIChatCompletionsModel, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    billing = Agent(name="billing", instructions="Answer billing questions.", model=model)
    triage = Agent(name="triage", instructions="Route.", handoffs=[billing], model=model)
    body = json.loads(fixture("chat_completion_tool_calls.json"))
    call = body["choices"][0]["message"]["tool_calls"][0]
    call["function"] = {"name": "transfer_to_billing", "arguments": "{}"}
    body["choices"][0]["message"]["tool_calls"] = [call]
    server.reply(Reply(body=body))

    result = Runner.run_sync(triage, "I was charged twice.")

    assert result.last_agent.name == "billing"
    events = _by_name(honeytrace_capture)
    (handoff,) = events["handoff triage -> billing"]
    assert handoff["metadata"]["from_agent"] == "triage"
    assert handoff["metadata"]["to_agent"] == "billing"
    assert len(events["triage"]) == 1 and len(events["billing"]) == 1
    assert events["triage"][0]["config"]["handoffs"] == ["billing"]
    # A run outside any session opens one of its own.
    (session,) = honeytrace_capture.sessions
    assert session["session_name"] == "Agent workflow"


def test_a_tripped_guardrail_is_recorded_and_the_run_fails_as_without_tracing(
    model: OpenAIChatCompletionsModel, honeytrace_capture: Capture
) -> None:
    agent = Agent(name="assistant", model=model, input_guardrails=[no_shouting])

    with pytest.raises(InputGuardrailTripwireTriggered):
        Runner.run_sync(agent, "WHERE IS MY REFUND")

    events = _by_name(honeytrace_capture)
    (guardrail,) = events["guardrail no_shouting"]
    assert guardrail["metadata"]["triggered"] is True
    (turn,) = events["turn 1"]  # the SDK marks the turn the guardrail stopped
    assert turn["error"] == "Guardrail tripwire triggered"
    assert turn["metadata"]["error_data"] == {"guardrail": "no_shouting"}


def test_a_group_id_names_the_session_so_a_conversation_continues(
    model: OpenAIChatCompletionsModel, honeytrace_capture: Capture
) -> None:
    from agents import RunConfig

    agent = Agent(name="assistant", model=model)
    config = RunConfig(group_id="chat-42")
    Runner.run_sync(agent, "first", run_config=config)
    Runner.run_sync(agent, "second", run_config=config)

    (session,) = honeytrace_capture.sessions
    assert session["metadata"]["session_key"] == "chat-42"
    workflows = [  # the traces (each also has a "task" span of the same name under it)
        e
        for e in _by_name(honeytrace_capture)["Agent workflow"]
        if "agents_trace_id" in e["metadata"]
    ]
    assert len(workflows) == 2
    assert {event["parent_id"] for event in workflows} == {session["session_id"]}


def test_next_to_the_sdk_s_own_processors(
    model: OpenAIChatCompletionsModel, honeytrace_capture: Capture
) -> None:
    import honeytrace_openai_agents
    from agents.tracing import TracingProcessor, set_trace_processors

    seen: list[str] = []

    class Other(TracingProcessor):
        def on_trace_start(self, trace: Any) -> None:
            seen.append("trace")

        def on_trace_end(self, trace: Any) -> None: ...

        def on_span_start(self, span: Any) -> None: ...

        def on_span_end(self, span: Any) -> None:
            seen.append(span.span_data.type)

        def shutdown(self) -> None: ...

        def force_flush(self) -> None: ...

    processor = honeytrace_openai_agents.instrument(replace=True)
    assert processor is not None
    set_trace_processors([Other(), processor])  # as add_trace_processor leaves it
    Runner.run_sync(Agent(name="assistant", model=model), "hi")

    assert "generation" in seen
    assert len(_by_name(honeytrace_capture)["generation gpt-4o-mini"]) == 1


def test_the_responses_api_model_is_a_model_event_with_usage_and_cost(
    server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    from agents import OpenAIResponsesModel
    from openai import AsyncOpenAI

    body = json.loads(fixture("responses_response.json"))
    body["output"] = [item for item in body["output"] if item["type"] != "function_call"]
    server.reply(Reply(body=body))
    client = AsyncOpenAI(api_key="sk-test", base_url=server.url, max_retries=0)
    agent = Agent(name="assistant", model=OpenAIResponsesModel("gpt-4.1", client))

    result = Runner.run_sync(agent, "How do refunds work?")

    (event,) = [e for e in honeytrace_capture.events if e["event_type"] == "model"]
    assert event["outputs"] == {"role": "assistant", "content": result.final_output}
    assert event["metrics"]["prompt_tokens"] == 36
    assert event["metrics"]["completion_tokens"] == 11
    assert event["metrics"]["cost_usd"] > 0
    assert event["metadata"]["response_model"] == "gpt-4.1-2025-04-14"
    assert event["metadata"]["cost"]["source"] == "genai-prices"
