"""A downstream service whose events join the caller's session (Starlette; FastAPI is the same).

`HoneytraceMiddleware` reads the `traceparent` and `baggage` headers that the caller's
`honeytrace.propagation.inject` added: everything this service traces while it handles the request
becomes part of the caller's session, under the caller's event. A request without them is
traced as usual (each traced call opens its own session). The middleware obeys those headers only
from callers it trusts (`trust_incoming`): here, clients on this machine.

    python examples/propagation_server.py --port 8001
    python examples/propagation_client.py http://127.0.0.1:8001
    honeytrace show latest

With FastAPI: `app.add_middleware(HoneytraceMiddleware, trust_incoming=["127.0.0.1"])`.
"""

from __future__ import annotations

import argparse
import socket

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import honeytrace
from honeytrace.propagation import HoneytraceMiddleware

POLICIES = {"refund": "Refunds are issued within 14 days of the return."}


@honeytrace.trace_tool
def lookup_policy(topic: str) -> str:
    """The policy text for a topic."""
    return POLICIES.get(topic, "No policy found.")


@honeytrace.trace_chain
def answer(question: str) -> str:
    """Answer a question from the policies."""
    topic = "refund" if "refund" in question.lower() else question
    return lookup_policy(topic)


async def answer_endpoint(request: Request) -> JSONResponse:
    """POST /answer {"question": ...} -> {"answer": ...}."""
    body = await request.json()
    return JSONResponse({"answer": answer(body["question"])})


app = Starlette(
    routes=[Route("/answer", answer_endpoint, methods=["POST"])],
    # Only local callers may join their session (a public service would trust its gateway, or
    # nobody: whoever sends the headers picks the session and can turn tracing off).
    middleware=[Middleware(HoneytraceMiddleware, trust_incoming=["127.0.0.1", "::1"])],
)


def main() -> None:
    """Serve on 127.0.0.1; ``--port 0`` picks a free port. Prints the URL once listening."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    port = parser.parse_args().port
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.run(sockets=[sock])  # SIGTERM/Ctrl-C stop it; honeytrace delivers at exit


if __name__ == "__main__":
    main()
