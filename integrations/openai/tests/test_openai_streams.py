"""Chat Completions streams: the user's iteration is untouched, the event holds the whole
answer and its usage, and it ends however the stream ends."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import honeytrace_openai
import openai
import pytest
from honeytrace_openai import _chat
from openai.types.chat import ChatCompletionChunk
from openai_events import model_events, only_model_event
from openai_fake_server import FakeOpenAI, Reply, fixture

import honeytrace
from honeytrace.testing import Capture

MESSAGES = [{"role": "user", "content": "How long do refunds take?"}]
ANSWER = "Refunds take up to 5 business days."


def dumped(chunks: list[Any]) -> list[Any]:
    return [(type(chunk), chunk.model_dump()) for chunk in chunks]


def untraced_chunks(client: openai.OpenAI, **kwargs: Any) -> list[Any]:
    honeytrace_openai.uninstrument()
    try:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, **kwargs
        )
        return list(stream)
    finally:
        honeytrace_openai.instrument()


def test_a_stream_yields_what_it_yields_untraced_and_records_text_and_usage(
    client: openai.OpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    expected = untraced_chunks(client)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)

    assert isinstance(stream, openai.Stream)
    assert stream.response.status_code == 200
    chunks = list(stream)

    assert dumped(chunks) == dumped(expected)
    assert all(type(chunk) is ChatCompletionChunk and chunk.choices for chunk in chunks)
    assert server.last["stream_options"] == {"include_usage": True}  # asked by the tracer
    event = only_model_event(honeytrace_capture)
    assert event["config"] == {"provider": "openai", "model": "gpt-4o-mini", "stream": True}
    assert event["outputs"] == {"role": "assistant", "content": ANSWER}
    metrics = event["metrics"]
    assert {
        key: metrics[key] for key in ("prompt_tokens", "completion_tokens", "total_tokens")
    } == {
        "prompt_tokens": 19,
        "completion_tokens": 9,
        "total_tokens": 28,
    }
    assert 0 < metrics["time_to_first_token_ms"] <= event["duration"]
    assert event["metadata"]["finish_reason"] == "stop"
    assert "stream_closed_early" not in event["metadata"]


def test_the_users_own_include_usage_is_kept_and_its_chunk_delivered(
    client: openai.OpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    options = {"include_usage": True}
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=options
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert dumped(chunks) == dumped(untraced_chunks(client, stream_options=options))
    event = only_model_event(honeytrace_capture)
    assert event["config"]["stream_options"] == options
    assert event["metrics"]["total_tokens"] == 28


def test_include_usage_false_is_respected(
    client: openai.OpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    options = {"include_usage": False}
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=options
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream) == ANSWER
    assert server.last["stream_options"] == options
    event = only_model_event(honeytrace_capture)
    assert "total_tokens" not in event["metrics"]
    assert event["outputs"]["content"] == ANSWER


def test_stream_usage_can_be_turned_off(
    client: openai.OpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    honeytrace_openai.instrument(stream_usage=False)
    list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert "stream_options" not in server.last


def test_next_skips_the_hidden_usage_chunk_too(
    client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    chunks = []
    while True:
        try:
            chunks.append(next(stream))
        except StopIteration:
            break
    assert dumped(chunks) == dumped(untraced_chunks(client))
    assert only_model_event(honeytrace_capture)["metrics"]["total_tokens"] == 28


def test_an_early_break_ends_the_event_with_what_came(
    client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    for index, _chunk in enumerate(stream):
        if index == 2:
            break
    honeytrace.flush()
    event = only_model_event(honeytrace_capture)  # ended at the break, not later
    assert event["outputs"]["content"] == "Refunds take"
    assert event["metadata"]["stream_closed_early"] is True
    assert event.get("error") is None
    stream.close()


def test_close_before_reading_ends_the_event(
    client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    stream.close()
    assert stream.response.is_closed
    event = only_model_event(honeytrace_capture)
    assert event["metadata"]["stream_closed_early"] is True
    assert "outputs" not in event or event["outputs"] is None


def test_a_with_block_gives_the_traced_stream_and_ends_the_event(
    client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    with client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    ) as stream:
        assert isinstance(stream, openai.Stream)
        first = next(iter(stream))
        assert first.choices[0].delta.role == "assistant"
    event = only_model_event(honeytrace_capture)
    assert event["metadata"]["stream_closed_early"] is True


def test_a_garbage_collected_stream_ends_the_event(
    client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    next(stream)
    next(stream)
    del stream
    gc.collect()
    event = only_model_event(honeytrace_capture)
    assert event["outputs"]["content"] == "Refunds"
    assert event["metadata"]["stream_closed_early"] is True


def test_streamed_tool_calls_are_assembled(
    client: openai.OpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    server.reply("chat_stream_tool_calls.sse")
    chunks = list(
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, tools=[])
    )
    assert all(chunk.choices for chunk in chunks)
    event = only_model_event(honeytrace_capture)
    assert event["outputs"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location":"Paris, France"}'},
            },
            {
                "id": "call_ABCD1234efgh5678ijkl9012",
                "type": "function",
                "function": {"name": "get_time", "arguments": '{"timezone":"Europe/Paris"}'},
            },
        ],
    }
    assert event["metadata"]["finish_reason"] == "tool_calls"
    assert event["metrics"]["total_tokens"] == 138


def test_an_error_in_the_middle_of_a_stream_is_recorded_and_raised(
    client: openai.OpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    first = fixture("chat_stream.sse").split("\n\n")[1]
    failure = {"error": {"message": "The server had an error", "type": "server_error"}}
    server.reply(Reply(sse=f"{first}\n\ndata: {json.dumps(failure)}\n\n"))
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError, match="The server had an error"):
        list(stream)
    event = only_model_event(honeytrace_capture)
    assert event["error"] == "APIError: The server had an error"
    assert event["outputs"]["content"] == "Refunds"


def test_a_server_refusing_stream_options_gets_the_users_call_and_is_not_asked_again(
    server: FakeOpenAI, honeytrace_capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_chat, "_refusing_servers", set())
    compatible = openai.OpenAI(api_key="k", base_url=server.url, max_retries=0)
    server.error(400, "error_400_stream_options.json")
    first = list(compatible.chat.completions.create(model="local", messages=MESSAGES, stream=True))
    second = list(compatible.chat.completions.create(model="local", messages=MESSAGES, stream=True))
    assert [request.body.get("stream_options") for request in server.received] == [
        {"include_usage": True},
        None,
        None,
    ]
    assert "".join(chunk.choices[0].delta.content or "" for chunk in first) == ANSWER
    assert dumped(first) == dumped(second)
    events = model_events(honeytrace_capture)
    assert [event["outputs"]["content"] for event in events] == [ANSWER, ANSWER]
    assert all(event.get("error") is None for event in events)


def test_the_stream_helper_is_one_event_named_after_it(
    client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        deltas = [event.delta for event in stream if event.type == "content.delta"]
        final = stream.get_final_completion()
    assert "".join(deltas) == ANSWER == final.choices[0].message.content
    assert final.usage is None  # as untraced: the helper's user did not ask for usage
    event = only_model_event(honeytrace_capture)
    assert event["event_name"] == "openai.chat.completions.stream"
    assert event["outputs"]["content"] == ANSWER
    assert event["metrics"]["total_tokens"] == 28


def test_leaving_the_stream_helper_early_ends_the_event(
    client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        for event in stream:
            if event.type == "content.delta" and event.delta:
                break
    recorded = only_model_event(honeytrace_capture)
    assert recorded["metadata"]["stream_closed_early"] is True
    assert recorded["outputs"]["content"] == "Refunds"


def test_async_streams_behave_the_same(
    async_client: openai.AsyncOpenAI, honeytrace_capture: Capture
) -> None:
    async def main() -> list[Any]:
        stream = await async_client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        assert isinstance(stream, openai.AsyncStream)
        return [chunk async for chunk in stream]

    chunks = asyncio.run(main())
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks) == ANSWER
    assert all(chunk.choices for chunk in chunks)
    event = only_model_event(honeytrace_capture)
    assert event["outputs"]["content"] == ANSWER
    assert event["metrics"]["total_tokens"] == 28
    assert event["metrics"]["time_to_first_token_ms"] > 0


def test_async_early_exit_close_and_with(
    async_client: openai.AsyncOpenAI, honeytrace_capture: Capture
) -> None:
    async def main() -> None:
        broken = await async_client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        async for _chunk in broken:
            break
        await broken.close()
        async with await async_client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ) as managed:
            assert isinstance(managed, openai.AsyncStream)
            await managed.__anext__()
        nexted = await async_client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        chunks = []
        while True:
            try:
                chunks.append(await nexted.__anext__())
            except StopAsyncIteration:
                break
        assert all(chunk.choices for chunk in chunks)

    asyncio.run(main())
    first, second, third = model_events(honeytrace_capture)
    assert first["metadata"]["stream_closed_early"] is True
    assert second["metadata"]["stream_closed_early"] is True
    assert third["outputs"]["content"] == ANSWER
    assert "stream_closed_early" not in third["metadata"]


def test_the_async_stream_helper(
    async_client: openai.AsyncOpenAI, honeytrace_capture: Capture
) -> None:
    async def main() -> str:
        async with async_client.chat.completions.stream(
            model="gpt-4o-mini", messages=MESSAGES
        ) as stream:
            final = await stream.get_final_completion()
        return final.choices[0].message.content or ""

    assert asyncio.run(main()) == ANSWER
    event = only_model_event(honeytrace_capture)
    assert event["event_name"] == "openai.chat.completions.stream"
    assert event["outputs"]["content"] == ANSWER
