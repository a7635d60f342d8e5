"""A fake Gemini API (``generativelanguage``'s v1beta shape) on 127.0.0.1, for the real
``google-genai`` client: ``models/{model}:generateContent`` answers one JSON response and
``:streamGenerateContent?alt=sse`` the same answer as server-sent chunks. A test can queue its
own replies (a function call, an error) and read every request."""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USAGE = {
    "promptTokenCount": 120,
    "candidatesTokenCount": 20,
    "thoughtsTokenCount": 30,
    "cachedContentTokenCount": 100,
    "totalTokenCount": 170,
}


def answer(text: str = "Refunds take 5 business days.", model: str = "gemini-2.5-flash") -> Any:
    return {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "The user asks about refunds.", "thought": True},
                        {"text": text},
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": USAGE,
        "modelVersion": model,
        "responseId": "resp-gemini-1",
    }


def function_call() -> Any:
    body = answer()
    body["candidates"][0]["content"]["parts"] = [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    ]
    return body


def chunks(body: Any) -> str:
    """The answer split in three chunks; usage on the last, as the API sends it."""
    parts = body["candidates"][0]["content"]["parts"]
    events = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        chunk: dict[str, Any] = {
            "candidates": [{"content": {"role": "model", "parts": [part]}, "index": 0}],
            "modelVersion": body["modelVersion"],
            "responseId": body["responseId"],
        }
        if last:
            chunk["candidates"][0]["finishReason"] = "STOP"
            chunk["usageMetadata"] = body["usageMetadata"]
        events.append(chunk)
    return "".join(f"data: {json.dumps(event)}\r\n\r\n" for event in events)


class FakeGemini:
    """The server; ``url`` is the client's ``base_url``."""

    def __init__(self) -> None:
        self.queue: deque[tuple[int, Any]] = deque()
        self.received: list[tuple[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                server.received.append((self.path, request))
                status, body = server.queue.popleft() if server.queue else (200, answer())
                if status == 200 and ":streamGenerateContent" in self.path:
                    data = chunks(body).encode()
                    kind = "text/event-stream"
                else:
                    data = json.dumps(body).encode()
                    kind = "application/json"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeGemini:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reply(self, body: Any, status: int = 200) -> None:
        self.queue.append((status, body))
