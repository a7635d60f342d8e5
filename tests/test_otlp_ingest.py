"""OTLP/HTTP trace ingest with the OpenTelemetry SDK's own exporters: its OTLP/HTTP protobuf
exporter (gzip, bearer key) and OTLP JSON built by the SDK's encoder, spans with the GenAI
semantic conventions. Spans are exported one by one as they end (children before their
parents, one request each), so the tree is right only if arrival order does not matter."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from honeytrace.local.collector import create_app
from tests.support.collector_server import AppSwitch, CollectorServer, collector_server
from tests.support.otlp_collector import (
    RecordedCollector,
    recorded_collector,
    stored_sessions,
    walk,
)

__all__ = ["collector_server", "recorded_collector"]

MESSAGES = [{"role": "user", "parts": [{"type": "text", "content": "Where is order A-17?"}]}]
ANSWER = [
    {
        "role": "assistant",
        "parts": [{"type": "text", "content": "It ships tomorrow."}],
        "finish_reason": "stop",
    }
]


class SdkJsonExporter(SpanExporter):
    """OTLP/HTTP JSON as the specification writes it, built by the SDK's own OTLP encoder
    (``encode_spans``) and protobuf's JSON mapping, ids turned to hex; a root span's
    ``parentSpanId`` is sent as ``null``. (The Python SDK ships no JSON exporter.)"""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.answers: list[httpx.Response] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        body = json_format.MessageToDict(encode_spans(spans))
        for resource in body["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in span:
                            span[key] = base64.b64decode(span[key]).hex()
                    span.setdefault("parentSpanId", None)
        answer = httpx.post(self.url, json=body, headers=self.headers, timeout=10)
        self.answers.append(answer)
        return SpanExportResult.SUCCESS if answer.is_success else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass


def provider_for(exporter: SpanExporter) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "shop-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def agent_run(provider: TracerProvider, fail_tool: bool = False) -> None:
    """An agent: a chat call that asks for a tool, the tool, a second chat call."""
    tracer = provider.get_tracer("shop.agent")
    with tracer.start_as_current_span(
        "invoke_agent shop", attributes={"gen_ai.operation.name": "invoke_agent"}
    ):
        with tracer.start_as_current_span(
            "chat gpt-4o-mini",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.request.temperature": 0.2,
                "gen_ai.input.messages": json.dumps(MESSAGES),
                "gen_ai.output.messages": json.dumps(ANSWER),
                "gen_ai.usage.input_tokens": 31,
                "gen_ai.usage.output_tokens": 9,
            },
        ):
            time.sleep(0.002)
        with tracer.start_as_current_span(
            "execute_tool lookup_order",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup_order",
                "gen_ai.tool.call.arguments": json.dumps({"order_id": "A-17"}),
                "gen_ai.tool.call.result": json.dumps({"status": "shipping"}),
            },
        ) as tool:
            if fail_tool:
                tool.set_status(Status(StatusCode.ERROR, "order service down"))


def assert_agent_tree(tree: dict[str, Any], failed: bool = False) -> None:
    """The stored tree of :func:`agent_run`: a session named after the root span."""
    assert tree["event_name"] == "invoke_agent shop"
    assert tree["source"] == "shop-bot"  # the resource's service.name
    (root,) = tree["children"]
    assert (root["event_type"], root["event_name"]) == ("chain", "invoke_agent shop")
    assert root["parent_id"] == tree["session_id"]
    assert tree["start_time"] == root["start_time"]
    assert tree["end_time"] == root["end_time"]
    chat, tool = root["children"]
    assert (chat["event_type"], chat["event_name"]) == ("model", "chat gpt-4o-mini")
    assert chat["parent_id"] == tool["parent_id"] == root["event_id"]
    assert chat["config"]["model"] == "gpt-4o-mini"
    assert chat["config"]["provider"] == "openai"
    assert chat["config"]["temperature"] == 0.2
    assert chat["inputs"] == {"messages": [{"role": "user", "content": "Where is order A-17?"}]}
    assert chat["outputs"]["content"] == "It ships tomorrow."
    assert chat["metrics"] == {"prompt_tokens": 31, "completion_tokens": 9, "total_tokens": 40}
    assert chat["duration"] >= 2
    assert root["start_time"] <= chat["start_time"] <= chat["end_time"] <= tool["start_time"]
    assert tool["end_time"] <= root["end_time"]
    assert (tool["event_type"], tool["event_name"]) == ("tool", "execute_tool lookup_order")
    assert tool["inputs"] == {"order_id": "A-17"}
    assert tool["outputs"] == {"status": "shipping"}
    assert tool["error"] == ("order service down" if failed else None)
    assert chat["error"] is None
    assert tree["totals"]["tokens"]["total_tokens"] == 40


# -- the SDK's exporters --------------------------------------------------------------------


@pytest.fixture
def keyed(collector_server: tuple[CollectorServer, AppSwitch], tmp_path: Any) -> Iterator[str]:
    """A collector that wants ``Authorization: Bearer secret``; yields its store path."""
    server, switch = collector_server
    db_path = str(tmp_path / "keyed.db")
    switch.app = create_app(db_path, api_key="secret")
    server.db_path = db_path
    try:
        yield db_path
    finally:
        switch.app.state.store.close()
        switch.app = None


def test_protobuf_exporter_gzip_and_bearer_key(
    collector_server: tuple[CollectorServer, AppSwitch], keyed: str
) -> None:
    url = collector_server[0].url + "/v1/traces"
    provider = provider_for(OTLPSpanExporter(endpoint=url, timeout=5))
    agent_run(provider)
    provider.shutdown()
    assert stored_sessions(keyed) == []  # no key: 401, nothing stored

    exporter = OTLPSpanExporter(
        endpoint=url, headers={"Authorization": "Bearer secret"}, compression=Compression.Gzip
    )
    provider = provider_for(exporter)
    agent_run(provider, fail_tool=True)
    provider.shutdown()
    (tree,) = stored_sessions(keyed)
    assert_agent_tree(tree, failed=True)


def test_sdk_json_children_first_across_requests_and_resent(
    recorded_collector: RecordedCollector,
) -> None:
    exporter = SdkJsonExporter(recorded_collector.url + "/v1/traces")
    provider = provider_for(exporter)
    agent_run(provider)
    assert len(exporter.answers) == 3  # one request per span, each child before its parent
    assert all(answer.status_code == 200 for answer in exporter.answers)
    assert exporter.answers[0].json() == {}  # full success
    assert exporter.answers[0].headers["content-type"].startswith("application/json")
    (tree,) = stored_sessions(recorded_collector.db_path)
    assert_agent_tree(tree)

    # The same spans again (a retried export): still one event each.
    spans: list[ReadableSpan] = []

    class Keep(SpanExporter):
        def export(self, batch: Sequence[ReadableSpan]) -> SpanExportResult:
            spans.extend(batch)
            return SpanExportResult.SUCCESS

    provider = provider_for(Keep())
    agent_run(provider)
    again = SdkJsonExporter(recorded_collector.url + "/opentelemetry/v1/traces")
    assert again.export(spans) is SpanExportResult.SUCCESS
    assert again.export(list(reversed(spans))) is SpanExportResult.SUCCESS
    trees = stored_sessions(recorded_collector.db_path)
    assert len(trees) == 2
    assert sum(1 for _ in walk(trees[1])) == 1 + 3
    assert_agent_tree(trees[1])


# -- the protocol ---------------------------------------------------------------------------


def otlp_json(spans: list[dict[str, Any]], service: str = "svc") -> dict[str, Any]:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}


def span_json(
    trace: str, span: str, parent: str | None, name: str, start: int, **attributes: Any
) -> dict[str, Any]:
    values = []
    for key, value in attributes.items():
        kind = "intValue" if isinstance(value, int) else "stringValue"
        values.append({"key": key.replace("__", "."), "value": {kind: str(value)}})
    return {
        "traceId": trace,
        "spanId": span,
        "parentSpanId": parent,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(start * 1_000_000),
        "endTimeUnixNano": str((start + 5) * 1_000_000),
        "attributes": values,
        "status": {},
    }


TRACE = "5b8efff798038103d269b633813fc60c"


def test_partial_success_rejects_only_bad_spans(recorded_collector: RecordedCollector) -> None:
    body = otlp_json(
        [
            span_json(TRACE, "eee19b7ec3c1b174", None, "root", 1_700_000_000_000),
            span_json(TRACE, "abcd", None, "bad id", 1_700_000_000_001),
        ]
    )
    answer = httpx.post(recorded_collector.url + "/v1/traces", json=body)
    assert answer.status_code == 200
    assert answer.json() == {
        "partialSuccess": {
            "rejectedSpans": "1",
            "errorMessage": "span 'bad id': trace_id must be 16 bytes and span_id 8",
        }
    }
    (tree,) = stored_sessions(recorded_collector.db_path)
    assert [event["event_name"] for event in tree["children"]] == ["root"]


def test_malformed_bodies_are_otlp_400s_and_logged(
    recorded_collector: RecordedCollector, caplog: pytest.LogCaptureFixture
) -> None:
    url = recorded_collector.url + "/v1/traces"
    with caplog.at_level(logging.WARNING, logger="honeytrace.collector"):
        answer = httpx.post(url, content=b"{nope", headers={"content-type": "application/json"})
        assert answer.status_code == 400
        assert answer.json()["code"] == 3
        assert "malformed JSON" in answer.json()["message"]

        answer = httpx.post(
            url, content=b"\xff\xff\xff", headers={"content-type": "application/x-protobuf"}
        )
        assert answer.status_code == 400
        assert answer.headers["content-type"] == "application/x-protobuf"
        from google.rpc.status_pb2 import Status as RpcStatus

        status = RpcStatus.FromString(answer.content)
        assert status.code == 3 and "protobuf" in status.message

        answer = httpx.post(url, content=b"x", headers={"content-type": "text/plain"})
        assert answer.status_code == 415

        answer = httpx.post(
            url,
            content=b"not gzip",
            headers={"content-type": "application/json", "content-encoding": "gzip"},
        )
        assert answer.status_code == 400
    logged = [record.getMessage() for record in caplog.records]
    assert any("POST /v1/traces -> 400: malformed JSON body" in line for line in logged)
    assert any("POST /v1/traces -> 415: unsupported content type" in line for line in logged)
    assert any("POST /v1/traces -> 400: malformed protobuf body" in line for line in logged)
    assert stored_sessions(recorded_collector.db_path) == []


def test_trace_session_from_a_later_request_and_honeyhive_session_case(
    recorded_collector: RecordedCollector,
) -> None:
    url = recorded_collector.url
    session_id = "3F2504E0-4F89-41D3-9A0C-0305E82C3301"  # upper case, as some clients send
    started = httpx.post(
        url + "/session/start",
        json={"session": {"session_id": session_id, "session_name": "chat", "project": "p"}},
    )
    assert started.status_code == 200
    assert started.json()["session_id"] == session_id.lower()
    # The root span names the session (any case); its child comes later, without attributes.
    root = span_json(
        TRACE,
        "1111111111111111",
        None,
        "turn",
        1_700_000_000_000,
        honeyhive__session_id=session_id,
        honeyhive_event_type="chain",
    )
    child = span_json(TRACE, "2222222222222222", "1111111111111111", "step", 1_700_000_000_001)
    for body in (otlp_json([root]), otlp_json([child])):
        assert httpx.post(url + "/v1/traces", json=body).status_code == 200
    # Another trace the other way round: the child (no attributes) first, in a request of its
    # own, so it lands in its trace's session; the root naming the session moves it over.
    other = "6c8efff798038103d269b633813fc60d"
    late_root = span_json(
        other,
        "3333333333333333",
        None,
        "turn 2",
        1_700_000_000_010,
        honeyhive__session_id=session_id.lower(),
    )
    early_child = span_json(
        other, "4444444444444444", "3333333333333333", "step 2", 1_700_000_000_011
    )
    assert httpx.post(url + "/v1/traces", json=otlp_json([early_child])).status_code == 200
    assert len(stored_sessions(recorded_collector.db_path)) == 2  # for now, the trace's own
    assert httpx.post(url + "/v1/traces", json=otlp_json([late_root])).status_code == 200

    (tree,) = stored_sessions(recorded_collector.db_path)
    assert tree["event_name"] == "chat"  # named by the REST create, not by the span
    assert tree["session_id"] == session_id.lower()
    turn, turn2 = tree["children"]
    assert (turn["event_name"], turn2["event_name"]) == ("turn", "turn 2")
    assert [event["event_name"] for event in turn["children"]] == ["step"]
    assert [event["event_name"] for event in turn2["children"]] == ["step 2"]
    assert turn2["children"][0]["session_id"] == tree["session_id"]
