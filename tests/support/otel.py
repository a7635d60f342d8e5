"""The OpenTelemetry SDK for tests: one global TracerProvider per process, per-test processors.

OpenTelemetry lets the global tracer provider be set once per process, so it is set here, the
first time a test asks, with one in-memory exporter and a :class:`SwitchProcessor` through which
each test adds its own processors (a :class:`honeytrace.otel.HoneytraceSpanProcessor`) and removes
them afterwards. Import the ``otel`` fixture into a test module to use it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from honeytrace.otel import HoneytraceSpanProcessor

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "otel"

__all__ = ["FIXTURES", "Otel", "SwitchProcessor", "load_fixture", "otel_fixture", "replay"]


class SwitchProcessor(SpanProcessor):
    """Forwards to the processors of the running test."""

    def __init__(self) -> None:
        self.targets: list[SpanProcessor] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        for target in list(self.targets):
            target.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for target in list(self.targets):
            target.on_end(span)


@dataclass
class Otel:
    """The global provider, its memory exporter, and what the test added."""

    provider: TracerProvider
    exporter: InMemorySpanExporter
    switch: SwitchProcessor
    added: list[HoneytraceSpanProcessor] = field(default_factory=list)

    def tracer(self, name: str = "app", version: str = "") -> trace.Tracer:
        """A tracer of the global provider, as another instrumentation would get it."""
        return trace.get_tracer(name, version)

    def processor(self, **options: Any) -> HoneytraceSpanProcessor:
        """A HoneytraceSpanProcessor on the global provider for this test."""
        processor = HoneytraceSpanProcessor(**options)
        self.added.append(processor)
        self.switch.targets.append(processor)
        return processor

    def spans(self) -> list[ReadableSpan]:
        """Every span ended so far in this test, in end order."""
        return list(self.exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        """The ended span named ``name`` (exactly one)."""
        found = [span for span in self.spans() if span.name == name]
        assert len(found) == 1, f"{len(found)} spans named {name!r}: {self.spans()}"
        return found[0]


_global: tuple[TracerProvider, InMemorySpanExporter, SwitchProcessor] | None = None


def _global_provider() -> tuple[TracerProvider, InMemorySpanExporter, SwitchProcessor]:
    global _global
    if _global is None:
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            trace.set_tracer_provider(TracerProvider())
            provider = trace.get_tracer_provider()
        assert isinstance(provider, TracerProvider)
        exporter = InMemorySpanExporter()
        switch = SwitchProcessor()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        provider.add_span_processor(switch)
        _global = (provider, exporter, switch)
    return _global


@pytest.fixture(name="otel")
def otel_fixture() -> Iterator[Otel]:
    """The global SDK provider with a clean exporter; processors added are removed after."""
    provider, exporter, switch = _global_provider()
    exporter.clear()
    harness = Otel(provider, exporter, switch)
    try:
        yield harness
    finally:
        switch.targets.clear()
        for processor in harness.added:
            processor.shutdown()
        exporter.clear()


def load_fixture(name: str) -> dict[str, Any]:
    """A recorded attribute set from tests/fixtures/otel."""
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def replay(record: dict[str, Any]) -> None:
    """Start and end one recorded span through the global provider, with its scope, kind,
    attributes, span events and status."""
    scope = record["scope"]
    tracer = trace.get_tracer(scope["name"], scope.get("version") or "")
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
