"""honeytrace's own HTTP calls are never traced, whatever HTTP instrumentation is on.

Without the suppression, every batch the flusher sends would be a client span, and with a
HoneytraceSpanProcessor installed that span would come back as an event to send: a loop. The
transport speaks ``http.client``, which no OpenTelemetry contrib package patches, so the test
instruments it the way every contrib instrumentation works (skip when
``is_http_instrumentation_enabled()`` is false); the real httpx instrumentation checks that an
application's own calls are traced and become events.
"""

from __future__ import annotations

import http.client
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.utils import is_http_instrumentation_enabled
from opentelemetry.trace import SpanKind

import honeytrace
from tests.support.collector_server import (
    CollectorServer,
    collector_fixture,
    collector_server,  # noqa: F401 -- registers the module-scoped server fixture
)
from tests.support.otel import Otel, otel_fixture

__all__ = ["collector_fixture", "otel_fixture"]


@pytest.fixture
def instrumented_httpx(otel: Otel) -> Iterator[None]:
    instrumentor = HTTPXClientInstrumentor()
    instrumentor.instrument(tracer_provider=otel.provider)
    try:
        yield
    finally:
        instrumentor.uninstrument()


@pytest.fixture
def instrumented_http_client(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    tracer = otel.tracer("tests.http_client")
    original = http.client.HTTPConnection.request

    def request(
        self: http.client.HTTPConnection, method: str, url: str, *args: Any, **kw: Any
    ) -> None:
        if not is_http_instrumentation_enabled():
            original(self, method, url, *args, **kw)
            return
        attributes = {"http.request.method": method, "url.path": url}
        with tracer.start_as_current_span(method, kind=SpanKind.CLIENT, attributes=attributes):
            original(self, method, url, *args, **kw)

    monkeypatch.setattr(http.client.HTTPConnection, "request", request)


def http_spans(otel: Otel) -> list[str]:
    return [
        span.name
        for span in otel.spans()
        if any(key.startswith("http.") for key in (span.attributes or {}))
    ]


def test_the_flusher_and_its_senders_are_not_traced(
    otel: Otel,
    instrumented_httpx: None,
    instrumented_http_client: None,
    collector: CollectorServer,
) -> None:
    otel.processor()
    honeytrace.configure(exporter="http", server_url=collector.url, otel=True)
    # The instrumentation is live in application threads...
    with urllib.request.urlopen(collector.url + "/healthz") as response:
        assert response.status == 200
    assert http_spans(otel) == ["GET"]
    # ...and several sessions make the flusher fan out over sender threads.
    ids = []
    for index in range(3):
        with honeytrace.session(f"s{index}") as session:
            honeytrace.trace_tool(lambda: 1, name="t")()
        ids.append(session.session_id)
    assert honeytrace.flush(10.0)
    for session_id in ids:
        tree = httpx.get(f"{collector.url}/v1/sessions/{session_id}").json()
        assert [child["event_name"] for child in tree["children"]] == ["t"]
    # Only the application's own requests (the check above and these reads) were traced:
    # nothing the flusher or its sender threads sent, and so no event about them either.
    assert http_spans(otel) == ["GET"] * 4
    assert honeytrace.stats().dropped == {}
    honeytrace.configure(exporter="memory")


def test_an_app_http_call_in_a_traced_tool_is_a_tool_event(
    otel: Otel, instrumented_httpx: None, collector: CollectorServer
) -> None:
    otel.processor()

    @honeytrace.trace_tool
    def check() -> int:
        return httpx.get(collector.url + "/healthz").status_code

    with honeytrace.testing.capture() as traces:
        with honeytrace.session("s"):
            assert check() == 200
        events = {event["event_name"]: event for event in traces.events}
    assert sorted(events) == ["GET", "check"]
    call = events["GET"]
    assert call["parent_id"] == events["check"]["event_id"]
    assert call["event_type"] == "tool"
    metadata = call["metadata"]
    # The instrumentation's attribute names depend on its HTTP semconv opt-in.
    assert metadata.get("http.request.method", metadata.get("http.method")) == "GET"
    assert metadata.get("http.response.status_code", metadata.get("http.status_code")) == 200
    assert metadata["otel.scope"] == "opentelemetry.instrumentation.httpx"
