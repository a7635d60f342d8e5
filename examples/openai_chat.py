"""The OpenAI SDK, traced by honeytrace-openai: no key, no network, no account.

A small fake OpenAI server runs on 127.0.0.1 inside this script, and the real ``openai`` client
talks to it. Run it, then look at what it recorded:

    python examples/openai_chat.py
    honeytrace show latest

Against the real API, drop the fake server and the ``base_url``: the tracing code is the same.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import honeytrace_openai
from openai import OpenAI

import honeytrace

ANSWER = "Refunds go back to your card within 5 business days."
USAGE = {"prompt_tokens": 31, "completion_tokens": 12, "total_tokens": 43}
BASE_URL = "https://api.openai.com/v1"  # set to the fake server's address by main()


def completion(request: dict[str, Any]) -> dict[str, Any]:
    """A ``chat.completion`` like the API's."""
    message = {"role": "assistant", "content": ANSWER, "refusal": None}
    return {
        "id": "chatcmpl-example-1",
        "object": "chat.completion",
        "created": 1741569952,
        "model": f"{request['model']}-2024-07-18",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": USAGE,
    }


def chunks(request: dict[str, Any]) -> str:
    """The same answer as ``chat.completion.chunk`` server-sent events."""
    with_usage = (request.get("stream_options") or {}).get("include_usage")
    base = {"id": "chatcmpl-example-2", "object": "chat.completion.chunk", "created": 1741569953}
    base["model"] = f"{request['model']}-2024-07-18"
    first, *rest = ANSWER.split(" ")
    words = [first] + [f" {word}" for word in rest]
    deltas = [{"role": "assistant", "content": ""}] + [{"content": word} for word in words]
    events = []
    for index, delta in enumerate(deltas):
        done = index == len(deltas) - 1
        choice = {"index": 0, "delta": delta, "finish_reason": "stop" if done else None}
        events.append({**base, "choices": [choice]})
    if with_usage:
        events.append({**base, "choices": [], "usage": USAGE})
    return "".join(f"data: {json.dumps(event)}\n\n" for event in events) + "data: [DONE]\n\n"


class FakeOpenAI(BaseHTTPRequestHandler):
    """Answers ``POST /v1/chat/completions``, streamed or not."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if request.get("stream"):
            body, kind = chunks(request).encode(), "text/event-stream"
        else:
            body, kind = json.dumps(completion(request)).encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@honeytrace.trace_session(name="openai-support-chat")
def support_chat(question: str) -> str:
    """One conversation: a plain call, then a streamed follow-up."""
    client = OpenAI(api_key="not-needed", base_url=BASE_URL)
    messages = [
        {"role": "system", "content": "You are a concise support agent."},
        {"role": "user", "content": question},
    ]
    first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, temperature=0.2)
    messages.append({"role": "assistant", "content": first.choices[0].message.content or ""})
    messages.append({"role": "user", "content": "Say it again, slowly."})
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream)


def main() -> None:
    global BASE_URL
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    BASE_URL = f"http://127.0.0.1:{server.server_port}/v1"
    honeytrace_openai.instrument()
    try:
        print(support_chat("How do refunds work?"))
    finally:
        server.shutdown()
    delivered = honeytrace.flush()
    print(f"traced: {honeytrace.stats()} (all delivered: {delivered})")


if __name__ == "__main__":
    main()
