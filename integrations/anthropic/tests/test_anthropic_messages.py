"""Messages without streaming: what one call records, sync and async, tool use and errors."""

from __future__ import annotations

import asyncio

import anthropic
import pytest
from anthropic.types import Message
from anthropic_events import model_events, only_model_event
from anthropic_fake_server import FakeAnthropic

import honeytrace
from honeytrace.testing import Capture

MODEL = "claude-sonnet-4-6"
MESSAGES = [{"role": "user", "content": "How do refunds work?"}]


@pytest.mark.price_table
def test_a_call_is_one_model_event_with_request_and_response(
    client: anthropic.Anthropic, server: FakeAnthropic, honeytrace_capture: Capture
) -> None:
    message = client.messages.create(
        model=MODEL,
        max_tokens=256,
        system="You are a concise support agent.",
        messages=MESSAGES,
        stop_sequences=["###"],
        metadata={"user_id": "ada"},
    )

    assert type(message) is Message
    event = only_model_event(honeytrace_capture)
    assert event["event_name"] == "anthropic.messages.create"
    assert event["inputs"] == {"messages": MESSAGES, "system": "You are a concise support agent."}
    assert event["config"] == {
        "provider": "anthropic",
        "model": MODEL,
        "max_tokens": 256,
        "stop_sequences": ["###"],
        "metadata": {"user_id": "ada"},
    }
    assert event["outputs"] == {
        "role": "assistant",
        "content": "Refunds go back to the original card within 5 business days.",
    }
    assert event["metrics"] == {
        "prompt_tokens": 25,
        "completion_tokens": 14,
        "total_tokens": 39,
        "cost_usd": pytest.approx(0.000285),  # claude-sonnet-4-6: $3 / $15 per MTok
    }
    assert event["metadata"]["usage_source"] == "reported"
    assert event["metadata"]["cost"]["source"] == "genai-prices"
    assert event["metadata"]["response_id"] == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert event["metadata"]["response_model"] == MODEL
    assert event["metadata"]["stop_reason"] == "end_turn"


def test_calls_nest_in_the_current_session(
    client: anthropic.Anthropic, honeytrace_capture: Capture
) -> None:
    with honeytrace.session("support") as session:
        client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert only_model_event(honeytrace_capture)["parent_id"] == session.session_id


@pytest.mark.price_table
def test_tool_use_thinking_and_cached_tokens(
    client: anthropic.Anthropic, server: FakeAnthropic, honeytrace_capture: Capture
) -> None:
    server.reply("message_tool_use.json")
    tools = [
        {
            "name": "lookup_order",
            "description": "Fetch an order's status.",
            "input_schema": {"type": "object", "properties": {"order_id": {"type": "string"}}},
        }
    ]
    client.messages.create(
        model=MODEL,
        max_tokens=1024,
        messages=MESSAGES,
        tools=tools,
        thinking={"type": "enabled", "budget_tokens": 512},
    )

    event = only_model_event(honeytrace_capture)
    assert event["config"]["tools"] == tools
    assert event["config"]["thinking"] == {"type": "enabled", "budget_tokens": 512}
    assert event["outputs"] == {
        "role": "assistant",
        "content": "Let me look that order up.",
        "tool_calls": [
            {
                "id": "toolu_01A09q90qw90lq917835lq9",
                "type": "tool_use",
                "name": "lookup_order",
                "input": {"order_id": "A-1001"},
            }
        ],
        "thinking": "The user wants the order status; I should call the tool.",
    }
    assert event["metrics"] == {
        "prompt_tokens": 2220,
        "completion_tokens": 96,
        "total_tokens": 2316,
        "cache_read_tokens": 1800,
        # 420 fresh input tokens at $3, 1800 cache reads at $0.30, 96 output at $15 per MTok
        "cost_usd": pytest.approx(0.00324),
    }
    assert event["metadata"]["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("status", "name", "kind", "error_type"),
    [
        (429, "error_429.json", anthropic.RateLimitError, "rate_limit_error"),
        (400, "error_400.json", anthropic.BadRequestError, "invalid_request_error"),
        (529, "error_529.json", anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_api_errors_are_recorded_and_raised_unchanged(
    client: anthropic.Anthropic,
    server: FakeAnthropic,
    honeytrace_capture: Capture,
    status: int,
    name: str,
    kind: type[Exception],
    error_type: str,
) -> None:
    server.error(status, name)
    with pytest.raises(kind) as raised:
        client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)

    assert type(raised.value) is kind
    event = only_model_event(honeytrace_capture)
    # The client's own wording of the error changes between releases: compare with what it
    # raised, not with a format of its message.
    assert event["error"] == f"{kind.__name__}: {raised.value}"
    assert event["metadata"]["status_code"] == status
    assert event["metadata"]["error_type"] == error_type
    assert event["metadata"]["request_id"].startswith("req_")


def test_async_calls_and_errors(
    async_client: anthropic.AsyncAnthropic, server: FakeAnthropic, honeytrace_capture: Capture
) -> None:
    async def main() -> Message:
        message = await async_client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
        server.error(429, "error_429.json")
        with pytest.raises(anthropic.RateLimitError):
            await async_client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
        return message

    message = asyncio.run(main())
    ok, failed = model_events(honeytrace_capture)
    assert ok["outputs"]["content"] == message.content[0].text  # type: ignore[union-attr]
    assert ok["metrics"]["total_tokens"] == 39
    assert failed["metadata"]["status_code"] == 429


def test_beta_messages_are_traced_too(
    client: anthropic.Anthropic, honeytrace_capture: Capture
) -> None:
    client.beta.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    event = only_model_event(honeytrace_capture)
    assert event["event_name"] == "anthropic.beta.messages.create"
    assert event["metrics"]["total_tokens"] == 39
