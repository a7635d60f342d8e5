"""Chat Completions without streaming: what one call records, sync and async, and errors."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from openai.types.chat import ChatCompletion
from openai_events import only_model_event
from openai_fake_server import FakeOpenAI, Reply, fixture
from pydantic import BaseModel

import honeytrace
from honeytrace.testing import Capture

MESSAGES = [
    {"role": "system", "content": "You are a support agent."},
    {"role": "user", "content": "How do refunds work?"},
]


@pytest.mark.price_table
def test_a_call_is_one_model_event_with_request_and_response(
    client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=100, user="ada"
    )

    assert type(completion) is ChatCompletion
    event = only_model_event(honeytrace_capture)
    assert event["event_name"] == "openai.chat.completions.create"
    assert event["inputs"] == {"messages": MESSAGES}
    assert event["config"] == {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "temperature": 0.2,
        "max_tokens": 100,
        "user": "ada",
    }
    assert event["outputs"] == {
        "role": "assistant",
        "content": "Refunds go back to the original payment method within 5 business days.",
    }
    assert event["metrics"].pop("cost_usd") > 0  # priced by the flusher (test_openai_cost.py)
    assert event["metrics"] == {"prompt_tokens": 27, "completion_tokens": 15, "total_tokens": 42}
    assert event["metadata"]["response_id"] == "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    assert event["metadata"]["response_model"] == "gpt-4o-mini-2024-07-18"
    assert event["metadata"]["finish_reason"] == "stop"
    assert "error" not in event or event["error"] is None
    assert event["duration"] >= 0


def test_a_call_in_a_session_nests_there_and_outside_opens_its_own(
    client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    with honeytrace.session("support") as session, honeytrace.span("answer") as step:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    first, second = [e for e in honeytrace_capture.events if e["event_type"] == "model"]
    assert first["parent_id"] == step.event_id
    assert honeytrace_capture.event("answer")["parent_id"] == session.session_id
    implicit = honeytrace_capture.session("openai.chat.completions.create")
    assert second["parent_id"] == implicit["session_id"]


def test_the_event_is_current_while_the_request_runs(
    client: openai.OpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    seen: list[str | None] = []
    hooked = openai.OpenAI(
        api_key="sk-test",
        base_url=server.url,
        max_retries=0,
        http_client=openai.DefaultHttpxClient(
            event_hooks={"request": [lambda request: seen.append(honeytrace.current_event_id())]}
        ),
    )
    with honeytrace.session("s"):
        hooked.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert seen == [only_model_event(honeytrace_capture)["event_id"]]


def test_messages_changed_after_the_call_do_not_change_the_record(
    client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    messages = list(MESSAGES)
    client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    messages.append({"role": "assistant", "content": "later"})
    assert only_model_event(honeytrace_capture)["inputs"] == {"messages": MESSAGES}


def test_tool_calls_are_outputs(
    client: openai.OpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
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
    completion = client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, tools=tools, tool_choice="auto"
    )

    assert completion.choices[0].message.tool_calls is not None
    event = only_model_event(honeytrace_capture)
    assert event["config"]["tools"] == tools
    assert event["config"]["tool_choice"] == "auto"
    assert event["outputs"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_baCH8Cbh5Nm4AJlsLm8Ayfq7",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location":"Paris, France"}'},
            },
            {
                "id": "call_4K9vNyDkuLq1dS8t2x3J0mZa",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location":"Bogotá, Colombia"}'},
            },
        ],
    }
    assert event["metadata"]["finish_reason"] == "tool_calls"
    assert event["metrics"]["cache_read_tokens"] == 64


def test_several_choices_are_all_recorded(
    client: openai.OpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    body = json.loads(fixture("chat_completion.json"))
    second = json.loads(json.dumps(body["choices"][0]))
    second["index"] = 1
    second["message"]["content"] = "Within a week."
    body["choices"].append(second)
    server.reply(Reply(body=body))
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, n=2)

    outputs = only_model_event(honeytrace_capture)["outputs"]
    assert [choice["content"] for choice in outputs["choices"]] == [
        "Refunds go back to the original payment method within 5 business days.",
        "Within a week.",
    ]
    assert [choice["index"] for choice in outputs["choices"]] == [0, 1]


@pytest.mark.parametrize(
    ("status", "name", "kind", "code"),
    [
        (429, "error_429.json", openai.RateLimitError, "rate_limit_exceeded"),
        (400, "error_400.json", openai.BadRequestError, "invalid_value"),
    ],
)
def test_api_errors_are_recorded_and_raised_unchanged(
    client: openai.OpenAI,
    server: FakeOpenAI,
    honeytrace_capture: Capture,
    status: int,
    name: str,
    kind: type[Exception],
    code: str,
) -> None:
    server.error(status, name)
    with pytest.raises(kind) as raised:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert type(raised.value) is kind
    assert raised.value.status_code == status  # type: ignore[attr-defined]
    event = only_model_event(honeytrace_capture)
    message = json.loads(fixture(name))["error"]["message"]
    assert event["error"].startswith(f"{kind.__name__}: Error code: {status}")
    assert message in event["error"]
    assert event["metadata"]["status_code"] == status
    assert event["metadata"]["error_code"] == code
    assert event["metadata"]["request_id"].startswith("req_")
    assert "outputs" not in event or not event["outputs"]


def test_a_connection_error_is_recorded_and_raised(honeytrace_capture: Capture) -> None:
    unreachable = openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        unreachable.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert only_model_event(honeytrace_capture)["error"].startswith("APIConnectionError")


def test_async_calls_are_traced_the_same(
    async_client: openai.AsyncOpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    async def main() -> ChatCompletion:
        async with honeytrace.session("async-chat"):
            return await async_client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, temperature=0
            )

    completion = asyncio.run(main())

    assert type(completion) is ChatCompletion
    event = only_model_event(honeytrace_capture)
    assert event["config"]["temperature"] == 0
    assert event["outputs"]["content"] == completion.choices[0].message.content
    assert event["metrics"]["total_tokens"] == 42
    assert event["parent_id"] == honeytrace_capture.session("async-chat")["session_id"]


def test_async_errors_are_recorded_and_raised(
    async_client: openai.AsyncOpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    server.error(429, "error_429.json")
    with pytest.raises(openai.RateLimitError):
        asyncio.run(async_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))
    assert only_model_event(honeytrace_capture)["metadata"]["status_code"] == 429


class Answer(BaseModel):
    answer: str
    days: int


def test_parse_records_the_format_and_the_parsed_object(
    client: openai.OpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    body = json.loads(fixture("chat_completion.json"))
    body["choices"][0]["message"]["content"] = '{"answer":"refunds take a while","days":5}'
    server.reply(Reply(body=body))

    completion = client.chat.completions.parse(
        model="gpt-4o-mini", messages=MESSAGES, response_format=Answer
    )

    assert completion.choices[0].message.parsed == Answer(answer="refunds take a while", days=5)
    event = only_model_event(honeytrace_capture)
    assert event["event_name"] == "openai.chat.completions.parse"
    assert event["config"]["response_format"] == "Answer"
    assert event["outputs"]["parsed"] == {"answer": "refunds take a while", "days": 5}
    assert server.last["response_format"]["type"] == "json_schema"


def test_raw_responses_are_traced_and_left_to_the_user(
    client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raw.parse().choices[0].message.content.startswith("Refunds")
    event = only_model_event(honeytrace_capture)
    assert event["metadata"]["raw_response"] is True
    assert event["inputs"] == {"messages": MESSAGES}
