"""A fake Gemini API (``generativelanguage``-shaped) on 127.0.0.1 for the real google-genai
client: ``POST /v1beta/models/{model}:generateContent`` answers JSON and
``:streamGenerateContent?alt=sse`` server-sent events. A test scripts the coming answers
(text, a function call, or an error) and reads every request received."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.support.fake_http import LocalServer, QuietHandler

USAGE = {
    "promptTokenCount": 40,
    "candidatesTokenCount": 10,
    "thoughtsTokenCount": 6,
    "cachedContentTokenCount": 16,
    "totalTokenCount": 56,
}


@dataclass
class Answer:
    """One scripted answer: model parts, or an error ``(status, body)``."""

    parts: list[dict[str, Any]] = field(default_factory=list)
    error: tuple[int, dict[str, Any]] | None = None
    finish_reason: str = "STOP"


def text(content: str) -> Answer:
    return Answer([{"text": content}])


def function_call(name: str, args: dict[str, Any]) -> Answer:
    return Answer([{"functionCall": {"name": name, "args": args}}])


def error(status: int, state: str, message: str) -> Answer:
    return Answer(error=(status, {"error": {"code": status, "message": message, "status": state}}))


def body(answer: Answer, parts: list[dict[str, Any]], model: str, last: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if last:
        candidate["finishReason"] = answer.finish_reason
    out: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": f"{model}-001",
        "responseId": "resp-gemini-1",
    }
    # Like the API: every chunk reports the prompt; the last one the whole usage.
    out["usageMetadata"] = USAGE if last else {"promptTokenCount": USAGE["promptTokenCount"]}
    return out


class FakeGemini(LocalServer):
    """The server; ``url`` is the client's ``base_url``."""

    def __init__(self) -> None:
        self.script: deque[Answer] = deque()
        self.requests: list[tuple[str, dict[str, Any]]] = []
        server = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = json.loads(raw) if raw else {}
                server.requests.append((self.path, request))
                answer = server.script.popleft() if server.script else text("(no script)")
                model = self.path.split("/models/")[-1].split(":")[0]
                if answer.error is not None:
                    self.send(answer.error[0], "application/json", json.dumps(answer.error[1]))
                elif ":streamGenerateContent" in self.path:
                    self.send(200, "text/event-stream", stream(answer, model))
                else:
                    self.send(
                        200, "application/json", json.dumps(body(answer, answer.parts, model, True))
                    )

            def send(self, status: int, kind: str, payload: str) -> None:
                self.reply(status, kind, payload)

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return f"{self.base}/"


def stream(answer: Answer, model: str) -> str:
    """The answer's text split into word chunks (a function call comes whole, last)."""
    pieces: list[list[dict[str, Any]]] = []
    for part in answer.parts:
        if "text" in part:
            words = part["text"].split(" ")
            pieces += [[{"text": w if i == 0 else f" {w}"}] for i, w in enumerate(words)]
        else:
            pieces.append([part])
    events = [
        body(answer, parts, model, index == len(pieces) - 1) for index, parts in enumerate(pieces)
    ]
    return "".join(f"data: {json.dumps(event)}\r\n\r\n" for event in events)
