"""honeytrace in an app that already runs OpenTelemetry: one tree on both sides.

- `configure(otel=True)` makes each honeytrace event an OTel span of the app's provider, so
  spans of other instrumentation inside a traced call nest under it.
- `HoneytraceSpanProcessor` makes foreign spans (here, a GenAI "chat" span as OpenTelemetry's
  OpenAI instrumentation emits it) events of the honeytrace session they ran in.

    pip install "honeytrace[otel]"
    python examples/otel_bridge.py
    honeytrace show latest
"""

from __future__ import annotations

import json

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import honeytrace
from honeytrace.otel import HoneytraceSpanProcessor

# The app's own OpenTelemetry setup (any exporter: OTLP, console, ...).
exported = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exported))
provider.add_span_processor(HoneytraceSpanProcessor())
trace.set_tracer_provider(provider)

honeytrace.configure(otel=True)
instrumentation = trace.get_tracer("opentelemetry.instrumentation.openai_v2")


def fake_openai_chat(question: str) -> str:
    """What an instrumented client call looks like: a GenAI span around the request."""
    with instrumentation.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as span:
        span.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.request.temperature": 0.2,
                "gen_ai.input.messages": json.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": question}]}]
                ),
            }
        )
        answer = "Refunds are issued within 14 days."
        span.set_attributes(
            {
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]
                ),
                "gen_ai.usage.input_tokens": 12,
                "gen_ai.usage.output_tokens": 8,
            }
        )
        return answer


@honeytrace.trace_tool
def search(query: str) -> list[str]:
    """A honeytrace-traced tool."""
    return ["refund-policy"]


@honeytrace.trace_session(name="support-chat")
def chat(question: str) -> str:
    """The session: a traced tool, then the instrumented model call."""
    search(question)
    return fake_openai_chat(question)


def print_tree(spans: list[ReadableSpan]) -> None:
    """The OTel side, indented by parent."""
    by_parent: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        by_parent.setdefault(span.parent.span_id if span.parent else None, []).append(span)

    def show(parent: int | None, depth: int) -> None:
        for span in by_parent.get(parent, []):
            scope = span.instrumentation_scope.name if span.instrumentation_scope else ""
            print(f"{'  ' * depth}{span.name}  [{scope}]")
            show(span.get_span_context().span_id, depth + 1)

    show(None, 0)


if __name__ == "__main__":
    print(chat("How do refunds work?"))
    print("OpenTelemetry spans:")
    print_tree(list(exported.get_finished_spans()))
    print(f"all delivered: {honeytrace.flush()}")
