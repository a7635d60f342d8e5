"""The Responses API and Embeddings: what their calls record, streamed or not."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from openai.types.responses import Response
from openai_events import only_model_event
from openai_fake_server import FakeOpenAI, Reply, fixture

from honeytrace.testing import Capture

TEXT = "Refunds reach your card within 5 business days."


@pytest.mark.price_table
def test_responses_create_records_input_text_tool_calls_and_usage(
    client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    response = client.responses.create(
        model="gpt-4.1",
        input="How long do refunds take for order A-1001?",
        instructions="You are a concise support agent.",
        temperature=0.2,
    )

    assert type(response) is Response
    event = only_model_event(honeytrace_capture)
    assert event["event_name"] == "openai.responses.create"
    assert event["inputs"] == {
        "input": "How long do refunds take for order A-1001?",
        "instructions": "You are a concise support agent.",
    }
    assert event["config"] == {"provider": "openai", "model": "gpt-4.1", "temperature": 0.2}
    outputs = event["outputs"]
    assert outputs["role"] == "assistant"
    assert outputs["content"] == TEXT == response.output_text
    assert outputs["tool_calls"] == [
        {
            "id": "call_yV7BdPNx0Wq5mC8t2sLk4RhZ",
            "type": "function",
            "function": {"name": "lookup_order", "arguments": '{"order_id":"A-1001"}'},
        }
    ]
    assert [item["type"] for item in outputs["output_items"]] == ["reasoning"]
    assert event["metrics"].pop("cost_usd") > 0  # priced by the flusher (test_openai_cost.py)
    assert event["metrics"] == {"prompt_tokens": 36, "completion_tokens": 11, "total_tokens": 47}
    assert event["metadata"]["status"] == "completed"
    assert event["metadata"]["response_model"] == "gpt-4.1-2025-04-14"


def test_a_failed_response_sets_the_error(
    client: openai.OpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    body = json.loads(fixture("responses_response.json"))
    body["status"] = "failed"
    body["output"] = []
    body["error"] = {"code": "server_error", "message": "The model failed to answer."}
    server.reply(Reply(body=body))
    response = client.responses.create(model="gpt-4.1", input="hi")
    assert response.status == "failed"  # returned, not raised, by the SDK: the same here
    assert (
        only_model_event(honeytrace_capture)["error"] == "server_error: The model failed to answer."
    )


def test_responses_streams_are_assembled_from_their_events(
    client: openai.OpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    stream = client.responses.create(model="gpt-4.1", input="refunds?", stream=True)
    events = list(stream)

    assert [event.type for event in events][-1] == "response.completed"
    assert len(events) == fixture("responses_stream.sse").count("event: ")
    assert "stream_options" not in server.last
    recorded = only_model_event(honeytrace_capture)
    assert recorded["outputs"] == {"role": "assistant", "content": TEXT}
    assert recorded["metrics"]["total_tokens"] == 47
    assert recorded["metrics"]["time_to_first_token_ms"] > 0


def test_a_responses_stream_left_early_keeps_the_text_so_far(
    client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    stream = client.responses.create(model="gpt-4.1", input="refunds?", stream=True)
    for event in stream:
        if event.type == "response.output_text.delta":
            break
    stream.close()
    recorded = only_model_event(honeytrace_capture)
    assert recorded["outputs"] == {"role": "assistant", "content": "Refunds"}
    assert recorded["metadata"]["stream_closed_early"] is True
    assert recorded["metadata"]["response_id"].startswith("resp_")


def test_the_responses_stream_helper(client: openai.OpenAI, honeytrace_capture: Capture) -> None:
    with client.responses.stream(model="gpt-4.1", input="refunds?") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == TEXT == final.output_text
    recorded = only_model_event(honeytrace_capture)
    assert recorded["event_name"] == "openai.responses.stream"
    assert recorded["outputs"]["content"] == TEXT


def test_async_responses(async_client: openai.AsyncOpenAI, honeytrace_capture: Capture) -> None:
    async def main() -> str:
        response = await async_client.responses.create(model="gpt-4.1", input="refunds?")
        stream = await async_client.responses.create(model="gpt-4.1", input="?", stream=True)
        async for _event in stream:
            pass
        return response.output_text

    assert asyncio.run(main()) == TEXT
    events = [e for e in honeytrace_capture.events if e["event_type"] == "model"]
    assert [e["outputs"]["content"] for e in events] == [TEXT, TEXT]


def test_embeddings_record_counts_not_vectors(
    client: openai.OpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    texts = ["refund policy", "shipping times"]
    result = client.embeddings.create(model="text-embedding-3-small", input=texts)

    assert len(result.data) == 2 and len(result.data[0].embedding) == 4
    event = only_model_event(honeytrace_capture)
    assert event["event_name"] == "openai.embeddings.create"
    assert event["inputs"] == {"input": texts}
    assert event["config"]["model"] == "text-embedding-3-small"
    assert event["outputs"] == {"embeddings": 2, "dimensions": 4}
    event["metrics"].pop("cost_usd", None)
    assert event["metrics"] == {"prompt_tokens": 8, "total_tokens": 8}


def test_async_embeddings_and_their_errors(
    async_client: openai.AsyncOpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    async def main() -> None:
        await async_client.embeddings.create(model="text-embedding-3-small", input="refund")
        server.error(429, "error_429.json")
        try:
            await async_client.embeddings.create(model="text-embedding-3-small", input="refund")
        except openai.RateLimitError:
            return
        raise AssertionError("the error was not raised")

    asyncio.run(main())
    ok, failed = [e for e in honeytrace_capture.events if e["event_type"] == "model"]
    assert ok["outputs"] == {"embeddings": 2, "dimensions": 4}
    assert failed["metadata"]["status_code"] == 429
