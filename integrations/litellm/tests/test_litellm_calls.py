"""LiteLLM calls as honeytrace model events: the real ``litellm`` against the fake OpenAI server
on 127.0.0.1; completion, acompletion, streams, embeddings, tool calls and errors, each with its
usage and the cost LiteLLM reported."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import honeytrace_litellm
import litellm
import pytest
from openai_fake_server import FakeOpenAI, Reply, fixture

import honeytrace
from honeytrace.testing import Capture

MESSAGES = [{"role": "user", "content": "How do refunds work?"}]
MINI = (27 * 0.15 + 15 * 0.60) / 1e6  # gpt-4o-mini: $0.15 / $0.60 per million tokens


def _kwargs(server: FakeOpenAI) -> dict[str, Any]:
    return {"api_base": server.url, "api_key": "sk-test"}


def _models(capture: Capture, count: int = 1) -> list[dict[str, Any]]:
    """The model events, once LiteLLM's logging threads have delivered ``count`` of them."""
    deadline = time.monotonic() + 10
    while True:
        events = [e for e in capture.events if e["event_type"] == "model"]
        if len(events) >= count or time.monotonic() > deadline:
            assert len(events) == count, [
                (e["event_name"], e["metadata"], e.get("inputs")) for e in events
            ]
            return events
        time.sleep(0.02)


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_completion_is_a_model_event_with_usage_and_litellm_s_cost(
    server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    with honeytrace.session("support") as session:
        response = litellm.completion(
            model="openai/gpt-4o-mini", messages=MESSAGES, temperature=0.2, **_kwargs(server)
        )
        # LiteLLM reports success from a logging thread: wait for it inside the session.
        _until(lambda: not honeytrace_litellm.proxy_handler_instance._open)

    assert response.choices[0].message.content.startswith("Refunds go back")
    (event,) = _models(honeytrace_capture)
    assert event["event_name"] == "litellm.completion"
    assert event["parent_id"] == session.session_id
    assert event["inputs"] == {"messages": MESSAGES}
    assert event["config"]["provider"] == "openai"
    assert event["config"]["model"] == "gpt-4o-mini"
    assert event["config"]["temperature"] == 0.2
    assert event["outputs"]["content"].startswith("Refunds go back")
    assert event["metrics"]["prompt_tokens"] == 27
    assert event["metrics"]["completion_tokens"] == 15
    assert event["metrics"]["cost_usd"] == pytest.approx(MINI)
    assert event["metadata"]["cost"]["source"] == "reported"
    assert event["metadata"]["cost"]["reporter"] == "litellm"
    assert event["metadata"]["usage_source"] == "reported"
    assert event["metadata"]["response_model"] == "gpt-4o-mini-2024-07-18"


def test_an_acompletion_in_a_task_nests_in_its_span(
    server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    async def main() -> tuple[str, str]:
        async with honeytrace.session("async"), honeytrace.span("ask") as step:
            await litellm.acompletion(
                model="openai/gpt-4o-mini", messages=MESSAGES, **_kwargs(server)
            )
            # LiteLLM reports an async call's outcome from a task of its own: let it run.
            deadline = time.monotonic() + 10
            while honeytrace_litellm.proxy_handler_instance._open:
                assert time.monotonic() < deadline, "LiteLLM never reported the call"
                await asyncio.sleep(0.01)
            return step.event_id, "ok"

    step_id, _ = asyncio.run(main())
    (event,) = _models(honeytrace_capture)
    assert event["event_name"] == "litellm.acompletion"
    assert event["parent_id"] == step_id
    assert event["metrics"]["cost_usd"] == pytest.approx(MINI)


def test_a_stream_records_its_assembled_text_usage_and_time_to_first_token(
    server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    stream = litellm.completion(
        model="openai/gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        **_kwargs(server),
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    assert text == "Refunds take up to 5 business days."
    (event,) = _models(honeytrace_capture)
    assert event["outputs"]["content"] == text
    assert event["metrics"]["prompt_tokens"] == 19
    assert event["metrics"]["completion_tokens"] == 9
    assert event["metrics"]["time_to_first_token_ms"] >= 0
    assert event["metrics"]["cost_usd"] == pytest.approx((19 * 0.15 + 9 * 0.60) / 1e6)


def test_an_embedding(server: FakeOpenAI, honeytrace_capture: Capture) -> None:
    litellm.embedding(
        model="openai/text-embedding-3-small", input=["refund policy", "returns"], **_kwargs(server)
    )

    (event,) = _models(honeytrace_capture)
    assert event["event_name"] == "litellm.embedding"
    assert event["inputs"] == {"input": ["refund policy", "returns"]}
    assert event["outputs"]["embeddings"] == 2  # the fake answers two vectors
    assert event["metrics"]["prompt_tokens"] == 8
    assert event["metrics"]["cost_usd"] > 0


def test_tool_calls(server: FakeOpenAI, honeytrace_capture: Capture) -> None:
    server.reply("chat_completion_tool_calls.json")
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
            },
        }
    ]
    litellm.completion(model="openai/gpt-4o", messages=MESSAGES, tools=tools, **_kwargs(server))

    (event,) = _models(honeytrace_capture)
    assert event["config"]["tools"] == tools
    calls = event["outputs"]["tool_calls"]
    assert [call["function"]["name"] for call in calls] == ["get_weather"] * 2
    assert event["metrics"]["cache_read_tokens"] == 64
    assert event["metadata"]["finish_reason"] == "tool_calls"


def test_an_error_is_the_event_s_error_and_reaches_the_caller(
    server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    server.error(400, "error_400.json")
    with pytest.raises(litellm.BadRequestError):
        litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, **_kwargs(server))

    (event,) = _models(honeytrace_capture)
    assert "BadRequestError" in event["error"]
    assert event["metadata"]["usage_source"] == "missing"
    assert event["metadata"]["status_code"] == 400
    assert "cost_usd" not in event.get("metrics", {})


@pytest.mark.price_table
def test_a_model_litellm_cannot_price_is_marked_unpriced_not_free(
    server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    body = json.loads(fixture("chat_completion.json"))
    body["model"] = "acme-llm-7"
    server.reply(Reply(body=body))
    litellm.completion(model="openai/acme-llm-7", messages=MESSAGES, **_kwargs(server))

    (event,) = _models(honeytrace_capture)
    # LiteLLM's cost for a model it does not know is 0: not taken as a price. Neither table
    # knows the model either, so the event says so.
    assert "cost_usd" not in event["metrics"]
    assert event["metadata"]["cost"]["unpriced"] is True
    assert "acme-llm-7" in event["metadata"]["cost"]["reason"]


def test_instrument_is_idempotent_and_uninstrument_removes_the_callback(
    server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    handler = honeytrace_litellm.instrument()
    assert honeytrace_litellm.instrument() is handler
    assert [c for c in litellm.callbacks if c is handler] == [handler]
    honeytrace_litellm.uninstrument()
    assert handler not in litellm.callbacks
    litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, **_kwargs(server))
    time.sleep(0)  # nothing to wait for: no callback is registered
    assert [e for e in honeytrace_capture.events if e["event_type"] == "model"] == []


def test_without_litellm_instrument_logs_one_line_and_does_nothing() -> None:
    import subprocess
    import sys

    script = (
        "import logging, sys\n"
        "sys.modules['litellm'] = None\n"  # import litellm -> ImportError
        "logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
        "import honeytrace_litellm\n"
        "print(honeytrace_litellm.instrument())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "None"
    assert "litellm is not installed" in result.stderr
