"""The HoneyHive tracer attributes of the one OTel mapping, over OTLP JSON written by hand (each
attribute as the TypeScript or Python tracer spells it), and a trace of plain OTel spans."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from tests.support.collector_server import collector_server
from tests.support.otlp_collector import RecordedCollector, recorded_collector, stored_sessions

__all__ = ["collector_server", "recorded_collector"]

TRACE = "0af7651916cd43dd8448eb211c80319c"
T0_NS = 1_700_000_000_000 * 1_000_000


def attribute(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}  # int64 as a string, as OTLP JSON
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def span(
    span_id: str, parent: str | None, name: str, offset_ms: int, **attributes: Any
) -> dict[str, Any]:
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": "SPAN_KIND_INTERNAL",
        "startTimeUnixNano": str(T0_NS + offset_ms * 1_000_000),
        "endTimeUnixNano": str(T0_NS + (offset_ms + 10) * 1_000_000),
        "attributes": [attribute(key, value) for key, value in attributes.items()],
        "status": {"code": "STATUS_CODE_UNSET"},
    }


def post(url: str, spans: list[dict[str, Any]]) -> None:
    body = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": spans}]}]}
    answer = httpx.post(url + "/opentelemetry/v1/traces", json=body)
    assert answer.status_code == 200, answer.text


def test_honeyhive_attributes(recorded_collector: RecordedCollector) -> None:
    session_id = str(uuid.uuid4())
    root = span(
        "00f067aa0ba902b7",
        None,
        "traced_fn",
        0,
        **{
            "traceloop.association.properties.session_id": session_id,
            "traceloop.association.properties.session_name": "ts-session",
            "honeyhive_event_type": "model",
            "honeyhive_event_name": "renamed",
            "honeyhive.source": "ts-app",
            "honeyhive_inputs._params_.question": "why?",
            "honeyhive_inputs._params_.options": json.dumps({"k": 3}),
            "honeyhive_outputs": json.dumps({"answer": "because"}),
            "honeyhive_config.model": "gpt-4o",
            "honeyhive_metadata.tags.0": "a",
            "honeyhive_metadata.tags.1": "b",
            "honeyhive_metrics.latency": 1.5,
            "honeyhive_feedback.liked": True,
            "honeyhive_user_properties.plan": "pro",
            "honeyhive_duration_ms": "12.5",
            "honeyhive_error": "rate limited",
        },
    )
    post(recorded_collector.url, [root])
    (tree,) = stored_sessions(recorded_collector.db_path)
    assert tree["session_id"] == session_id
    assert tree["event_name"] == "ts-session"
    (event,) = tree["children"]
    assert (event["event_type"], event["event_name"], event["source"]) == (
        "model",
        "renamed",
        "ts-app",
    )
    assert event["inputs"] == {"question": "why?", "options": {"k": 3}}
    assert event["outputs"] == {"answer": "because"}
    assert event["config"] == {"model": "gpt-4o"}
    assert event["metadata"]["tags"] == ["a", "b"]
    assert event["metrics"] == {"latency": 1.5}
    assert event["feedback"] == {"liked": True}
    assert event["user_properties"] == {"plan": "pro"}
    assert event["duration"] == 12.5
    assert event["error"] == "rate limited"
    assert event["start_time"] == 1_700_000_000_000
    assert event["end_time"] == 1_700_000_000_010


def test_plain_trace_is_its_own_session_in_any_order(recorded_collector: RecordedCollector) -> None:
    grandchild = span(
        "cccccccccccccccc", "bbbbbbbbbbbbbbbb", "db query", 2, **{"db.system": "sqlite"}
    )
    child = span("bbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaa", "handler", 1)
    root = span("aaaaaaaaaaaaaaaa", None, "GET /orders", 0, **{"http.route": "/orders"})
    post(recorded_collector.url, [grandchild])
    post(recorded_collector.url, [child, grandchild])  # a retried span among them
    post(recorded_collector.url, [root])
    (tree,) = stored_sessions(recorded_collector.db_path)
    assert tree["event_name"] == "GET /orders"
    assert tree["start_time"] == 1_700_000_000_000 and tree["duration"] == 10
    (top,) = tree["children"]
    assert top["event_name"] == "GET /orders" and top["metadata"]["http.route"] == "/orders"
    (handler,) = top["children"]
    (query,) = handler["children"]
    assert (handler["event_name"], query["event_name"]) == ("handler", "db query")
    assert query["metadata"]["db.system"] == "sqlite"
    assert query["metadata"]["otel.trace_id"] == TRACE
    assert tree["totals"]["events"] == 3
