"""Foreign OpenTelemetry spans as honeytrace events (HoneytraceSpanProcessor), with the real SDK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, Status, StatusCode

import honeytrace
from honeytrace._record import hooks as _hooks
from honeytrace.otel import HoneytraceSpanProcessor, is_llm_span
from honeytrace.testing import Capture, capture
from tests.support.otel import Otel, otel_fixture

__all__ = ["otel_fixture"]

CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 10,
    "gen_ai.usage.output_tokens": 4,
}


def _priced(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics without the cost the flusher adds to a known model (tested in
    integrations/openai/tests/test_openai_cost.py and tests/test_pricing.py)."""
    assert metrics.get("cost_usd", 0) > 0
    return {key: value for key, value in metrics.items() if key != "cost_usd"}


@pytest.fixture
def traces() -> Iterator[Capture]:
    with capture() as captured:
        yield captured


def by_name(traces: Capture) -> dict[str, dict[str, Any]]:
    events = traces.events
    named = {event["event_name"]: event for event in events}
    assert len(named) == len(events), "event names are unique in these tests"
    return named


@pytest.mark.price_table
def test_a_foreign_span_in_a_traced_call_is_an_event_under_it(otel: Otel, traces: Capture) -> None:
    otel.processor()
    tracer = otel.tracer("opentelemetry.instrumentation.openai_v2")

    @honeytrace.trace_tool
    def ask(question: str) -> str:
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as span:
            span.set_attributes(CHAT)
        return "answer"

    before = honeytrace.stats().recorded
    with honeytrace.session("support") as session:
        ask("hi")
    events = by_name(traces)
    chat = events["chat gpt-4o-mini"]
    assert chat["session_id"] == session.session_id
    assert chat["parent_id"] == events["ask"]["event_id"]
    assert chat["event_type"] == "model"
    assert chat["config"] == {"model": "gpt-4o-mini", "provider": "openai"}
    assert _priced(chat["metrics"]) == {
        "prompt_tokens": 10,
        "completion_tokens": 4,
        "total_tokens": 14,
    }
    assert events["ask"]["children_ids"] == [chat["event_id"]]
    span = otel.span("chat gpt-4o-mini")
    assert span.start_time is not None and span.end_time is not None
    assert chat["duration"] == pytest.approx((span.end_time - span.start_time) / 1e6, abs=0.01)
    stats = honeytrace.stats()
    assert stats.recorded - before == 3  # the session, ask, and the foreign span
    assert stats.sent == stats.recorded and stats.dropped == {}


def test_nested_foreign_spans_nest_as_events(otel: Otel, traces: Capture) -> None:
    otel.processor()
    tracer = otel.tracer("openinference")

    with honeytrace.session("s") as session:
        with tracer.start_as_current_span("agent", attributes={"openinference.span.kind": "AGENT"}):
            with tracer.start_as_current_span("llm", attributes={"openinference.span.kind": "LLM"}):
                pass
    events = by_name(traces)
    assert events["agent"]["parent_id"] == session.session_id
    assert events["agent"]["event_type"] == "chain"
    assert events["llm"]["parent_id"] == events["agent"]["event_id"]
    assert events["llm"]["event_type"] == "model"


def test_a_filtered_out_span_hands_its_children_to_its_recorded_ancestor(
    otel: Otel, traces: Capture
) -> None:
    otel.processor(span_filter=is_llm_span)
    tracer = otel.tracer("mixed")

    with honeytrace.session("s"):
        with tracer.start_as_current_span("chain", attributes={"traceloop.span.kind": "workflow"}):
            with tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT):
                with tracer.start_as_current_span("chat", attributes={"llm.request.type": "chat"}):
                    pass
    events = by_name(traces)
    assert "SELECT orders" not in events
    assert events["chat"]["parent_id"] == events["chain"]["event_id"]


def test_an_event_opened_in_a_recorded_foreign_span_goes_under_it(
    otel: Otel, traces: Capture
) -> None:
    otel.processor()
    tracer = otel.tracer("langchain")

    @honeytrace.trace_tool
    def lookup() -> str:
        return "shipped"

    with honeytrace.session("s") as session:
        with tracer.start_as_current_span("agent", attributes={"openinference.span.kind": "AGENT"}):
            lookup()
        lookup()  # after the foreign span: back under the session
    agent = traces.event("agent")
    lookups = [event for event in traces.events if event["event_name"] == "lookup"]
    assert [event["parent_id"] for event in lookups] == [agent["event_id"], session.session_id]
    assert agent["children_ids"] == [lookups[0]["event_id"]]


def test_with_the_bridge_both_trees_agree_and_nothing_is_recorded_twice(otel: Otel) -> None:
    otel.processor()
    tracer = otel.tracer("web")

    @honeytrace.trace_tool
    def lookup() -> str:
        with tracer.start_as_current_span("GET /orders", kind=SpanKind.CLIENT):
            pass
        return "shipped"

    with capture(otel=True) as traces:
        with honeytrace.session("s"):
            with tracer.start_as_current_span(
                "plan", attributes={"gen_ai.operation.name": "invoke_agent"}
            ):
                lookup()
        events = by_name(traces)
    assert sorted(events) == ["GET /orders", "lookup", "plan"]
    assert events["lookup"]["parent_id"] == events["plan"]["event_id"]
    assert events["GET /orders"]["parent_id"] == events["lookup"]["event_id"]
    assert events["GET /orders"]["event_type"] == "tool"  # an outgoing call
    spans = {span.name: span for span in otel.spans()}
    assert spans["lookup"].parent is not None and spans["GET /orders"].parent is not None
    assert spans["lookup"].parent.span_id == spans["plan"].get_span_context().span_id
    assert spans["GET /orders"].parent.span_id == spans["lookup"].get_span_context().span_id


def test_outside_a_session_an_llm_span_opens_an_implicit_session(
    otel: Otel, traces: Capture
) -> None:
    otel.processor()
    tracer = otel.tracer("app")

    with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER):  # not an LLM span
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes=CHAT) as chat:
            with tracer.start_as_current_span(
                "tool", attributes={"gen_ai.operation.name": "execute_tool"}
            ):
                pass
            with tracer.start_as_current_span("POST api.openai.com", kind=SpanKind.CLIENT):
                pass  # not an LLM span, but under a recorded one: it counts
            chat.set_attribute("gen_ai.output.messages", '[{"role": "assistant", "parts": []}]')
    session = traces.session("chat gpt-4o-mini")
    events = by_name(traces)
    assert sorted(events) == ["POST api.openai.com", "chat gpt-4o-mini", "tool"]
    assert events["chat gpt-4o-mini"]["session_id"] == session["session_id"]
    assert events["chat gpt-4o-mini"]["parent_id"] == session["session_id"]
    assert events["tool"]["parent_id"] == events["chat gpt-4o-mini"]["event_id"]
    assert events["POST api.openai.com"]["parent_id"] == events["chat gpt-4o-mini"]["event_id"]
    assert session["outputs"] == {"role": "assistant"}
    assert len(traces.sessions) == 1


def test_outside_a_session_spans_can_be_ignored(otel: Otel, traces: Capture) -> None:
    otel.processor(outside_session="ignore")
    tracer = otel.tracer("app")
    with tracer.start_as_current_span("chat", attributes=CHAT):
        pass
    with honeytrace.session("s"):
        with tracer.start_as_current_span("inside", attributes=CHAT):
            pass
    assert [event["event_name"] for event in traces.events] == ["inside"]
    assert [session["session_name"] for session in traces.sessions] == ["s"]


def test_plain_spans_count_inside_sessions_only(otel: Otel, traces: Capture) -> None:
    otel.processor()
    tracer = otel.tracer("db")
    with tracer.start_as_current_span("SELECT outside"):
        pass
    with honeytrace.session("s"):
        with tracer.start_as_current_span("SELECT inside", attributes={"db.system": "sqlite"}):
            pass
    (event,) = traces.events
    assert event["event_name"] == "SELECT inside"
    assert event["event_type"] == "chain"
    assert event["metadata"]["db.system"] == "sqlite"
    assert event["inputs"] == {}


def test_errors_capture_settings_and_redaction_apply(otel: Otel) -> None:
    otel.processor()
    tracer = otel.tracer("app")

    def redact(body: dict[str, Any]) -> dict[str, Any]:
        body.setdefault("metadata", {})["redacted"] = True
        return body

    with capture(capture_inputs=False, redact=redact) as traces:
        with honeytrace.session("s"):
            with tracer.start_as_current_span(
                "chat",
                attributes={**CHAT, "gen_ai.input.messages": '[{"role": "user", "parts": []}]'},
            ) as span:
                span.set_status(Status(StatusCode.ERROR, "rate limited"))
        (event,) = traces.events
    assert event["error"] == "rate limited"
    assert event["inputs"] == {}
    assert event["metadata"]["redacted"] is True


def test_an_exception_event_gives_the_error_and_traceback(otel: Otel, traces: Capture) -> None:
    otel.processor()
    tracer = otel.tracer("app")
    with honeytrace.session("s"), pytest.raises(TimeoutError):
        with tracer.start_as_current_span("call", attributes=CHAT):
            raise TimeoutError("upstream took too long")
    (event,) = traces.events
    assert event["error"] == "TimeoutError: upstream took too long"
    assert "Traceback" in event["metadata"]["traceback"]
    assert "otel.events" not in event["metadata"]


def test_unsampled_sessions_record_no_foreign_spans(otel: Otel) -> None:
    otel.processor()
    tracer = otel.tracer("app")
    with capture(sample_rate=0.0) as traces:
        with honeytrace.session("dropped"):
            with tracer.start_as_current_span("chat", attributes=CHAT):
                pass
        assert traces.events == []


def test_shutdown_stops_linking_and_force_flush_delivers(otel: Otel, traces: Capture) -> None:
    processor = otel.processor()
    assert _hooks.active is not None  # the bridge observer, linking events to foreign spans
    with honeytrace.session("s"):
        pass
    assert processor.force_flush(5000) is True
    assert traces.sessions[0]["session_name"] == "s"
    processor.shutdown()
    processor.shutdown()  # once is enough
    assert _hooks.active is None


def test_a_bad_option_is_refused() -> None:
    with pytest.raises(ValueError, match="outside_session"):
        HoneytraceSpanProcessor(outside_session="always")  # type: ignore[arg-type]
