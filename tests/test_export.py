"""``honeytrace export``: JSON Lines with every field, and OTLP/JSON that the OTLP protobufs
parse (what an OTLP collector does with ``POST /v1/traces``)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from honeytrace.local.cli import main
from honeytrace.local.export import parse_since
from honeytrace.local.store import Store

T0 = 1_700_000_000_000
HOUR = 3_600_000


def new_id() -> str:
    return str(uuid.uuid4())


def fill(path: Path) -> dict[str, str]:
    """An old session (T0) and a new one (T0 + 2h) with a chain, a tool under it, and an error."""
    with Store(path) as store:
        old = store.create_session({"session_id": new_id(), "session_name": "old",
                                    "start_time": T0, "source": "prod"})["session_id"]  # fmt: skip
        store.add_events(old, [{"event_type": "tool", "event_name": "ping", "start_time": T0 + 1,
                                "duration": 1}])  # fmt: skip
        sid = store.create_session(
            {"session_id": new_id(), "session_name": "chat", "start_time": T0 + 2 * HOUR,
             "inputs": {"question": "refunds?"}, "user_properties": {"user": "ada"}}
        )["session_id"]  # fmt: skip
        chain, tool = new_id(), new_id()
        store.add_events(sid, [
            {"event_id": chain, "event_type": "chain", "event_name": "answer",
             "start_time": T0 + 2 * HOUR + 1, "end_time": T0 + 2 * HOUR + 1001, "duration": 1000,
             "inputs": {"q": "refunds?", "opts": {"k": 3, "tags": ["a", "b"]}},
             "outputs": {"result": "an answer"}, "config": {"model": "gpt-4o"}},
            {"event_id": tool, "event_type": "tool", "event_name": "search", "parent_id": chain,
             "start_time": T0 + 2 * HOUR + 2, "duration": 12.5, "error": "ValueError: boom",
             "metrics": {"score": 0.5, "hits": 2}, "feedback": {"ok": False},
             "metadata": {"traceback": "Traceback ..."}},
        ])  # fmt: skip
    return {"old": old, "chat": sid, "chain": chain, "tool": tool}


def export(capsys: pytest.CaptureFixture[str], db: Path, *argv: str) -> str:
    code = main(["export", "--db", str(db), *argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def test_jsonl_is_every_event_with_every_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "t.db"
    ids = fill(db)
    lines = export(capsys, db).splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["event_name"] for e in events] == ["old", "ping", "chat", "answer", "search"]
    with Store(db) as store:
        for event in events:
            assert event == store.get_event(event["event_id"])  # nothing dropped or changed
    tool = events[-1]
    assert tool["parent_id"] == ids["chain"] and tool["session_id"] == ids["chat"]
    assert tool["metrics"] == {"score": 0.5, "hits": 2} and tool["duration"] == 12.5


def test_since_keeps_whole_sessions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "t.db"
    ids = fill(db)
    since = datetime.fromtimestamp((T0 + HOUR) / 1000).isoformat()
    events = [json.loads(line) for line in export(capsys, db, "--since", since).splitlines()]
    assert {e["session_id"] for e in events} == {ids["chat"]} and len(events) == 3
    assert export(capsys, db, "--since", "1h") == ""  # both sessions are from 2023


def test_parse_since() -> None:
    now = 1_000_000.0
    assert parse_since("90s", now) == (now - 90) * 1000
    assert parse_since("30m", now) == (now - 1800) * 1000
    assert parse_since("1h", now) == (now - 3600) * 1000
    assert parse_since("2d", now) == (now - 2 * 86400) * 1000
    assert parse_since("1w", now) == (now - 7 * 86400) * 1000
    assert parse_since("2023-11-14T22:13:20Z") == T0
    assert parse_since("2023-11-15 00:13:20+02:00") == T0
    assert parse_since("2023-11-14") == datetime(2023, 11, 14).timestamp() * 1000
    with pytest.raises(ValueError, match="ISO date"):
        parse_since("yesterday")


def test_a_bad_since_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "t.db"
    fill(db)
    code = main(["export", "--db", str(db), "--since", "last week"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and "--since 'last week'" in captured.err


def test_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "t.db"
    fill(db)
    target = tmp_path / "out.jsonl"
    assert export(capsys, db, "-o", str(target)) == ""
    assert len(target.read_text(encoding="utf-8").splitlines()) == 5
    code = main(["export", "--db", str(db), "-o", str(tmp_path / "no" / "such" / "dir.jsonl")])
    assert code == 1 and "cannot write" in capsys.readouterr().err


def parse_otlp(text: str) -> ExportTraceServiceRequest:
    """As an OTLP/HTTP collector decodes JSON: the protobuf JSON mapping, except that ids are
    hex (OTLP's one deviation from it), so they are turned into the mapping's base64 first."""
    body = json.loads(text)
    for resource_spans in body["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key, size in (("traceId", 16), ("spanId", 8), ("parentSpanId", 8)):
                    if key in span:
                        raw = bytes.fromhex(span[key])
                        assert len(raw) == size and raw != bytes(size), (key, span[key])
                        span[key] = base64.b64encode(raw).decode()
    request = ExportTraceServiceRequest()
    json_format.ParseDict(body, request)  # strict: an unknown field or a bad value raises
    return request


def test_otlp_json_parses_as_an_export_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "t.db"
    ids = fill(db)
    request = parse_otlp(export(capsys, db, "--format", "otlp-json"))
    [resource_spans] = request.resource_spans
    assert resource_spans.resource.attributes[0].key == "service.name"
    [scope_spans] = resource_spans.scope_spans
    assert scope_spans.scope.name == "honeytrace"
    spans = {span.name: span for span in scope_spans.spans}
    assert list(spans) == ["old", "ping", "chat", "answer", "search"]

    chat, answer, search = spans["chat"], spans["answer"], spans["search"]
    assert chat.trace_id.hex() == uuid.UUID(ids["chat"]).hex  # the session's 128 bits
    assert answer.trace_id == chat.trace_id == search.trace_id
    assert spans["old"].trace_id != chat.trace_id
    assert chat.span_id.hex() == f"{uuid.UUID(ids['chat']).int & (2**64 - 1):016x}"
    assert chat.parent_span_id == b""  # the session is the root
    assert answer.parent_span_id == chat.span_id
    assert search.parent_span_id == answer.span_id
    assert answer.start_time_unix_nano == (T0 + 2 * HOUR + 1) * 1_000_000
    assert answer.end_time_unix_nano == (T0 + 2 * HOUR + 1001) * 1_000_000
    # no end_time stored: start + duration
    assert search.end_time_unix_nano == (T0 + 2 * HOUR + 2) * 1_000_000 + 12_500_000
    assert search.status.code == 2 and search.status.message == "ValueError: boom"

    def attributes(span: object) -> dict[str, object]:
        values = {}
        for kv in span.attributes:  # type: ignore[attr-defined]
            kind = kv.value.WhichOneof("value")
            values[kv.key] = getattr(kv.value, kind)
        return values

    assert attributes(answer) == {
        "honeyhive_event_type": "chain",
        "honeyhive_event_name": "answer",
        "honeyhive_event_id": ids["chain"],
        "honeyhive_session_id": ids["chat"],
        "honeyhive_source": "unknown",
        "honeyhive_inputs.q": "refunds?",
        "honeyhive_inputs.opts.k": 3,
        "honeyhive_inputs.opts.tags.0": "a",
        "honeyhive_inputs.opts.tags.1": "b",
        "honeyhive_outputs.result": "an answer",
        "honeyhive_config.model": "gpt-4o",
    }
    tool = attributes(search)
    assert tool["honeyhive_metrics.score"] == 0.5 and tool["honeyhive_metrics.hits"] == 2
    assert tool["honeyhive_feedback.ok"] is False
    assert tool["honeyhive_error"] == "ValueError: boom"
    assert tool["honeyhive_metadata.traceback"] == "Traceback ..."
    session = attributes(chat)
    assert session["honeyhive_event_type"] == "session"
    assert session["honeyhive_user_properties.user"] == "ada"


def test_otlp_json_of_an_empty_store_is_still_a_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "t.db"
    Store(db).close()
    request = parse_otlp(export(capsys, db, "--format", "otlp-json"))
    assert len(request.resource_spans[0].scope_spans[0].spans) == 0
