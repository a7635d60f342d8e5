"""hivetrace's own HTTP calls are never traced, with the real httpx instrumentation on.

Without the suppression, every batch the flusher sends would be an ``httpx`` span, and with a
HivetraceSpanProcessor installed that span would come back as an event to send: a loop.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

import hivetrace
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


def http_spans(otel: Otel) -> list[str]:
    return [
        span.name
        for span in otel.spans()
        if any(key.startswith("http.") for key in (span.attributes or {}))
    ]


def test_the_flusher_and_its_senders_are_not_traced(
    otel: Otel, instrumented_httpx: None, collector: CollectorServer
) -> None:
    otel.processor()
    hivetrace.configure(exporter="http", server_url=collector.url, otel=True)
    # The instrumentation is live in application threads...
    httpx.get(collector.url + "/healthz")
    assert http_spans(otel) == ["GET"]
    # ...and several sessions make the flusher fan out over sender threads.
    ids = []
    for index in range(3):
        with hivetrace.session(f"s{index}") as session:
            hivetrace.trace_tool(lambda: 1, name="t")()
        ids.append(session.session_id)
    assert hivetrace.flush(10.0)
    for session_id in ids:
        tree = httpx.get(f"{collector.url}/v1/sessions/{session_id}").json()
        assert [child["event_name"] for child in tree["children"]] == ["t"]
    # Only the application's own requests (the check above and these reads) were traced.
    assert http_spans(otel) == ["GET"] * 4
    assert hivetrace.stats().dropped == {}
    hivetrace.configure(exporter="memory")


def test_an_app_http_call_in_a_traced_tool_is_a_tool_event(
    otel: Otel, instrumented_httpx: None, collector: CollectorServer
) -> None:
    otel.processor()

    @hivetrace.trace_tool
    def check() -> int:
        return httpx.get(collector.url + "/healthz").status_code

    with hivetrace.testing.capture() as traces:
        with hivetrace.session("s"):
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
