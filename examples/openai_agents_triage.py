"""The OpenAI Agents SDK, traced by honeytrace-openai-agents: no key, no network, no account.

A triage agent looks an order up with a function tool, hands the customer off to a refunds
agent, and checks the question with an input guardrail. A small fake Responses API runs on
127.0.0.1 inside this script and plays the model. Run it, then look at what it recorded:

    python examples/openai_agents_triage.py
    honeytrace show latest

Against the real API, drop the fake server and the client set-up: the tracing code is the
same (``instrument()`` keeps the SDK's own exporter; ``replace=True``, used here so that
nothing is sent anywhere, makes honeytrace the only trace processor).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import agents
import honeytrace_openai_agents
from agents import (
    Agent,
    GuardrailFunctionOutput,
    RunContextWrapper,
    Runner,
    function_tool,
    input_guardrail,
)
from openai import AsyncOpenAI

import honeytrace

USAGE = {
    "input_tokens": 120,
    "input_tokens_details": {"cached_tokens": 64},
    "output_tokens": 18,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 138,
}


def function_call(name: str, arguments: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {
        "id": f"fc_{call_id}",
        "type": "function_call",
        "status": "completed",
        "arguments": json.dumps(arguments),
        "call_id": call_id,
        "name": name,
    }


def message(text: str) -> dict[str, Any]:
    part = {"type": "output_text", "annotations": [], "text": text}
    return {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
            "content": [part]}  # fmt: skip


# What the "model" says, turn by turn: look the order up, hand off, answer.
TURNS = deque(
    [
        [function_call("order_status", {"order_id": "A-1001"}, "call_1")],
        [function_call("transfer_to_refunds", {}, "call_2")],
        [message("Your refund for A-1001 was issued; it reaches your card within 5 days.")],
    ]
)


class FakeResponses(BaseHTTPRequestHandler):
    """Answers ``POST /v1/responses`` with the next scripted turn."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        output = TURNS.popleft() if TURNS else [message("(nothing more to say)")]
        body = json.dumps(
            {
                "id": f"resp_{3 - len(TURNS)}",
                "object": "response",
                "created_at": 1741476542,
                "status": "completed",
                "model": f"{request['model']}-2025-04-14",
                "instructions": request.get("instructions"),
                "output": output,
                "parallel_tool_calls": True,
                "tool_choice": "auto",
                "tools": request.get("tools", []),
                "usage": USAGE,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@function_tool
def order_status(order_id: str) -> str:
    """Where an order is, and whether it was refunded."""
    return f"{order_id}: delivered, refund requested"


@input_guardrail
def on_topic(ctx: RunContextWrapper[Any], agent: Agent[Any], text: Any) -> GuardrailFunctionOutput:
    """Stop the run before any model call when the question is not about an order."""
    off_topic = "poem" in str(text).lower()
    return GuardrailFunctionOutput({"off_topic": off_topic}, tripwire_triggered=off_topic)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeResponses)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_port}/v1"
    agents.set_default_openai_client(
        AsyncOpenAI(api_key="not-needed", base_url=base_url), use_for_tracing=False
    )
    agents.set_default_openai_api("responses")
    honeytrace_openai_agents.instrument(replace=True)

    refunds = Agent(name="Refunds", instructions="Help with refunds.", model="gpt-4.1")
    triage = Agent(
        name="Triage",
        instructions="Look the order up, then hand off to the right team.",
        model="gpt-4.1",
        tools=[order_status],
        handoffs=[refunds],
        input_guardrails=[on_topic],
    )
    try:
        result = Runner.run_sync(triage, "Where is my refund for order A-1001?")
        print(result.final_output)
    finally:
        server.shutdown()
    delivered = honeytrace.flush()
    print(f"traced: {honeytrace.stats()} (all delivered: {delivered})")


if __name__ == "__main__":
    main()
