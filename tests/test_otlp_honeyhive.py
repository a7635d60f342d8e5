"""HoneyHive's own Python SDK (PyPI ``honeyhive``) against ``honeytrace serve``: the session is
made over REST, the spans arrive over OTLP/HTTP (JSON by default, protobuf with
``HH_OTLP_PROTOCOL=http/protobuf``) and all of it ends in one stored session tree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.collector_server import collector_server
from tests.support.otlp_collector import (
    RecordedCollector,
    recorded_collector,
    stored_sessions,
    walk,
)

__all__ = ["collector_server", "recorded_collector"]

pytest.importorskip("honeyhive", reason="PyPI honeyhive (1.7+, Python 3.11+) is not installed")

APP = Path(__file__).parent / "clients" / "honeyhive_python_app.py"
ROOT = Path(__file__).resolve().parents[1]


def run_app(url: str, name: str, protocol: str) -> str:
    env = {
        **os.environ,
        "HH_OTLP_PROTOCOL": protocol,
        "PYTHONPATH": str(ROOT / "src"),
        "HH_API_KEY": "",
        "HH_PROJECT": "",
    }
    done = subprocess.run(
        [sys.executable, str(APP), url, name],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OTLP" not in done.stderr or "failed" not in done.stderr, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("SESSION "))
    return line.split()[1]


@pytest.mark.parametrize(
    ("protocol", "content_type"),
    [("http/json", "application/json"), ("http/protobuf", "application/x-protobuf")],
)
def test_honeyhive_python_tracer(
    recorded_collector: RecordedCollector, protocol: str, content_type: str
) -> None:
    session_id = run_app(recorded_collector.url, "hh-" + protocol, protocol)

    sent = recorded_collector.sent("/opentelemetry/v1/traces")
    assert sent and all(item.status == 200 for item in sent)
    assert {item.content_type.split(";")[0] for item in sent} == {content_type}
    assert [item.status for item in recorded_collector.sent("/session/start")] == [200]

    (tree,) = stored_sessions(recorded_collector.db_path)  # the REST session and the spans: one
    assert tree["session_id"] == session_id.lower()
    assert tree["event_name"] == "hh-" + protocol
    assert tree["metadata"]["user"] == "u-1"  # enrich_session
    assert tree["feedback"] == {"rating": 5}
    assert tree["outputs"] == {"final": "done"}

    (pipeline,) = tree["children"]
    assert (pipeline["event_type"], pipeline["event_name"]) == ("chain", "pipeline")
    assert pipeline["parent_id"] == tree["session_id"]
    assert pipeline["inputs"] == {"x": 1}
    assert pipeline["outputs"] == {"result": {"sum": 3, "said": "42: why?"}}
    assert pipeline["error"] is None

    by_name = {event["event_name"]: event for event in walk(tree)}
    add = next(event for name, event in by_name.items() if name.endswith("add"))
    fail = next(
        event for name, event in by_name.items() if name.endswith(".fail") or name == "fail"
    )
    answer = by_name["answer"]
    for child in (add, fail, answer):
        assert child["parent_id"] == pipeline["event_id"]
        assert child["session_id"] == tree["session_id"]
        assert pipeline["start_time"] <= child["start_time"] <= child["end_time"]
        assert child["end_time"] <= pipeline["end_time"]
        assert child["duration"] >= 0
    assert add["event_type"] == "tool"
    assert add["inputs"] == {"a": 1, "b": 2}
    assert add["outputs"] == {"result": 3}
    assert add["metrics"] == {"score": 0.5}  # enrich_span
    assert add["feedback"] == {"liked": True}
    assert add["metadata"]["step"] == "add"
    assert fail["event_type"] == "tool"
    assert "boom" in fail["error"]
    assert fail["inputs"] == {"reason": "boom"}
    assert answer["event_type"] == "model"  # async, nested
    assert answer["inputs"] == {"question": "why?"}
    assert answer["outputs"] == {"result": {"content": "42: why?"}}
    # Spans are ordered by start time under their parent.
    starts = [child["start_time"] for child in pipeline["children"]]
    assert starts == sorted(starts)
