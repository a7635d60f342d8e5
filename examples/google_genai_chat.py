"""google-genai, traced by honeytrace-google-genai: no key, no network, no account.

A small fake Gemini API runs on 127.0.0.1 inside this script, and the real ``google-genai``
client talks to it. Run it, then look at what it recorded (thinking and cached tokens, cost):

    python examples/google_genai_chat.py
    honeytrace show latest
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

ANSWER = "Refunds go back to your card within 5 business days."


def response(model: str) -> dict[str, Any]:
    """A ``GenerateContentResponse`` like the API's, with a thought and cached input."""
    parts = [{"text": "A refund question.", "thought": True}, {"text": ANSWER}]
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
        "usageMetadata": {
            "promptTokenCount": 40,
            "cachedContentTokenCount": 32,
            "candidatesTokenCount": 12,
            "thoughtsTokenCount": 8,
            "totalTokenCount": 60,
        },
        "modelVersion": model,
        "responseId": "resp-example",
    }


class FakeGemini(BaseHTTPRequestHandler):
    """Answers ``POST /v1beta/models/{model}:generateContent`` (and the streamed form)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        model = self.path.split("/models/")[1].split(":")[0]
        body = response(model)
        if ":streamGenerateContent" in self.path:
            data, kind = f"data: {json.dumps(body)}\r\n\r\n".encode(), "text/event-stream"
        else:
            data, kind = json.dumps(body).encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@honeytrace.trace_session(name="gemini-support-chat")
def support_chat(client: genai.Client, question: str) -> str:
    """A chat: a question, then a streamed follow-up."""
    chat = client.chats.create(model="gemini-2.5-flash")
    chat.send_message(question)
    return "".join(chunk.text or "" for chunk in chat.send_message_stream("Say it again."))


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGemini)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    honeytrace_google_genai.instrument()
    options = types.HttpOptions(base_url=f"http://127.0.0.1:{server.server_port}")
    client = genai.Client(api_key="not-needed", http_options=options)
    try:
        print(support_chat(client, "How do refunds work?"))
    finally:
        server.shutdown()
    delivered = honeytrace.flush()
    print(f"traced: {honeytrace.stats()} (all delivered: {delivered})")


if __name__ == "__main__":
    main()
