"""Token and cost totals in ``honeytrace sessions`` / ``show``, and ``honeytrace reprice``, on a
store that the SDK itself filled (the local exporter, the flusher's pricing)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import honeytrace
from honeytrace import _runtime
from honeytrace.local.cli import main
from honeytrace.local.format import format_cost
from honeytrace.local.store import Store
from tests.support.collector_server import (
    CollectorServer,
    collector_fixture,
    collector_server,  # noqa: F401 -- registers the module-scoped server fixture
)

try:
    import genai_prices
except ImportError:  # Python 3.10: genai-prices needs 3.11+ (pricing then needs a user table)
    genai_prices = None

collector = collector_fixture


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "traces.db"
    previous = _runtime.get_config()
    honeytrace.configure(exporter="local", local_path=str(path))
    try:
        yield path
    finally:
        honeytrace.flush(10.0)
        _runtime._apply(previous)


def _record(path: Path) -> str:
    @honeytrace.trace_model(model="gpt-4o", provider="openai")
    def known() -> None:
        honeytrace.enrich_span(metrics={"prompt_tokens": 1000, "completion_tokens": 100})

    @honeytrace.trace_model(model="acme-llm-7", provider="acme")
    def unknown() -> None:
        honeytrace.enrich_span(metrics={"prompt_tokens": 10, "completion_tokens": 10})

    with honeytrace.session("chat") as session:
        known()
        known()
        unknown()
    assert honeytrace.flush(10.0)
    return session.session_id


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


GPT_4O = (1000 * 2.5 + 100 * 10) / 1e6  # $2.50 / $10 per million tokens


@pytest.mark.price_table
def test_show_and_sessions_total_tokens_and_cost_and_say_what_is_unpriced(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session_id = _record(db)

    summary = _run(capsys, "show", session_id, "--db", str(db)).splitlines()[1]
    assert "2,220 tokens" in summary
    assert format_cost(2 * GPT_4O) in summary
    assert "1 unpriced" in summary

    header, row = _run(capsys, "sessions", "--db", str(db)).splitlines()
    assert header.split()[-2:] == ["TOKENS", "COST"]
    assert row.split()[-2:] == ["2,220", format_cost(2 * GPT_4O)]


@pytest.mark.price_table
def test_reprice_recomputes_stored_costs_with_the_installed_table_or_a_given_one(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session_id = _record(db)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"acme-llm-7": {"input_mtok": 1, "output_mtok": 1}}))

    out = _run(capsys, "reprice", "--db", str(db), "--prices", str(prices))
    assert out == (
        f"repriced 3 model events with genai-prices {genai_prices.__version__}"
        " and your table; 0 unpriced\n"
    )
    with Store(db) as store:
        tree = store.session_tree(session_id)
    assert tree is not None
    assert tree["totals"]["cost"] == pytest.approx(2 * GPT_4O + 20 / 1e6)
    assert tree["totals"]["unpriced"] == 0
    acme = next(e for e in tree["children"] if e["config"]["model"] == "acme-llm-7")
    assert acme["metadata"]["cost"]["source"] == "user"

    # Without the user's table the unknown model is unpriced again: its old cost is removed.
    out = _run(capsys, "reprice", "--db", str(db))
    assert out.endswith("; 1 unpriced\n")
    with Store(db) as store:
        tree = store.session_tree(session_id)
    assert tree is not None
    acme = next(e for e in tree["children"] if e["config"]["model"] == "acme-llm-7")
    assert "cost_usd" not in acme["metrics"] and acme["metadata"]["cost"]["unpriced"] is True
    assert tree["totals"]["cost"] == pytest.approx(2 * GPT_4O)


def test_reprice_since_leaves_older_events_alone(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _record(db)
    out = _run(capsys, "reprice", "--db", str(db), "--since", "4102444800000")  # year 2100
    assert out.startswith("repriced 0 model events")
    assert _run(capsys, "reprice", "--db", str(db), "--since", "1d").startswith(
        "repriced 3 model events"
    )


def test_reprice_with_a_bad_table_or_time_is_a_clear_error(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _record(db)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"m": {"input_mtok": 1}}))
    assert (
        main(["reprice", "--db", str(db), "--prices", str(bad)]) == 2
    )  # a bad argument: one line, exit 2 (as every command)
    assert "output_mtok" in capsys.readouterr().err
    assert main(["reprice", "--db", str(db), "--since", "yesterday"]) == 2
    assert "--since" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("usd", "text"),
    [
        (0, "$0"),
        (1234.5, "$1,234.50"),
        (0.0123, "$0.0123"),
        (0.000285, "$0.000285"),
        (0.007, "$0.007"),
        (None, "-"),
    ],
)
def test_format_cost(usd: float | None, text: str) -> None:
    assert format_cost(usd) == text


def test_the_viewer_shows_a_session_s_tokens_cost_and_unpriced_calls(
    collector: CollectorServer,
) -> None:
    import uuid

    import httpx

    sid = str(uuid.uuid4())
    with httpx.Client(base_url=collector.url, timeout=10.0) as http:
        created = http.post("/v1/sessions", json={"session_id": sid, "session_name": "chat"})
        assert created.status_code == 200, created.text
        model = {"event_type": "model", "event_name": "generate", "source": "test", "inputs": {}}
        events = [
            {**model, "event_id": str(uuid.uuid4()),
             "metrics": {"prompt_tokens": 1000, "completion_tokens": 100, "cost_usd": GPT_4O}},
            {**model, "event_id": str(uuid.uuid4()),
             "metrics": {"prompt_tokens": 10, "completion_tokens": 10},
             "metadata": {"cost": {"unpriced": True, "reason": "unknown model"}}},
        ]  # fmt: skip
        sent = http.post(f"/v1/sessions/{sid}/events/batch", json={"events": events})
        assert sent.status_code == 200, sent.text
        view = http.get(f"/api/sessions/{sid}").json()
    totals = view["totals"]  # what the trace page's header shows
    assert totals["tokens"]["prompt_tokens"] + totals["tokens"]["completion_tokens"] == 1_120
    assert totals["cost"] == pytest.approx(GPT_4O)
    assert totals["unpriced"] == 1
