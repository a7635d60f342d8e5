"""OpenInference-instrumented spans over OTLP: the real ``openinference-instrumentation-openai``
around the real OpenAI client (talking to the fake OpenAI server of integrations/openai), its
spans exported by the SDK's OTLP/HTTP protobuf exporter to the collector, inside a CHAIN span
set by hand with OpenInference's conventions."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("openinference.instrumentation.openai", reason="dev extra")

import openai
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.support.collector_server import collector_server
from tests.support.otlp_collector import RecordedCollector, recorded_collector, stored_sessions

__all__ = ["collector_server", "recorded_collector"]

FAKE = Path(__file__).resolve().parents[1] / "integrations" / "openai" / "tests"


def _fake_server_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "openai_fake_server", FAKE / "openai_fake_server.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("openai_fake_server", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_openai() -> Iterator[Any]:
    server = _fake_server_module().FakeOpenAI().start()
    try:
        yield server
    finally:
        server.stop()


def test_openinference_openai_chat(recorded_collector: RecordedCollector, fake_openai: Any) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "rag-app"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=recorded_collector.url + "/v1/traces"))
    )
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = openai.OpenAI(api_key="sk-test", base_url=fake_openai.url, max_retries=0)
        tracer = provider.get_tracer("rag")
        question = "How do refunds work?"
        with tracer.start_as_current_span(
            "answer_question",
            attributes={
                "openinference.span.kind": "CHAIN",
                "input.value": json.dumps({"question": question}),
                "input.mime_type": "application/json",
            },
        ) as chain:
            reply = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": question}],
                temperature=0,
            )
            chain.set_attribute("output.value", reply.choices[0].message.content or "")
    finally:
        instrumentor.uninstrument()
        provider.shutdown()

    (tree,) = stored_sessions(recorded_collector.db_path)
    assert tree["event_name"] == "answer_question"
    (chain_event,) = tree["children"]
    assert chain_event["event_type"] == "chain"
    assert chain_event["inputs"] == {"question": question}
    assert chain_event["outputs"] == {"result": reply.choices[0].message.content}
    (llm,) = chain_event["children"]
    assert llm["event_type"] == "model"
    assert llm["parent_id"] == chain_event["event_id"]
    assert llm["config"]["model"].startswith("gpt-4o-mini")
    assert llm["config"]["temperature"] == 0
    assert llm["inputs"] == {"messages": [{"role": "user", "content": question}]}
    assert llm["outputs"]["role"] == "assistant"
    assert llm["outputs"]["content"] == reply.choices[0].message.content
    assert llm["metrics"]["prompt_tokens"] == 27
    assert llm["metrics"]["completion_tokens"] == 15
    assert llm["metrics"]["total_tokens"] == 42
    assert chain_event["start_time"] <= llm["start_time"] <= llm["end_time"]
    assert llm["end_time"] <= chain_event["end_time"]
    assert llm["error"] is None
