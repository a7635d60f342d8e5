"""The Google Gen AI SDK (google-genai), traced by honeytrace-google-genai: no key, no network.

A small fake Gemini API runs on 127.0.0.1 inside this script, and the real ``google.genai``
client talks to it: one call, then a chat whose second message is streamed. Run it, then look
at what it recorded:

    python examples/google_genai_chat.py
    honeytrace show latest

Against the real API, drop the fake server and the ``http_options``: the tracing code is the
same.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import honeytrace_google_genai
from google import genai
from google.genai import types

import honeytrace

ANSWER = "Refunds reach your card within 5 business days."
USAGE = {
    "promptTokenCount": 42,
    "cachedContentTokenCount": 32,
    "candidatesTokenCount": 11,
    "thoughtsTokenCount": 24,
    "totalTokenCount": 77,
}


def reply(model: str, text: str, last: bool = True) -> dict[str, Any]:
    """A ``GenerateContentResponse`` like the API's (a stream's chunks have the same shape)."""
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}}
    if last:
        candidate["finishReason"] = "STOP"
    usage = USAGE if last else {"promptTokenCount": USAGE["promptTokenCount"]}
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": f"{model}-001"}


class FakeGemini(BaseHTTPRequestHandler):
    """Answers ``:generateContent`` and ``:streamGenerateContent?alt=sse``."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        model = self.path.split("/models/")[-1].split(":")[0]
        if ":streamGenerateContent" in self.path:
            words = ANSWER.split(" ")
            chunks = [
                reply(model, word if i == 0 else f" {word}", last=i == len(words) - 1)
                for i, word in enumerate(words)
            ]
            body = "".join(f"data: {json.dumps(chunk)}\r\n\r\n" for chunk in chunks).encode()
            kind = "text/event-stream"
        else:
            body, kind = json.dumps(reply(model, ANSWER)).encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


CLIENT: genai.Client | None = None  # made by main(), pointed at the fake server


@honeytrace.trace_session(name="gemini-support-chat")
def support_chat(question: str) -> str:
    """One plain call, then a chat whose follow-up is streamed."""
    config = types.GenerateContentConfig(
        system_instruction="You are a concise support agent.",
        temperature=0.2,
        thinking_config=types.ThinkingConfig(thinking_budget=256),
    )
    client = CLIENT or genai.Client()
    client.models.generate_content(model="gemini-2.5-flash", contents=question, config=config)
    chat = client.chats.create(model="gemini-2.5-flash", config=config)
    chat.send_message(question)
    stream = chat.send_message_stream("Say it again, slowly.")
    return "".join(chunk.text or "" for chunk in stream)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGemini)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    global CLIENT
    options = types.HttpOptions(base_url=f"http://127.0.0.1:{server.server_port}/")
    CLIENT = genai.Client(api_key="not-needed", http_options=options)
    honeytrace_google_genai.instrument()
    try:
        print(support_chat("How do refunds work?"))
    finally:
        server.shutdown()
    delivered = honeytrace.flush()
    print(f"traced: {honeytrace.stats()} (all delivered: {delivered})")


if __name__ == "__main__":
    main()
