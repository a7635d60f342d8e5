"""google-genai calls as honeytrace model events: the real client against a Gemini-shaped fake
server on 127.0.0.1; sync, async, streams, chats, function calls, errors; usage with thinking
and cached tokens, and cost."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from gemini_fake_server import FakeGemini, function_call
from google import genai
from google.genai import errors, types

import honeytrace
from honeytrace.testing import Capture

# gemini-2.5-flash: 20 fresh input at $0.30, 100 cached at $0.03, 50 output (20 + 30 thinking)
# at $2.50 per million tokens.
COST = (20 * 0.30 + 100 * 0.03 + 50 * 2.50) / 1e6


def _models(capture: Capture) -> list[dict[str, Any]]:
    return [event for event in capture.events if event["event_type"] == "model"]


def test_generate_content_is_one_model_event_with_usage_and_cost(
    client: genai.Client, honeytrace_capture: Capture
) -> None:
    with honeytrace.session("support") as session:
        response = client.models.generate_content(
            model="gemini-2.5-flash",
            contents="How do refunds work?",
            config=types.GenerateContentConfig(temperature=0.2, max_output_tokens=256),
        )

    assert response.text == "Refunds take 5 business days."
    (event,) = _models(honeytrace_capture)
    assert event["event_name"] == "google.models.generate_content"
    assert event["parent_id"] == session.session_id
    assert event["inputs"] == {"contents": "How do refunds work?"}
    assert event["config"]["provider"] == "google"
    assert event["config"]["model"] == "gemini-2.5-flash"
    assert event["config"]["temperature"] == 0.2
    assert event["config"]["max_output_tokens"] == 256
    assert event["outputs"] == {
        "role": "model",
        "content": "Refunds take 5 business days.",
        "thoughts": "The user asks about refunds.",
    }
    metrics = event["metrics"]
    assert metrics["prompt_tokens"] == 120
    assert metrics["completion_tokens"] == 50  # thinking included
    assert metrics["reasoning_tokens"] == 30
    assert metrics["cache_read_tokens"] == 100
    assert metrics["total_tokens"] == 170
    assert metrics["cost_usd"] == pytest.approx(COST)
    assert event["metadata"]["cost"]["source"] == "genai-prices"
    assert event["metadata"]["response_model"] == "gemini-2.5-flash"
    assert event["metadata"]["finish_reason"] == "STOP"


def test_a_stream_is_assembled_with_time_to_first_token(
    client: genai.Client, honeytrace_capture: Capture
) -> None:
    text = "".join(
        chunk.text or ""
        for chunk in client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="refunds?"
        )
    )

    assert text == "Refunds take 5 business days."
    (event,) = _models(honeytrace_capture)
    assert event["event_name"] == "google.models.generate_content_stream"
    assert event["outputs"]["content"] == text
    assert event["outputs"]["thoughts"] == "The user asks about refunds."
    assert event["metrics"]["time_to_first_token_ms"] >= 0
    assert event["metrics"]["cost_usd"] == pytest.approx(COST)


def test_async_calls_and_streams(client: genai.Client, honeytrace_capture: Capture) -> None:
    async def main() -> str:
        async with honeytrace.session("async") as session:
            await client.aio.models.generate_content(model="gemini-2.5-flash", contents="a")
            stream = await client.aio.models.generate_content_stream(
                model="gemini-2.5-flash", contents="b"
            )
            async for _ in stream:
                pass
        return session.session_id

    session_id = asyncio.run(main())
    events = _models(honeytrace_capture)
    assert [e["event_name"] for e in events] == [
        "google.models.generate_content",
        "google.models.generate_content_stream",
    ]
    assert {e["parent_id"] for e in events} == {session_id}
    assert all(e["metrics"]["cost_usd"] == pytest.approx(COST) for e in events)


def test_a_chat_records_each_turn(client: genai.Client, honeytrace_capture: Capture) -> None:
    chat = client.chats.create(model="gemini-2.5-flash")
    chat.send_message("hello")
    chat.send_message("and refunds?")

    first, second = _models(honeytrace_capture)
    assert second["inputs"]["contents"][-1] == {"role": "user", "parts": [{"text": "and refunds?"}]}
    assert len(second["inputs"]["contents"]) > len(first["inputs"]["contents"])


def test_function_calls(
    client: genai.Client, server: FakeGemini, honeytrace_capture: Capture
) -> None:
    server.reply(function_call())
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[types.FunctionDeclaration(name="get_weather")])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    client.models.generate_content(model="gemini-2.5-flash", contents="weather?", config=config)

    (event,) = _models(honeytrace_capture)
    assert event["outputs"]["function_calls"] == [
        {"name": "get_weather", "args": {"city": "Paris"}}
    ]
    assert event["config"]["tools"][0]["function_declarations"][0]["name"] == "get_weather"


def test_an_api_error_is_the_event_s_error(
    client: genai.Client, server: FakeGemini, honeytrace_capture: Capture
) -> None:
    server.reply(
        {"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}},
        status=429,
    )
    with pytest.raises(errors.ClientError):
        client.models.generate_content(model="gemini-2.5-flash", contents="x")

    (event,) = _models(honeytrace_capture)
    assert "ClientError" in event["error"] and "429" in event["error"]
    assert event["metadata"]["usage_source"] == "missing"
    assert "cost" not in event["metadata"]


def test_uninstrument_stops_tracing(client: genai.Client, honeytrace_capture: Capture) -> None:
    import honeytrace_google_genai

    honeytrace_google_genai.uninstrument()
    client.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert _models(honeytrace_capture) == []
