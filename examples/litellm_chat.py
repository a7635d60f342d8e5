"""LiteLLM, traced by honeytrace-litellm: no key, no network, no account.

The fake OpenAI server of ``examples/openai_chat.py`` runs on 127.0.0.1 inside this script, and
the real ``litellm`` talks to it. Run it, then look at what it recorded, with the cost LiteLLM
computed for each call:

    python examples/litellm_chat.py
    honeytrace show latest
"""

from __future__ import annotations

import os
import threading
from http.server import ThreadingHTTPServer

# LiteLLM fetches its price map from the internet at import unless told to use its own copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import honeytrace_litellm
import litellm
from openai_chat import FakeOpenAI  # the example server beside this file

import honeytrace


@honeytrace.trace_session(name="litellm-support-chat")
def support_chat(question: str, base_url: str) -> str:
    """A plain call, then a streamed follow-up, through LiteLLM's one interface."""
    messages = [{"role": "user", "content": question}]
    first = litellm.completion(
        model="openai/gpt-4o-mini", messages=messages, api_base=base_url, api_key="not-needed"
    )
    messages.append({"role": "assistant", "content": first.choices[0].message.content})
    messages.append({"role": "user", "content": "Say it again, slowly."})
    stream = litellm.completion(
        model="openai/gpt-4o-mini",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
        api_base=base_url,
        api_key="not-needed",
    )
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    handler = honeytrace_litellm.instrument()
    try:
        print(support_chat("How do refunds work?", f"http://127.0.0.1:{server.server_port}/v1"))
    finally:
        server.shutdown()
    delivered = honeytrace.flush()
    still_open = len(handler._open) if handler is not None else 0
    print(f"traced: {honeytrace.stats()} (all delivered: {delivered}, open: {still_open})")


if __name__ == "__main__":
    main()
