"""OTLP spans of one trace taken by different ``honeytrace serve`` workers: each worker is its
own process with its own memory of which trace went to which session, so the tree must come
out right from what the store remembers. Two collector apps on one store file stand for two
workers (each with its own SessionLinks, as separate processes have)."""

from __future__ import annotations

from pathlib import Path

import httpx

from honeytrace.local.collector import create_app
from tests.support.collector_server import CollectorServer
from tests.support.otlp_collector import stored_sessions
from tests.test_otlp_ingest import otlp_json, span_json

SESSION = "0b7c2a52-6f1e-4a0e-9c4e-1d2f3a4b5c6d"
TRACE = "7a8efff798038103d269b633813fc60e"


def test_later_spans_of_a_named_trace_follow_it_on_another_worker(tmp_path: Path) -> None:
    db = str(tmp_path / "traces.db")
    with (
        CollectorServer(create_app(db), db_path=db) as first,
        CollectorServer(create_app(db), db_path=db) as second,
    ):
        root = span_json(
            TRACE, "1111111111111111", None, "turn", 1_700_000_000_000,
            honeyhive__session_id=SESSION, honeyhive_event_type="chain",
        )  # fmt: skip
        child = span_json(TRACE, "2222222222222222", "1111111111111111", "step", 1_700_000_000_001)
        grandchild = span_json(
            TRACE, "3333333333333333", "2222222222222222", "tool", 1_700_000_000_002
        )
        # The span naming the session goes to one worker, the rest (no attributes) to the other.
        assert httpx.post(first.url + "/v1/traces", json=otlp_json([root])).status_code == 200
        for span in (child, grandchild):
            answer = httpx.post(second.url + "/v1/traces", json=otlp_json([span]))
            assert answer.status_code == 200

    (tree,) = stored_sessions(db)  # one session: no stray session of the trace's own
    assert tree["session_id"] == SESSION
    (turn,) = tree["children"]
    assert turn["event_name"] == "turn"
    (step,) = turn["children"]
    assert step["event_name"] == "step"
    assert [event["event_name"] for event in step["children"]] == ["tool"]


def test_a_named_span_after_its_children_on_another_worker_still_gathers_them(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "traces.db")
    with (
        CollectorServer(create_app(db), db_path=db) as first,
        CollectorServer(create_app(db), db_path=db) as second,
    ):
        child = span_json(TRACE, "2222222222222222", "1111111111111111", "step", 1_700_000_000_001)
        root = span_json(
            TRACE, "1111111111111111", None, "turn", 1_700_000_000_000,
            honeyhive__session_id=SESSION,
        )  # fmt: skip
        late = span_json(TRACE, "4444444444444444", "1111111111111111", "late", 1_700_000_000_005)
        assert httpx.post(first.url + "/v1/traces", json=otlp_json([child])).status_code == 200
        assert httpx.post(second.url + "/v1/traces", json=otlp_json([root])).status_code == 200
        assert httpx.post(first.url + "/v1/traces", json=otlp_json([late])).status_code == 200

    (tree,) = stored_sessions(db)
    assert tree["session_id"] == SESSION
    (turn,) = tree["children"]
    assert sorted(event["event_name"] for event in turn["children"]) == ["late", "step"]
