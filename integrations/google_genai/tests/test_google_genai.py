"""The real google-genai client against a fake Gemini API: what each call records, where it
nests, its usage (thinking and cached tokens included) and its errors."""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
from typing import Any

import honeytrace_google_genai
import pytest
from genai_fake_server import Answer, FakeGemini, error, function_call, text
from google import genai
from google.genai import errors, types
from pydantic import BaseModel

import honeytrace
from honeytrace.testing import Capture

MODEL = "gemini-2.5-flash"
USAGE = {
    "prompt_tokens": 40,
    "completion_tokens": 16,  # 10 candidate tokens + 6 thinking tokens
    "total_tokens": 56,
    "cache_read_tokens": 16,
    "reasoning_tokens": 6,
}
GENERATE = "google.genai.models.generate_content"
STREAM = "google.genai.models.generate_content_stream"


def priced_usage(event: dict[str, Any]) -> dict[str, Any]:
    """The event's usage metrics, once its cost was checked: a known model is priced by the
    flusher (``metrics.cost_usd`` with its provenance in ``metadata.cost``)."""
    metrics = dict(event["metrics"])
    cost = metrics.pop("cost_usd")
    assert cost > 0
    assert event["metadata"]["cost"]["source"] == "genai-prices"
    assert event["metadata"]["cost"]["model_ref"]
    return metrics


def user(*texts: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": item} for item in texts]}


def model_events(capture: Capture) -> list[dict[str, Any]]:
    return [event for event in capture.events if event["event_type"] == "model"]


@pytest.mark.price_table
def test_generate_content_is_one_model_event_in_the_session(
    fake: FakeGemini, client: genai.Client, honeytrace_capture: Capture
) -> None:
    fake.script.append(text("Refunds take 5 days."))
    config = types.GenerateContentConfig(
        temperature=0.2, max_output_tokens=200, system_instruction="Be brief."
    )

    with honeytrace.session("support") as session:
        response = client.models.generate_content(
            model=MODEL, contents="How long do refunds take?", config=config
        )

    assert response.text == "Refunds take 5 days."
    (event,) = model_events(honeytrace_capture)
    assert event["event_name"] == GENERATE
    assert event["parent_id"] == session.session_id
    assert event["inputs"] == {
        "messages": [user("How long do refunds take?")],
        "system_instruction": "Be brief.",
    }
    assert event["config"] == {
        "provider": "google",
        "model": MODEL,
        "temperature": 0.2,
        "max_output_tokens": 200,
    }
    assert event["outputs"] == {"role": "model", "content": "Refunds take 5 days."}
    assert priced_usage(event) == USAGE
    assert event["metadata"]["usage_source"] == "reported"
    assert event["metadata"]["response_model"] == f"{MODEL}-001"
    assert event["metadata"]["finish_reason"] == "STOP"
    assert event["metadata"]["base_url"] == fake.url
    assert not event.get("error")


@pytest.mark.price_table
def test_a_stream_is_assembled_with_its_usage_and_time_to_first_token(
    fake: FakeGemini, client: genai.Client, honeytrace_capture: Capture
) -> None:
    fake.script.append(text("Refunds take five business days."))

    chunks = list(
        client.models.generate_content_stream(model=MODEL, contents=["Refunds?", "Be quick."])
    )

    assert [chunk.text for chunk in chunks] == ["Refunds", " take", " five", " business", " days."]
    assert all(isinstance(chunk, types.GenerateContentResponse) for chunk in chunks)
    (event,) = model_events(honeytrace_capture)
    assert event["event_name"] == STREAM
    assert event["inputs"] == {"messages": [user("Refunds?", "Be quick.")]}
    assert event["outputs"] == {"role": "model", "content": "Refunds take five business days."}
    ttft = event["metrics"].pop("time_to_first_token_ms")
    assert 0 < ttft <= event["duration"]
    assert priced_usage(event) == USAGE
    assert "stream_closed_early" not in event["metadata"]
    # Outside any session the call opened its own.
    assert honeytrace_capture.session()["session_id"] == event["parent_id"]


@pytest.mark.price_table
def test_async_calls_streams_and_chats_are_traced(
    fake: FakeGemini, client: genai.Client, honeytrace_capture: Capture
) -> None:
    fake.script.extend([text("First answer."), text("Second answer here."), text("Third.")])

    async def three() -> tuple[str | None, str, str | None]:
        async with honeytrace.session("async-support"):
            first = await client.aio.models.generate_content(model=MODEL, contents="One?")
            stream = await client.aio.models.generate_content_stream(model=MODEL, contents="Two?")
            pieces = [chunk.text or "" async for chunk in stream]
            chat = client.aio.chats.create(model=MODEL)
            third = await chat.send_message("Three?")
        return first.text, "".join(pieces), third.text

    assert asyncio.run(three()) == ("First answer.", "Second answer here.", "Third.")
    first, second, third = model_events(honeytrace_capture)
    session = honeytrace_capture.session()
    assert [first["event_name"], second["event_name"], third["event_name"]] == [
        GENERATE,
        STREAM,
        GENERATE,
    ]
    assert {first["parent_id"], second["parent_id"], third["parent_id"]} == {session["session_id"]}
    assert second["outputs"]["content"] == "Second answer here."
    assert third["inputs"] == {"messages": [user("Three?")]}
    assert priced_usage(first) == USAGE
    assert second["metrics"]["time_to_first_token_ms"] > 0


def test_a_chat_records_each_message_with_the_history(
    fake: FakeGemini, client: genai.Client, honeytrace_capture: Capture
) -> None:
    fake.script.extend([text("Hello Ada."), text("You said your name is Ada.")])
    chat = client.chats.create(model=MODEL, config=types.GenerateContentConfig(temperature=0.5))

    with honeytrace.session("chat"):
        chat.send_message("I am Ada.")
        streamed = "".join(chunk.text or "" for chunk in chat.send_message_stream("Who am I?"))

    assert streamed == "You said your name is Ada."
    first, second = model_events(honeytrace_capture)
    assert [first["event_name"], second["event_name"]] == [GENERATE, STREAM]
    assert second["inputs"]["messages"] == [
        user("I am Ada."),
        {"role": "model", "parts": [{"text": "Hello Ada."}]},
        user("Who am I?"),
    ]
    assert first["config"]["temperature"] == 0.5
    assert "http_options" not in first["config"]  # the chat's usage header stays out
    assert len(model_events(honeytrace_capture)) == 2  # nothing recorded twice


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


def test_function_calls_are_outputs_and_automatic_calling_is_one_event(
    fake: FakeGemini, client: genai.Client, honeytrace_capture: Capture
) -> None:
    declared = types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="get_weather",
                parameters=types.Schema(
                    type=types.Type.OBJECT, properties={"city": types.Schema(type="STRING")}
                ),
            )
        ]
    )
    fake.script.extend(
        [
            function_call("get_weather", {"city": "Paris"}),
            function_call("get_weather", {"city": "Rome"}),
            text("It is sunny in Rome."),
        ]
    )

    response = client.models.generate_content(
        model=MODEL,
        contents="Weather in Paris?",
        config=types.GenerateContentConfig(tools=[declared]),
    )
    automatic = client.models.generate_content(
        model=MODEL,
        contents="Weather in Rome?",
        config=types.GenerateContentConfig(tools=[get_weather]),
    )

    assert response.function_calls is not None and automatic.text == "It is sunny in Rome."
    declared_call, automatic_call = model_events(honeytrace_capture)
    assert declared_call["outputs"]["tool_calls"] == [
        {"id": None, "name": "get_weather", "args": {"city": "Paris"}}
    ]
    assert declared_call["config"]["tools"][0]["function_declarations"][0]["name"] == "get_weather"
    # The SDK called the function and the model again inside the one call the app made.
    assert automatic_call["config"]["tools"] == [{"function": "get_weather"}]
    assert automatic_call["outputs"]["content"] == "It is sunny in Rome."
    assert automatic_call["metadata"]["automatic_function_calling_turns"] == 3
    assert len(fake.requests) == 3


def test_an_api_error_is_recorded_and_raised_unchanged(
    fake: FakeGemini, client: genai.Client, honeytrace_capture: Capture
) -> None:
    fake.script.append(error(400, "INVALID_ARGUMENT", "Request contains an invalid argument."))

    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model=MODEL, contents="Hi")

    assert raised.value.code == 400
    (event,) = model_events(honeytrace_capture)
    assert "ClientError: 400 INVALID_ARGUMENT" in event["error"]
    assert "invalid argument" in event["error"]
    assert event["metadata"]["status_code"] == 400
    assert event["metadata"]["error_code"] == "INVALID_ARGUMENT"
    assert event["metadata"]["usage_source"] == "missing"
    assert not event.get("metrics")


def test_an_error_in_a_stream_ends_its_event(
    fake: FakeGemini, client: genai.Client, honeytrace_capture: Capture
) -> None:
    fake.script.append(error(400, "INVALID_ARGUMENT", "Bad stream."))

    with pytest.raises(errors.ClientError):
        list(client.models.generate_content_stream(model=MODEL, contents="Hi"))

    (event,) = model_events(honeytrace_capture)
    assert event["event_name"] == STREAM
    assert "Bad stream." in event["error"]


def test_instrument_is_idempotent_and_uninstrument_restores(
    fake: FakeGemini, client: genai.Client, honeytrace_capture: Capture
) -> None:
    original = genai.models.Models.generate_content
    assert honeytrace_google_genai.instrument() is honeytrace_google_genai.instrument()
    fake.script.extend([text("Once."), text("Untraced.")])
    client.models.generate_content(model=MODEL, contents="Hi")
    assert len(model_events(honeytrace_capture)) == 1

    honeytrace_google_genai.uninstrument()
    assert genai.models.Models.generate_content is not original
    assert not hasattr(genai.models.Models.generate_content, "__wrapped__")
    client.models.generate_content(model=MODEL, contents="Hi")
    assert len(model_events(honeytrace_capture)) == 1


@pytest.mark.parametrize("installed", [None, "0.8.0"])
def test_a_missing_or_old_sdk_is_one_log_line_and_nothing_else(
    installed: str | None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    honeytrace_google_genai.uninstrument()
    real_version = importlib.metadata.version

    def version(name: str) -> str:
        if name != "google-genai":
            return real_version(name)
        if installed is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return installed

    monkeypatch.setattr(importlib.metadata, "version", version)
    with caplog.at_level(logging.DEBUG, logger="honeytrace"):
        handle = honeytrace_google_genai.instrument()
    assert not handle.active
    assert len(caplog.records) == 1
    assert "google-genai" in caplog.records[0].getMessage()
    assert not hasattr(genai.models.Models.generate_content, "__wrapped__")


def test_a_stream_left_early_ends_its_event_with_what_came(
    fake: FakeGemini, client: genai.Client, honeytrace_capture: Capture
) -> None:
    fake.script.append(text("Refunds take five business days."))

    for chunk in client.models.generate_content_stream(model=MODEL, contents="Refunds?"):
        assert chunk.text == "Refunds"
        break

    (event,) = model_events(honeytrace_capture)
    assert event["outputs"]["content"] == "Refunds"
    assert event["metadata"]["stream_closed_early"] is True
    assert event["metadata"]["usage_source"] == "reported"  # the prompt count came first


def test_images_and_function_results_are_described_not_copied(
    fake: FakeGemini, client: genai.Client, honeytrace_capture: Capture
) -> None:
    fake.script.append(text("A cat."))
    image = types.Part.from_bytes(data=b"\x89PNG" + bytes(1000), mime_type="image/png")
    answer = types.Part.from_function_response(name="lookup", response={"found": True})

    client.models.generate_content(
        model=MODEL,
        contents=[
            types.Content(role="user", parts=[types.Part.from_text(text="What is it?"), image]),
            types.Content(role="user", parts=[answer]),
        ],
    )

    (event,) = model_events(honeytrace_capture)
    assert event["inputs"]["messages"] == [
        {
            "role": "user",
            "parts": [
                {"text": "What is it?"},
                {"inline_data": {"mime_type": "image/png", "bytes": 1004}},
            ],
        },
        {
            "role": "user",
            "parts": [{"function_response": {"name": "lookup", "response": {"found": True}}}],
        },
    ]


class Refund(BaseModel):
    order_id: str
    days: int


def test_a_structured_output_request_records_its_schema_by_name(
    fake: FakeGemini, client: genai.Client, honeytrace_capture: Capture
) -> None:
    fake.script.append(text('{"order_id": "A-1", "days": 5}'))
    config = types.GenerateContentConfig(
        response_mime_type="application/json", response_schema=Refund
    )

    response = client.models.generate_content(model=MODEL, contents="Refund?", config=config)

    assert response.parsed == Refund(order_id="A-1", days=5)
    (event,) = model_events(honeytrace_capture)
    assert event["config"]["response_schema"] == "Refund"
    assert event["config"]["response_mime_type"] == "application/json"
    assert event["outputs"]["content"] == '{"order_id": "A-1", "days": 5}'


def test_thought_summaries_are_kept_apart_from_the_answer(
    fake: FakeGemini, client: genai.Client, honeytrace_capture: Capture
) -> None:
    fake.script.append(
        Answer([{"text": "Refunds policy says 5 days.", "thought": True}, {"text": "5 days."}])
    )
    thinking = types.ThinkingConfig(include_thoughts=True, thinking_budget=512)

    response = client.models.generate_content(
        model=MODEL,
        contents="Refunds?",
        config=types.GenerateContentConfig(thinking_config=thinking),
    )

    assert response.text == "5 days."
    (event,) = model_events(honeytrace_capture)
    assert event["outputs"] == {
        "role": "model",
        "content": "5 days.",
        "thoughts": "Refunds policy says 5 days.",
    }
    assert event["config"]["thinking_config"] == {"include_thoughts": True, "thinking_budget": 512}
    assert event["metrics"]["reasoning_tokens"] == 6
