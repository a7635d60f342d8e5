"""One mapping: every recorded span fixture (tests/fixtures/otel: GenAI semantic conventions,
OpenInference, OpenLLMetry, from real instrumentations) read the same way whether the span
processor records it in-process or the collector receives it over OTLP/HTTP protobuf from the
SDK's exporter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

import honeytrace
from honeytrace.testing import capture
from tests.support.collector_server import collector_server
from tests.support.otel import FIXTURES, Otel, load_fixture, otel_fixture, replay
from tests.support.otlp_collector import RecordedCollector, recorded_collector, stored_sessions

__all__ = ["collector_server", "otel_fixture", "recorded_collector"]

FIELDS = ("event_type", "event_name", "inputs", "outputs", "config", "metrics", "error")


def replay_with(provider: TracerProvider, record: dict[str, Any]) -> None:
    """:func:`tests.support.otel.replay` through ``provider`` instead of the global one."""
    scope = record["scope"]
    tracer = provider.get_tracer(scope["name"], scope.get("version") or "")
    span = tracer.start_span(
        record["name"], kind=SpanKind[record["kind"]], attributes=record["attributes"]
    )
    for event in record["events"]:
        span.add_event(event["name"], event["attributes"])
    status = record["status"]
    if status["code"] == "ERROR":
        span.set_status(Status(StatusCode.ERROR, status["description"]))
    elif status["code"] == "OK":
        span.set_status(Status(StatusCode.OK))
    span.end()


@pytest.fixture
def processor(otel: Otel) -> Iterator[None]:
    otel.processor()
    yield


@pytest.mark.parametrize("name", sorted(path.stem for path in FIXTURES.glob("*.json")))
def test_processor_and_otlp_read_spans_alike(
    name: str, processor: None, recorded_collector: RecordedCollector
) -> None:
    spans = load_fixture(name)["spans"]
    with capture() as traces:
        with honeytrace.session("parity"):
            for record in spans:
                replay(record)
        recorded = [{key: event.get(key) for key in FIELDS} for event in traces.events]

    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=recorded_collector.url + "/v1/traces"))
    )
    for record in spans:
        replay_with(provider, record)
    provider.shutdown()
    received = []
    for tree in stored_sessions(recorded_collector.db_path):  # one trace, one session, per span
        (event,) = tree["children"]
        received.append({key: event.get(key) for key in FIELDS})

    assert len(received) == len(recorded) == len(spans) > 0

    def normal(event: dict[str, Any]) -> dict[str, Any]:
        # The processor leaves empty objects out of the wire event; the store keeps {}. The
        # price is the flusher's work after the mapping (the collector stores what it is sent).
        metrics = {k: v for k, v in (event.get("metrics") or {}).items() if k != "cost_usd"}
        event = {**event, "metrics": metrics}
        return {key: value for key, value in event.items() if value not in (None, {})}

    assert sorted(map(repr, map(normal, received))) == sorted(map(repr, map(normal, recorded)))
