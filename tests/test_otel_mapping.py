"""The mapping tables, on attribute sets recorded from real instrumentations.

Each fixture in tests/fixtures/otel says where it came from (``source``, ``recorded_with``);
``record_fixtures.py`` there re-records them. Here every recorded span is replayed through the
real SDK inside a honeytrace session and read back as the wire event it became.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import honeytrace
from honeytrace.testing import Capture, capture
from tests.support.otel import FIXTURES, Otel, load_fixture, otel_fixture, replay

__all__ = ["otel_fixture"]

SYSTEM = {"role": "system", "content": "You answer questions about the shop's policies."}
USER = {"role": "user", "content": "How do refunds work?"}
ANSWER = "Refunds are issued within 14 days of the return."
TOOL_CALL = {"id": "call_7Qv1", "name": "lookup_order", "arguments": {"order_id": "A-17"}}


def _priced(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics without the cost the flusher adds to a known model (tested in
    integrations/openai/tests/test_openai_cost.py and tests/test_pricing.py)."""
    assert metrics.get("cost_usd", 0) > 0
    return {key: value for key, value in metrics.items() if key != "cost_usd"}


@pytest.fixture
def replayed(otel: Otel) -> Iterator[Any]:
    otel.processor()

    def run(name: str) -> list[dict[str, Any]]:
        with capture() as traces:
            with honeytrace.session(name):
                for span in load_fixture(name)["spans"]:
                    replay(span)
            return _events(traces)

    yield run


def _events(traces: Capture) -> list[dict[str, Any]]:
    events = traces.events
    for event in events:
        assert event["parent_id"] == event["session_id"]
    return events


def test_every_fixture_says_where_it_came_from() -> None:
    names = sorted(path.stem for path in FIXTURES.glob("*.json"))
    assert len(names) >= 10
    for name in names:
        fixture = load_fixture(name)
        assert fixture["source"] and fixture["spans"], name


# -- GenAI semantic conventions -------------------------------------------------------------


@pytest.mark.price_table
def test_genai_chat(replayed: Any) -> None:
    (event,) = replayed("genai_openai_v2_chat")
    assert event["event_name"] == "chat gpt-4o-mini"
    assert event["event_type"] == "model"
    assert event["config"] == {
        "model": "gpt-4o-mini",
        "provider": "openai",
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 256,
        "stop_sequences": ["\n\n"],
        "seed": 7,
    }
    assert event["inputs"] == {"messages": [SYSTEM, USER]}
    assert event["outputs"] == {"role": "assistant", "content": ANSWER, "finish_reason": "stop"}
    assert _priced(event["metrics"]) == {
        "prompt_tokens": 31,
        "completion_tokens": 12,
        "total_tokens": 43,
    }
    metadata = event["metadata"]
    assert metadata["response_model"] == "gpt-4o-mini-2024-07-18"
    assert metadata["gen_ai.response.id"] == "chatcmpl-AyPx2rYkz1"
    assert metadata["gen_ai.operation.name"] == "chat"
    assert metadata["otel.scope"] == "opentelemetry.util.genai.handler"
    assert metadata["otel.kind"] == "CLIENT"
    assert len(metadata["otel.span_id"]) == 16
    assert "gen_ai.input.messages" not in metadata and "gen_ai.request.model" not in metadata
    assert "error" not in event


def test_genai_tool_call_answer(replayed: Any) -> None:
    (event,) = replayed("genai_openai_v2_tool_call")
    assert event["outputs"] == {
        "role": "assistant",
        "tool_calls": [TOOL_CALL],
        "finish_reason": "tool_calls",
    }
    assert event["metrics"]["prompt_tokens"] == 52


def test_genai_error(replayed: Any) -> None:
    (event,) = replayed("genai_openai_v2_error")
    assert event["event_type"] == "model"
    assert event["error"].startswith("Error code: 404")
    assert event["metadata"]["error.type"] == "<class 'openai.NotFoundError'>"
    assert event["inputs"] == {}
    assert "outputs" not in event


def test_genai_tool_and_agent(replayed: Any) -> None:
    tool, agent = replayed("genai_util_tool_and_agent")
    assert tool["event_type"] == "tool"
    assert tool["inputs"] == {"order_id": "A-17"}
    assert tool["outputs"] == {"status": "shipped", "eta": "2025-02-03"}
    assert tool["metadata"]["gen_ai.tool.name"] == "lookup_order"
    assert tool["metadata"]["gen_ai.tool.call.id"] == "call_7Qv1"
    assert agent["event_type"] == "chain"
    assert agent["config"] == {"model": "gpt-4o-mini"}
    assert agent["metadata"]["gen_ai.agent.name"] == "support-agent"


@pytest.mark.price_table
def test_genai_messages_as_span_events(replayed: Any) -> None:
    (event,) = replayed("genai_span_events_v1_28")
    assert event["inputs"] == {
        "messages": [
            {"role": "system", "content": "You are a weather bot."},
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "rainy, 57F"},
        ]
    }
    assert event["outputs"] == {
        "role": "assistant",
        "content": "It is rainy in Paris, 57F.",
        "finish_reason": "stop",
    }
    assert event["config"] == {"model": "gpt-4o", "provider": "openai", "max_tokens": 512}
    assert _priced(event["metrics"]) == {
        "prompt_tokens": 64,
        "completion_tokens": 9,
        "total_tokens": 73,
    }
    assert "otel.events" not in event["metadata"]


def test_genai_content_events_of_semconv_1_27(replayed: Any) -> None:
    (event,) = replayed("genai_span_events_v1_27")
    assert event["inputs"] == {"messages": [{"role": "user", "content": "Say hi in French"}]}
    assert event["outputs"] == {"role": "assistant", "content": "Bonjour !"}
    assert event["metrics"] == {
        "prompt_tokens": 12,
        "completion_tokens": 5,
        "total_tokens": 17,
        "cost": 0.0000048,
    }
    assert event["config"]["temperature"] == 1.0


# -- OpenInference ----------------------------------------------------------------------------


@pytest.mark.price_table
def test_openinference_llm(replayed: Any) -> None:
    chat, with_tools = replayed("openinference_openai_chat")
    assert chat["event_type"] == "model"
    assert chat["config"] == {
        "model": "gpt-4o-mini",
        "max_tokens": 256,
        "temperature": 0.2,
        "top_p": 0.9,
        "provider": "openai",
    }
    assert chat["inputs"] == {"messages": [SYSTEM, USER]}
    assert chat["outputs"] == {"role": "assistant", "content": ANSWER}
    assert _priced(chat["metrics"]) == {
        "prompt_tokens": 31,
        "completion_tokens": 12,
        "total_tokens": 43,
    }
    assert chat["metadata"]["response_model"] == "gpt-4o-mini-2024-07-18"
    assert "input.value" not in chat["metadata"] and "output.value" not in chat["metadata"]
    assert with_tools["outputs"] == {"role": "assistant", "tool_calls": [TOOL_CALL]}
    (schema,) = with_tools["config"]["tools"]
    assert schema["function"]["name"] == "lookup_order"


def test_openinference_chain_and_tool(replayed: Any) -> None:
    tool, chain, failing = replayed("openinference_chain_tool")
    assert tool["event_type"] == "tool"
    assert tool["inputs"] == {"order_id": "A-17"}
    assert tool["outputs"] == {"status": "shipped"}
    assert tool["metadata"]["tool.name"] == "lookup_order"
    assert chain["event_type"] == "chain"
    assert chain["inputs"] == {"input": "Where is order A-17?"}
    assert chain["outputs"] == {"result": "It has shipped."}
    assert failing["error"] == "ValueError: no order id in the question"
    assert failing["metadata"]["traceback"].startswith("Traceback (most recent call last)")
    assert "outputs" not in failing


# -- OpenLLMetry ------------------------------------------------------------------------------


@pytest.mark.price_table
def test_openllmetry_chat(replayed: Any) -> None:
    chat, with_tools = replayed("openllmetry_openai_chat")
    assert chat["event_type"] == "model"
    assert chat["config"]["model"] == "gpt-4o-mini"
    assert chat["config"]["provider"] == "openai"
    assert chat["inputs"] == {"messages": [SYSTEM, USER]}
    assert chat["outputs"] == {"role": "assistant", "content": ANSWER, "finish_reason": "stop"}
    assert _priced(chat["metrics"]) == {
        "prompt_tokens": 31,
        "completion_tokens": 12,
        "total_tokens": 43,
    }
    assert with_tools["config"]["tools"][0]["name"] == "lookup_order"
    assert with_tools["outputs"]["tool_calls"] == [TOOL_CALL]


@pytest.mark.price_table
def test_openllmetry_chat_before_the_genai_conventions(replayed: Any) -> None:
    chat, with_tools = replayed("openllmetry_openai_chat_legacy")
    assert chat["event_type"] == "model"
    assert chat["config"] == {
        "model": "gpt-4o-mini",
        "provider": "OpenAI",
        "max_tokens": 256,
        "temperature": 0.2,
        "top_p": 0.9,
    }
    assert chat["inputs"] == {"messages": [SYSTEM, USER]}
    assert chat["outputs"] == {"finish_reason": "stop", "role": "assistant", "content": ANSWER}
    assert _priced(chat["metrics"]) == {
        "total_tokens": 43,
        "completion_tokens": 12,
        "prompt_tokens": 31,
    }
    assert chat["metadata"]["llm.is_streaming"] is False
    assert with_tools["config"]["tools"] == [
        {
            "name": "lookup_order",
            "description": "Find an order by its id.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        }
    ]
    assert with_tools["outputs"]["tool_calls"] == [TOOL_CALL]


def test_openllmetry_workflow_task_tool(replayed: Any) -> None:
    tool, task, workflow = replayed("openllmetry_workflow")
    assert [tool["event_type"], task["event_type"], workflow["event_type"]] == [
        "tool",
        "chain",
        "chain",
    ]
    assert tool["inputs"] == {"args": ["A-17"], "kwargs": {}}
    assert tool["outputs"] == {"status": "shipped"}
    assert task["outputs"] == {"result": "It has shipped."}
    assert workflow["metadata"]["traceloop.workflow.name"] == "support_flow"
    assert "traceloop.span.kind" not in workflow["metadata"]
