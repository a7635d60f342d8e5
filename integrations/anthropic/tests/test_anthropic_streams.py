"""Anthropic streams, raw (``create(stream=True)``) and through ``messages.stream``: the user
reads what they read untraced, and the event holds the text, tool calls and usage."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import anthropic
import honeytrace_anthropic
import pytest
from anthropic.lib.streaming import AsyncMessageStream, MessageStream
from anthropic_events import model_events, only_model_event
from anthropic_fake_server import FakeAnthropic

import honeytrace
from honeytrace.testing import Capture

MODEL = "claude-sonnet-4-6"
MESSAGES = [{"role": "user", "content": "How long do refunds take?"}]
ANSWER = "Refunds take up to 5 business days."
USAGE = {"prompt_tokens": 472, "completion_tokens": 15, "total_tokens": 487}


def usage(event: dict[str, Any]) -> dict[str, Any]:
    return {key: event["metrics"][key] for key in USAGE}


def raw_events(client: anthropic.Anthropic) -> list[Any]:
    return list(client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True))


def test_a_raw_stream_yields_what_it_yields_untraced(
    client: anthropic.Anthropic, honeytrace_capture: Capture
) -> None:
    honeytrace_anthropic.uninstrument()
    expected = [(type(e), e.model_dump()) for e in raw_events(client)]
    honeytrace_anthropic.instrument()

    stream = client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True)
    assert isinstance(stream, anthropic.Stream)
    events = list(stream)

    assert [(type(e), e.model_dump()) for e in events] == expected
    event = only_model_event(honeytrace_capture)
    assert event["config"]["stream"] is True
    assert event["outputs"] == {"role": "assistant", "content": ANSWER}
    assert usage(event) == USAGE
    assert 0 < event["metrics"]["time_to_first_token_ms"] <= event["duration"]
    assert event["metadata"]["stop_reason"] == "end_turn"


def test_the_stream_helper_text_stream(
    client: anthropic.Anthropic, honeytrace_capture: Capture
) -> None:
    with (
        honeytrace.session("chat"),
        client.messages.stream(
            model=MODEL, max_tokens=64, messages=MESSAGES, system="Be brief."
        ) as stream,
    ):
        assert isinstance(stream, MessageStream)
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == ANSWER
    assert final.usage.output_tokens == 15
    event = only_model_event(honeytrace_capture)
    assert event["event_name"] == "anthropic.messages.stream"
    assert event["inputs"] == {"messages": MESSAGES, "system": "Be brief."}
    assert event["outputs"] == {"role": "assistant", "content": ANSWER}
    assert usage(event) == USAGE
    assert event["metrics"]["time_to_first_token_ms"] > 0
    assert event["parent_id"] == honeytrace_capture.session("chat")["session_id"]


def test_the_stream_helper_read_every_other_way(
    client: anthropic.Anthropic, honeytrace_capture: Capture
) -> None:
    with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        kinds = [event.type for event in stream]
    assert kinds[0] == "message_start" and "text" in kinds and kinds[-1] == "message_stop"
    with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        assert stream.get_final_text() == ANSWER
    with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        stream.until_done()
    events = model_events(honeytrace_capture)
    assert [e["outputs"]["content"] for e in events] == [ANSWER] * 3
    assert all("stream_closed_early" not in e["metadata"] for e in events)


def test_streamed_tool_use_is_assembled(
    client: anthropic.Anthropic, server: FakeAnthropic, honeytrace_capture: Capture
) -> None:
    server.reply("message_stream_tool_use.sse")
    with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    event = only_model_event(honeytrace_capture)
    assert event["outputs"] == {
        "role": "assistant",
        "content": "Checking the order.",
        "tool_calls": [
            {
                "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                "type": "tool_use",
                "name": "lookup_order",
                "input": {"order_id": "A-1001"},
            }
        ],
    }
    assert event["metrics"]["completion_tokens"] == 89


def test_leaving_the_helper_early_ends_the_event(
    client: anthropic.Anthropic, honeytrace_capture: Capture
) -> None:
    with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        for text in stream.text_stream:
            assert text == "Refunds"
            break
        honeytrace.flush()
        assert model_events(honeytrace_capture) == []  # still open inside the block
    event = only_model_event(honeytrace_capture)
    assert event["outputs"] == {"role": "assistant", "content": "Refunds"}
    assert event["metadata"]["stream_closed_early"] is True
    assert event.get("error") is None


def test_raw_stream_break_close_and_gc(
    client: anthropic.Anthropic, honeytrace_capture: Capture
) -> None:
    broken = client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True)
    for event in broken:
        if event.type == "content_block_delta":
            break
    closed = client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True)
    closed.close()
    collected = client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True)
    next(collected)
    del collected
    gc.collect()

    first, second, third = model_events(honeytrace_capture)
    assert first["outputs"]["content"] == "Refunds"
    assert all(e["metadata"]["stream_closed_early"] is True for e in (first, second, third))
    assert third["metadata"]["response_id"] == "msg_014p7gG3wDgGV9EUtLvnow3U"
    broken.close()


def test_an_error_event_in_a_stream_is_recorded_and_raised(
    client: anthropic.Anthropic, server: FakeAnthropic, honeytrace_capture: Capture
) -> None:
    server.reply("message_stream_error.sse")
    with (
        pytest.raises(anthropic.APIStatusError, match="Overloaded"),
        client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream,
    ):
        stream.get_final_message()
    event = only_model_event(honeytrace_capture)
    assert "Overloaded" in event["error"]
    assert event["metadata"]["error_type"] == "overloaded_error"
    assert event["outputs"]["content"] == "Refunds"


def test_a_helper_whose_request_fails_records_the_error(
    client: anthropic.Anthropic, server: FakeAnthropic, honeytrace_capture: Capture
) -> None:
    server.error(429, "error_429.json")
    manager = client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES)
    with pytest.raises(anthropic.RateLimitError), manager:
        pass
    event = only_model_event(honeytrace_capture)
    assert event["event_name"] == "anthropic.messages.stream"
    assert event["metadata"]["status_code"] == 429


def test_async_streams(async_client: anthropic.AsyncAnthropic, honeytrace_capture: Capture) -> None:
    async def main() -> tuple[str, list[str], str]:
        async with async_client.messages.stream(
            model=MODEL, max_tokens=64, messages=MESSAGES
        ) as stream:
            assert isinstance(stream, AsyncMessageStream)
            text = "".join([piece async for piece in stream.text_stream])
        raw = await async_client.messages.create(
            model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
        )
        assert isinstance(raw, anthropic.AsyncStream)
        kinds = [event.type async for event in raw]
        async with async_client.messages.stream(
            model=MODEL, max_tokens=64, messages=MESSAGES
        ) as early:
            first = ""
            async for piece in early.text_stream:
                first = piece
                break
        return text, kinds, first

    text, kinds, piece = asyncio.run(main())
    assert text == ANSWER and piece == "Refunds"
    assert kinds[-1] == "message_stop"
    helper, raw, early = model_events(honeytrace_capture)
    assert helper["event_name"] == "anthropic.messages.stream"
    assert helper["outputs"]["content"] == ANSWER == raw["outputs"]["content"]
    assert usage(helper) == USAGE == usage(raw)
    assert early["metadata"]["stream_closed_early"] is True


def test_the_beta_stream_helper(client: anthropic.Anthropic, honeytrace_capture: Capture) -> None:
    with client.beta.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        assert "".join(stream.text_stream) == ANSWER
    event = only_model_event(honeytrace_capture)
    assert event["event_name"] == "anthropic.beta.messages.stream"
    assert event["outputs"]["content"] == ANSWER
