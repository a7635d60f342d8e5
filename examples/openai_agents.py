"""An OpenAI Agents SDK agent with a tool and a guardrail, traced by honeytrace-openai-agents:
no key, no network, no account.

A small fake OpenAI server runs on 127.0.0.1 inside this script; the SDK's real
chat-completions model talks to it. Run it, then look at what it recorded:

    python examples/openai_agents.py
    honeytrace show latest
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import honeytrace_openai_agents
from agents import (
    Agent,
    GuardrailFunctionOutput,
    OpenAIChatCompletionsModel,
    RunConfig,
    Runner,
    function_tool,
    input_guardrail,
)
from openai import AsyncOpenAI

import honeytrace


def reply(request: dict[str, Any]) -> dict[str, Any]:
    """A ``chat.completion``: a tool call first, then the answer from the tool's result."""
    last = request["messages"][-1]
    if last["role"] == "tool":
        message: dict[str, Any] = {"role": "assistant", "content": f"It is {last['content']}."}
        usage = {"prompt_tokens": 64, "completion_tokens": 9, "total_tokens": 73}
    else:
        arguments = json.dumps({"city": "Paris"})
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": arguments},
        }
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        usage = {"prompt_tokens": 52, "completion_tokens": 14, "total_tokens": 66}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return {
        "id": "chatcmpl-example",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [choice],
        "usage": usage,
    }


class FakeOpenAI(BaseHTTPRequestHandler):
    """Answers ``POST /v1/chat/completions``."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps(reply(request)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@function_tool
def get_weather(city: str) -> str:
    """Today's weather in a city."""
    return f"sunny and 21°C in {city}"


@input_guardrail
async def on_topic(ctx: Any, agent: Any, given: Any) -> GuardrailFunctionOutput:
    return GuardrailFunctionOutput(output_info=None, tripwire_triggered="weather" not in str(given))


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # replace=True: honeytrace's processor only (the SDK's own would send to OpenAI).
    honeytrace_openai_agents.instrument(replace=True)
    client = AsyncOpenAI(api_key="not-needed", base_url=f"http://127.0.0.1:{server.server_port}/v1")
    agent = Agent(
        name="weather assistant",
        instructions="Answer with the weather tool.",
        tools=[get_weather],
        input_guardrails=[on_topic],
        model=OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=client),
    )
    try:
        # The group id names the session: the next turn of this conversation continues it.
        result = Runner.run_sync(
            agent, "What's the weather in Paris?", run_config=RunConfig(group_id="support-7")
        )
        print(result.final_output)
    finally:
        server.shutdown()
    delivered = honeytrace.flush()
    print(f"traced: {honeytrace.stats()} (all delivered: {delivered})")


if __name__ == "__main__":
    main()
