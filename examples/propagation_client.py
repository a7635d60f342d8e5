"""A caller whose session continues in the service it calls (httpx).

An httpx event hook adds honeytrace's `traceparent` and `baggage` headers to every request sent
from inside a traced call, so the downstream service (examples/propagation_server.py, with
`HoneytraceMiddleware`) records its events in this session, under the call that made the request.

    python examples/propagation_server.py --port 8001 &
    python examples/propagation_client.py http://127.0.0.1:8001
    honeytrace show latest

With no URL, the server example runs in this process, in a thread.
"""

from __future__ import annotations

import sys
import threading
import time

import httpx

import honeytrace
from honeytrace.propagation import inject


def add_trace_headers(request: httpx.Request) -> None:
    """httpx request hook: carry the current session and event to the server."""
    inject(request.headers)


client = httpx.Client(event_hooks={"request": [add_trace_headers]}, timeout=10)


@honeytrace.trace_tool
def ask_policy_service(base_url: str, question: str) -> str:
    """Call the downstream service; its events nest under this one."""
    response = client.post(f"{base_url}/answer", json={"question": question})
    response.raise_for_status()
    return str(response.json()["answer"])


def chat(base_url: str, question: str) -> str:
    """One conversation turn that needs the policy service."""
    with honeytrace.session("support-chat", inputs={"question": question}) as session:
        answer = ask_policy_service(base_url, question)
        session.set_outputs(answer)
    print(f"session: {session.session_id}")
    return answer


def _serve_here() -> str:
    import uvicorn
    from propagation_server import app  # the example beside this one

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the example server did not start")
        time.sleep(0.01)
    return f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else _serve_here()
    print(chat(url, "How do refunds work?"))
    print(f"all delivered: {honeytrace.flush()}")
