"""HoneyHive's TypeScript SDK (npm ``honeyhive``) driven by node against ``honeytrace serve``:
the session is made over REST (``POST /session/start``), the spans arrive over OTLP/HTTP at
``/opentelemetry/v1/traces`` (Traceloop's exporter), and all of it is one stored session tree
with the TypeScript tracer's ``_params_`` level removed from the inputs.

The SDK is installed by ``npm ci`` into tests/node (its package-lock.json is committed) the
first time; skipped only where node or npm is absent."""

from __future__ import annotations

import shutil
import subprocess
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

NODE_DIR = Path(__file__).parent / "node"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="node and npm are needed to run HoneyHive's TypeScript SDK",
)


@pytest.fixture(scope="module")
def node_sdk() -> Path:
    """tests/node with its node_modules installed (``npm ci``, once per checkout)."""
    lock = NODE_DIR / "package-lock.json"
    installed = NODE_DIR / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, f"npm ci failed: {done.stderr[-3000:]}"
    return NODE_DIR


@pytest.mark.timeout(600)
def test_honeyhive_typescript_tracer(node_sdk: Path, recorded_collector: RecordedCollector) -> None:
    done = subprocess.run(
        ["node", str(node_sdk / "app.js"), recorded_collector.url, "hh-node"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    session_id = next(
        line.split()[1] for line in done.stdout.splitlines() if line.startswith("SESSION ")
    )

    assert [item.status for item in recorded_collector.sent("/session/start")] == [200]
    sent = recorded_collector.sent("/opentelemetry/v1/traces")
    assert sent and all(item.status == 200 for item in sent)
    assert {item.content_type for item in sent} <= {"application/x-protobuf", "application/json"}

    (tree,) = stored_sessions(recorded_collector.db_path)
    assert tree["session_id"] == session_id.lower()
    assert tree["event_name"] == "hh-node"
    assert tree["metadata"]["user"] == "u-1"  # enrichSession
    assert tree["feedback"] == {"rating": 5}

    (pipeline,) = tree["children"]
    assert (pipeline["event_type"], pipeline["event_name"]) == ("chain", "pipeline")
    assert pipeline["parent_id"] == tree["session_id"]
    assert pipeline["inputs"] == {"x": 1}  # not {"_params_": {"x": 1}}
    assert pipeline["outputs"] == {"result": {"sum": 3, "said": "42: why?"}}
    by_name = {event["event_name"]: event for event in walk(tree)}
    fail, add, answer = by_name["fail"], by_name["add"], by_name["answer"]
    for child in (fail, add, answer):
        assert child["parent_id"] == pipeline["event_id"]
        assert pipeline["start_time"] <= child["start_time"] <= child["end_time"]
    # The times are the SDK's own: it ends an async function's span in a promise callback that
    # may run just after the caller's, so only the synchronous children end inside it for sure.
    for child in (fail, add):
        assert child["end_time"] <= pipeline["end_time"]
    assert answer["start_time"] <= pipeline["end_time"]
    assert fail["event_type"] == "tool" and "boom" in fail["error"]
    assert fail["inputs"] == {"reason": "boom"}
    assert add["inputs"] == {"a": 1, "b": 2}
    assert add["outputs"] == {"result": 3}
    assert add["metrics"] == {"score": 0.5}  # enrichSpan
    assert add["metadata"]["step"] == "add"
    assert answer["event_type"] == "model"
    assert answer["inputs"] == {"question": "why?"}
    assert answer["outputs"] == {"result": {"content": "42: why?"}}
