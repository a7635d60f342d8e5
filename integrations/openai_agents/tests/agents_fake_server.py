"""A fake OpenAI Responses API on 127.0.0.1 for the real Agents SDK to talk to.

Each ``POST /v1/responses`` is answered with the next scripted turn (text, or function calls);
``POST /v1/traces/ingest`` (the SDK's own trace exporter) is accepted and kept, so that a test
can see that the SDK's exporter still runs next to honeytrace without anything leaving the
machine.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from tests.support.fake_http import LocalServer, QuietHandler

USAGE = {
    "input_tokens": 50,
    "input_tokens_details": {"cached_tokens": 20},
    "output_tokens": 12,
    "output_tokens_details": {"reasoning_tokens": 4},
    "total_tokens": 62,
}


def text(content: str) -> dict[str, Any]:
    """A turn in which the model answers with ``content``."""
    return {
        "id": "msg_1",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "annotations": [], "text": content}],
    }


def call(name: str, arguments: dict[str, Any], call_id: str) -> dict[str, Any]:
    """A turn in which the model calls a function (a tool, or a handoff)."""
    return {
        "id": f"fc_{call_id}",
        "type": "function_call",
        "status": "completed",
        "arguments": json.dumps(arguments),
        "call_id": call_id,
        "name": name,
    }


def response(request: dict[str, Any], output: list[dict[str, Any]], number: int) -> dict[str, Any]:
    return {
        "id": f"resp_{number}",
        "object": "response",
        "created_at": 1741476542,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "model": f"{request.get('model')}-2025-04-14",
        "output": output,
        "parallel_tool_calls": True,
        "temperature": request.get("temperature", 1.0),
        "tool_choice": "auto",
        "tools": request.get("tools", []),
        "top_p": 1.0,
        "usage": USAGE,
    }


def sse(request: dict[str, Any], output: list[dict[str, Any]], number: int) -> str:
    """The same turn as a Responses API event stream: created, text deltas, completed."""
    final = response(request, output, number)
    started = {**final, "status": "in_progress", "output": [], "usage": None}
    events: list[dict[str, Any]] = [{"type": "response.created", "response": started}]
    for index, item in enumerate(output):
        for part in item.get("content", []):
            for word in part.get("text", "").split(" "):
                events.append(
                    {
                        "type": "response.output_text.delta",
                        "item_id": item["id"],
                        "output_index": index,
                        "content_index": 0,
                        "delta": f"{word} ",
                        "logprobs": [],
                    }
                )
    events.append({"type": "response.completed", "response": final})
    lines = []
    for sequence, event in enumerate(events):
        event["sequence_number"] = sequence
        lines.append(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n")
    return "".join(lines)


def chat_completion(request: dict[str, Any], content: str) -> dict[str, Any]:
    """A Chat Completions answer (for ``OpenAIChatCompletionsModel``)."""
    message = {"role": "assistant", "content": content, "refusal": None}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1741569952,
        "model": f"{request.get('model')}-2025-04-14",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
        "usage": {
            "prompt_tokens": 30,
            "completion_tokens": 7,
            "total_tokens": 37,
            "prompt_tokens_details": {"cached_tokens": 10},
        },
    }


class FakeResponses(LocalServer):
    """The server; ``url`` is the client's ``base_url``. ``script`` holds the coming turns
    (a list of output items, or ``(status, error body)``)."""

    def __init__(self) -> None:
        self.script: deque[list[dict[str, Any]] | tuple[int, dict[str, Any]]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.ingested: list[dict[str, Any]] = []
        server = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw) if raw else {}
                if self.path.endswith("/traces/ingest"):
                    server.ingested.append(body)
                    self.send(200, {})
                    return
                server.requests.append(body)
                turn = server.script.popleft() if server.script else [text("(no script)")]
                if isinstance(turn, tuple):
                    self.send(*turn)
                elif self.path.endswith("/chat/completions"):
                    words = [part["text"] for item in turn for part in item.get("content", [])]
                    self.send(200, chat_completion(body, " ".join(words)))
                elif body.get("stream"):
                    self.send_stream(sse(body, turn, len(server.requests)))
                else:
                    self.send(200, response(body, turn, len(server.requests)))

            def send_stream(self, text: str) -> None:
                self.reply(200, "text/event-stream", text)

            def send(self, status: int, body: Any) -> None:
                self.reply(status, "application/json", json.dumps(body))

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return f"{self.base}/v1"
