"""Sessions across services: inject/extract/attach, and two services over real HTTP."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import baggage as otel_baggage
from opentelemetry import trace
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import honeytrace
from honeytrace import _lifecycle, _runtime
from honeytrace.propagation import (
    HoneytraceMiddleware,
    RemoteParent,
    attach,
    extract,
    inject,
)
from honeytrace.testing import Capture
from tests.support.collector_server import (
    CollectorServer,
    collector_fixture,
    collector_server,  # noqa: F401 -- registers the module-scoped server fixture
)
from tests.support.otel import Otel, otel_fixture

__all__ = ["collector_fixture", "otel_fixture"]

ROOT = Path(__file__).resolve().parents[1]
SESSION = "5b0c2f1e-8a52-4c31-9a7e-0d6b3f2a9c41"
CALLER_EVENT = "0190f3c4-1d2e-7a6b-8c9d-0e1f2a3b4c5d"  # a UUIDv7: kept exactly as sent


def baggage(**entries: str) -> dict[str, str]:
    return {"baggage": ",".join(f"{key}={value}" for key, value in entries.items())}


CALLER = baggage(**{"honeytrace.session_id": SESSION, "honeytrace.parent_id": CALLER_EVENT})


# -- inject ---------------------------------------------------------------------------------


def test_inject_outside_a_session_adds_nothing() -> None:
    headers = {"accept": "application/json"}
    assert inject(headers) is headers
    assert headers == {"accept": "application/json"}
    assert inject() == {}


def test_inject_carries_the_session_and_the_current_event(honeytrace_capture: Capture) -> None:
    @honeytrace.trace_tool
    def call() -> dict[str, str]:
        return dict(inject({"Baggage": "tenant=acme,honeytrace.parent_id=stale"}))

    with honeytrace.session("s") as session:
        headers = call()
    event_id = honeytrace_capture.event("call")["event_id"]
    entries = headers["baggage"].split(",")
    assert entries == [
        "tenant=acme",
        f"honeytrace.session_id={session.session_id}",
        f"honeytrace.parent_id={event_id}",
    ]
    assert "Baggage" not in headers
    # No OTel span is current: the traceparent is made of the honeytrace ids.
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert (version, flags) == ("00", "01")
    assert trace_id == uuid.UUID(session.session_id).hex
    assert span_id == uuid.UUID(event_id).hex[16:]


def test_inject_uses_the_current_otel_span_when_there_is_one(otel: Otel) -> None:
    with honeytrace.testing.capture(otel=True):
        with honeytrace.session("s"):
            headers = inject({})
            context = trace.get_current_span().get_span_context()
    # (the flags are the SDK's: sampled, and "random trace id" in recent releases)
    assert headers["traceparent"].startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    assert "honeytrace.session_id=" in headers["baggage"]


def test_inject_tells_a_dropped_session(honeytrace_capture: Capture) -> None:
    with honeytrace.testing.capture(sample_rate=0.0), honeytrace.session("dropped"):
        headers = inject({})
    assert headers["baggage"].endswith(",honeytrace.sampled=0")
    assert headers["traceparent"].endswith("-00")
    parent = extract(headers)
    assert parent is not None and parent.session.sampled is False


# -- extract and attach ---------------------------------------------------------------------


def test_extract_reads_the_caller_exactly() -> None:
    parent = extract(CALLER)
    assert isinstance(parent, RemoteParent)
    assert parent.event_id == CALLER_EVENT
    assert parent.session.session_id == SESSION
    assert parent.session.sampled is True
    assert not _lifecycle._is_open(parent)  # nothing at exit may close or send it
    raw = [(b"Baggage", CALLER["baggage"].encode()), (b"host", b"x")]  # ASGI header pairs
    from_pairs = extract(raw)
    assert from_pairs is not None and from_pairs.event_id == CALLER_EVENT


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        baggage(**{"honeytrace.session_id": "not-a-uuid"}),
        baggage(**{"honeytrace.session_id": SESSION, "honeytrace.parent_id": "nope"}),
    ],
)
def test_extract_ignores_what_is_not_a_caller(headers: dict[str, str]) -> None:
    assert extract(headers) is None


def test_events_in_attach_join_the_callers_session(
    honeytrace_capture: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    @honeytrace.trace_tool
    def lookup() -> str:
        return "shipped"

    @honeytrace.trace_session  # inside a session: a chain of it
    def handle() -> str:
        return lookup()

    with attach(CALLER) as parent:
        assert parent is not None
        assert honeytrace.current_session_id() == SESSION
        assert honeytrace.current_event_id() == CALLER_EVENT
        assert handle() == "shipped"
        with caplog.at_level(logging.WARNING, logger="honeytrace"):
            honeytrace.enrich_span(metadata={"x": 1})
            honeytrace.enrich_session(metadata={"x": 1})
    assert honeytrace.current_session_id() is None
    assert "cannot be changed from the service it called" in caplog.text
    handled, looked_up = honeytrace_capture.event("handle"), honeytrace_capture.event("lookup")
    assert handled["session_id"] == looked_up["session_id"] == SESSION
    assert handled["parent_id"] == CALLER_EVENT
    assert handled["event_type"] == "chain"
    assert looked_up["parent_id"] == handled["event_id"]
    assert handled["children_ids"] == [looked_up["event_id"]]
    # The caller's session is the caller's: no create, no end, no update from here.
    assert honeytrace_capture.sessions == []
    assert honeytrace_capture.updates == []
    assert honeytrace.stats().dropped == {}
    flusher = _runtime._flusher
    assert flusher is not None and flusher._sessions == {}  # nothing kept about it


def test_attach_without_honeytrace_baggage_changes_nothing(honeytrace_capture: Capture) -> None:
    with attach({"accept": "*/*"}) as parent:
        assert parent is None
        honeytrace.trace_tool(lambda: 1, name="alone")()
    assert honeytrace_capture.event("alone")["session_id"] != SESSION


def test_attach_continues_the_callers_otel_trace(otel: Otel) -> None:
    trace_id, span_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    headers = {"traceparent": f"00-{trace_id}-{span_id}-01"}
    headers["baggage"] = CALLER["baggage"] + ",tenant=acme"
    forwarded: dict[str, str] = {}
    with honeytrace.testing.capture(otel=True) as traces:

        async def handler() -> None:
            async with attach(headers):
                honeytrace.trace_tool(lambda: 1, name="work")()
                # What an instrumented client would forward: the app's baggage, not ours.
                forwarded.update(dict(otel_baggage.get_all()))

        asyncio.run(handler())
        assert traces.event("work")["parent_id"] == CALLER_EVENT
    assert forwarded == {"tenant": "acme"}
    span = otel.span("work")
    assert span.parent is not None and span.parent.is_remote
    assert f"{span.get_span_context().trace_id:032x}" == trace_id
    assert f"{span.parent.span_id:016x}" == span_id


# -- two services over HTTP ------------------------------------------------------------------


@honeytrace.trace_tool
def lookup_policy(topic: str) -> str:
    return f"policy for {topic}"


async def downstream_answer(request: Request) -> JSONResponse:
    body = await request.json()
    return JSONResponse({"answer": lookup_policy(body["topic"])})


downstream = Starlette(
    routes=[Route("/answer", downstream_answer, methods=["POST"])],
    middleware=[Middleware(HoneytraceMiddleware, trust_incoming=True)],
)


@pytest.fixture
def downstream_url() -> Iterator[str]:
    with CollectorServer(downstream, lifespan="off") as server:
        yield server.url


def test_two_services_in_threads_make_one_session_tree(
    honeytrace_capture: Capture, downstream_url: str
) -> None:
    def add_headers(request: httpx.Request) -> None:
        inject(request.headers)

    @honeytrace.trace_tool
    def ask(topic: str) -> str:
        with httpx.Client(event_hooks={"request": [add_headers]}) as client:
            response = client.post(downstream_url + "/answer", json={"topic": topic})
        return str(response.json()["answer"])

    async def upstream_chat(request: Request) -> JSONResponse:
        with honeytrace.session("chat") as session:
            answer = ask("refunds")
        return JSONResponse({"answer": answer, "session_id": session.session_id})

    upstream = Starlette(routes=[Route("/chat", upstream_chat, methods=["POST"])])
    with CollectorServer(upstream, lifespan="off") as server:
        reply = httpx.post(server.url + "/chat").json()
    assert reply["answer"] == "policy for refunds"
    session_id = reply["session_id"]
    (session,) = honeytrace_capture.sessions
    assert session["session_id"] == session_id
    ask_event, lookup = honeytrace_capture.event("ask"), honeytrace_capture.event("lookup_policy")
    assert ask_event["session_id"] == lookup["session_id"] == session_id
    assert ask_event["parent_id"] == session_id
    assert lookup["parent_id"] == ask_event["event_id"]
    assert [event_id for event_id, _ in honeytrace_capture.updates] == []


def environment(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HH_", "HONEYTRACE_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env["HONEYTRACE_RAISE_INTERNAL_ERRORS"] = "1"
    env.update(extra)
    return env


def test_the_examples_as_two_processes_make_one_tree_in_the_collector(
    collector: CollectorServer, tmp_path: Path
) -> None:
    env = environment(HH_API_URL=collector.url)
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "propagation_server.py"), "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()  # printed once the socket is bound
        assert first.startswith("listening on "), first + (
            server.stderr.read() if server.stderr else ""
        )
        url = first.split()[-1]
        client = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "propagation_client.py"), url],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert client.returncode == 0, client.stderr
        assert "all delivered: True" in client.stdout
        session_id = client.stdout.split("session: ")[1].split()[0]
    finally:
        # uvicorn shuts down gracefully (the middleware delivers at lifespan shutdown), then
        # dies of the SIGTERM it re-raises.
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    assert server.returncode in (0, -signal.SIGTERM), server.stderr.read() if server.stderr else ""
    tree: dict[str, Any] = httpx.get(f"{collector.url}/v1/sessions/{session_id}").json()
    assert tree["event_name"] == "support-chat"
    assert tree["inputs"] == {"question": "How do refunds work?"}

    def shape(node: dict[str, Any]) -> list[Any]:
        return [[child["event_name"], shape(child)] for child in node.get("children", [])]

    assert shape(tree) == [
        ["ask_policy_service", [["answer", [["lookup_policy", []]]]]],
    ]
