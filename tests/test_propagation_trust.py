"""HoneytraceMiddleware obeys incoming context only from trusted callers (issue 12, item 24).

A real Starlette app under real uvicorn on 127.0.0.1, called over HTTP with the headers an
adversary would send: ``honeytrace.sampled=0`` to switch tracing off for their own requests,
and a victim's session id to write into another session.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import honeytrace
from honeytrace import ConfigError
from honeytrace.propagation import HoneytraceMiddleware
from honeytrace.testing import Capture
from tests.support.collector_server import CollectorServer

VICTIM = "5b0c2f1e-8a52-4c31-9a7e-0d6b3f2a9c41"
VICTIM_EVENT = "0190f3c4-1d2e-7a6b-8c9d-0e1f2a3b4c5d"
SWITCH_OFF = {"baggage": f"honeytrace.session_id={VICTIM},honeytrace.sampled=0"}
JOIN_VICTIM = {"baggage": f"honeytrace.session_id={VICTIM},honeytrace.parent_id={VICTIM_EVENT}"}


@honeytrace.trace_tool
def lookup(topic: str) -> str:
    return f"policy for {topic}"


async def answer(request: Request) -> JSONResponse:
    return JSONResponse({"answer": lookup(request.query_params.get("topic", "refunds"))})


def service(**options: Any) -> Starlette:
    middleware = [Middleware(HoneytraceMiddleware, **options)]
    return Starlette(routes=[Route("/answer", answer)], middleware=middleware)


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[CollectorServer] = []

    def start(app: Starlette) -> str:
        server = CollectorServer(app, lifespan="off").start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()


def call(url: str, headers: Mapping[str, str]) -> None:
    response = httpx.get(url + "/answer", headers=dict(headers), timeout=10)
    assert response.json() == {"answer": "policy for refunds"}


def test_by_default_a_caller_cannot_switch_tracing_off(
    honeytrace_capture: Capture, serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url = serve(service())
    with caplog.at_level(logging.WARNING, logger="honeytrace"):
        call(url, SWITCH_OFF)
        call(url, SWITCH_OFF)
    events = [event for event in honeytrace_capture.events if event["event_name"] == "lookup"]
    assert len(events) == 2, "a request that asked for sampled=0 went unrecorded"
    assert all(event["session_id"] != VICTIM for event in events)
    ignored = [record for record in caplog.records if "trust_incoming" in record.getMessage()]
    assert len(ignored) == 1  # said once, not per request
    assert "127.0.0.1" in ignored[0].getMessage()


def test_by_default_a_caller_cannot_write_into_another_session(
    honeytrace_capture: Capture, serve: Any
) -> None:
    call(serve(service()), JOIN_VICTIM)
    event = honeytrace_capture.event("lookup")
    assert event["session_id"] != VICTIM
    assert event["parent_id"] != VICTIM_EVENT
    (session,) = honeytrace_capture.sessions  # its own, as without any headers
    assert session["session_id"] == event["session_id"]


def test_trusted_callers_are_obeyed(honeytrace_capture: Capture, serve: Any) -> None:
    url = serve(service(trust_incoming=True))
    call(url, JOIN_VICTIM)
    event = honeytrace_capture.event("lookup")
    assert event["session_id"] == VICTIM and event["parent_id"] == VICTIM_EVENT
    assert honeytrace_capture.sessions == []  # the caller's session is never created here
    call(url, SWITCH_OFF)  # a trusted caller's sampling decision holds
    assert [e["event_name"] for e in honeytrace_capture.events] == ["lookup"]


@pytest.mark.parametrize(
    ("networks", "trusted"),
    [
        (["10.0.0.0/8"], False),
        (["10.0.0.0/8", "127.0.0.0/8"], True),
        ("127.0.0.1", True),
        (["::1"], False),
    ],
)
def test_trust_by_client_network(
    honeytrace_capture: Capture, serve: Any, networks: Any, trusted: bool
) -> None:
    call(serve(service(trust_incoming=networks)), JOIN_VICTIM)
    assert (honeytrace_capture.event("lookup")["session_id"] == VICTIM) is trusted


def test_trust_by_a_function_of_the_request(honeytrace_capture: Capture, serve: Any) -> None:
    def from_gateway(scope: Mapping[str, Any]) -> bool:
        return (b"x-from-gateway", b"s3cret") in scope["headers"]

    url = serve(service(trust_incoming=from_gateway))
    call(url, JOIN_VICTIM)
    call(url, {**JOIN_VICTIM, "X-From-Gateway": "s3cret"})
    first, second = (e for e in honeytrace_capture.events if e["event_name"] == "lookup")
    assert first["session_id"] != VICTIM
    assert second["session_id"] == VICTIM


def test_a_trust_function_that_raises_means_untrusted(
    honeytrace_capture: Capture, serve: Any
) -> None:
    def broken(scope: Mapping[str, Any]) -> bool:
        raise RuntimeError("bug in the user's predicate")

    call(serve(service(trust_incoming=broken)), JOIN_VICTIM)  # the request is still answered
    assert honeytrace_capture.event("lookup")["session_id"] != VICTIM


def test_a_bad_trust_setting_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="trust_incoming"):
        HoneytraceMiddleware(Starlette(), trust_incoming=["not a network"])
