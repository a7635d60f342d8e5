"""A fake OpenAI API on 127.0.0.1, for the real SDK client to talk to.

It answers from recorded bodies and SSE streams in ``fixtures/``, behaving like the API where
the integration depends on it: a chat stream carries ``usage`` (and its final usage-only chunk)
only when the request asked for it with ``stream_options.include_usage``, and embeddings come
back base64-encoded when asked so. A test can queue its own replies (errors, other bodies) and
read every request the server received.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@dataclass
class Reply:
    """One scripted answer: a JSON body, or an SSE stream (raw text) when ``sse`` is set."""

    status: int = 200
    body: Any = None
    sse: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


def chat_stream(text: str, request: Any) -> str:
    """What the API streams: without ``include_usage``, no usage fields and no usage chunk."""
    options = request.get("stream_options") or {}
    if options.get("include_usage"):
        return text
    blocks = []
    for block in text.split("\n\n"):
        if not block.startswith("data: {"):
            blocks.append(block)
            continue
        chunk = json.loads(block[len("data: ") :])
        if not chunk["choices"]:
            continue
        chunk.pop("usage", None)
        blocks.append("data: " + json.dumps(chunk, separators=(",", ":"), ensure_ascii=False))
    return "\n\n".join(blocks)


def embeddings(request: Any) -> Any:
    body = json.loads(fixture("embeddings.json"))
    if request.get("encoding_format") == "base64":
        for item in body["data"]:
            packed = struct.pack(f"<{len(item['embedding'])}f", *item["embedding"])
            item["embedding"] = base64.b64encode(packed).decode()
    return body


def default_reply(path: str, request: Any) -> Reply:
    """The API's normal answer to each route."""
    streaming = request.get("stream") is True
    if path.endswith("/chat/completions"):
        if streaming:
            return Reply(sse=chat_stream(fixture("chat_stream.sse"), request))
        return Reply(body=json.loads(fixture("chat_completion.json")))
    if path.endswith("/responses"):
        if streaming:
            return Reply(sse=fixture("responses_stream.sse"))
        return Reply(body=json.loads(fixture("responses_response.json")))
    if path.endswith("/embeddings"):
        return Reply(body=embeddings(request))
    return Reply(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})


class FakeOpenAI:
    """The server; ``url`` is the SDK's ``base_url``."""

    def __init__(self) -> None:
        self.queue: deque[Reply | str] = deque()
        self.received: list[Received] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                request = json.loads(raw) if raw else {}
                server.received.append(Received(self.path, dict(self.headers), request))
                reply = (
                    server.queue.popleft() if server.queue else default_reply(self.path, request)
                )
                if isinstance(reply, str):  # a fixture name, adapted to the request like the API
                    reply = (
                        Reply(sse=chat_stream(fixture(reply), request))
                        if reply.endswith(".sse")
                        else Reply(body=json.loads(fixture(reply)))
                    )
                self.answer(reply)

            def answer(self, reply: Reply) -> None:
                try:
                    if reply.sse is not None:
                        self.send_response(reply.status)
                        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                        self.send_header("x-request-id", "req_stream_1")
                        for name, value in reply.headers.items():
                            self.send_header(name, value)
                        self.end_headers()
                        self.wfile.write(reply.sse.encode())
                        return
                    data = json.dumps(reply.body).encode()
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("x-request-id", f"req_{len(server.received)}")
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client closed a stream early: fine

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reply(self, *replies: Reply | str) -> None:
        """Answer the next requests with these (a ``str`` names a fixture file)."""
        self.queue.extend(replies)

    def error(self, status: int, name: str) -> None:
        """Answer the next request with an API error body from a fixture."""
        self.queue.append(Reply(status, json.loads(fixture(name))))

    @property
    def last(self) -> Any:
        return self.received[-1].body
