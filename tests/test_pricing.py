"""Cost with provenance: the flusher prices model events from their token usage (the real
``genai-prices`` table, or the user's), marks what it cannot price, and checks the price table
given to ``configure()``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import honeytrace
from honeytrace._deliver.pricing import Pricer
from honeytrace.testing import capture

try:
    import genai_prices
except ImportError:  # Python 3.10: genai-prices needs 3.11+ (pricing then needs a user table)
    genai_prices = None


def _model_call(model: str | None, provider: str | None, **metrics: Any) -> dict[str, Any]:
    with capture() as traces:
        config = {key: value for key, value in (("model", model), ("provider", provider)) if value}

        @honeytrace.trace(event_type="model", config=config)
        def generate() -> str:
            honeytrace.enrich_span(metrics=metrics)
            return "hi"

        generate()
        traces.flush()
        return traces.event("generate")


@pytest.mark.price_table
def test_a_decorated_model_call_with_usage_is_priced_in_the_flusher() -> None:
    event = _model_call("gpt-4o", "openai", prompt_tokens=1000, completion_tokens=100)

    assert event["metrics"]["cost_usd"] == pytest.approx((1000 * 2.5 + 100 * 10) / 1e6)
    assert event["metadata"]["cost"] == {
        "source": "genai-prices",
        "price_table_version": f"genai-prices {genai_prices.__version__}",
        "provider": "openai",
        "model_ref": "gpt-4o",
        "model_id": "gpt-4o",
        "estimated": False,
    }


@pytest.mark.price_table
def test_estimated_usage_gives_an_estimated_cost() -> None:
    with capture() as traces:

        @honeytrace.trace_model(model="gpt-4o", provider="openai")
        def generate() -> None:
            honeytrace.enrich_span(
                metrics={"prompt_tokens": 10, "completion_tokens": 10},
                metadata={"usage_source": "estimated"},
            )

        generate()
        traces.flush()
        assert traces.event("generate")["metadata"]["cost"]["estimated"] is True


def test_an_event_without_usage_or_not_a_model_is_not_priced() -> None:
    no_usage = _model_call("gpt-4o", "openai")
    assert "cost" not in no_usage.get("metadata", {})
    with capture() as traces:

        @honeytrace.trace_tool
        def lookup() -> None:
            honeytrace.enrich_span(metrics={"prompt_tokens": 10})

        lookup()
        traces.flush()
        assert "cost" not in traces.event("lookup").get("metadata", {})


def test_usage_without_a_model_is_marked_unpriced() -> None:
    event = _model_call(None, None, prompt_tokens=10, completion_tokens=2)
    assert event["metadata"]["cost"] == {
        "unpriced": True,
        "reason": "the event names no model (config.model)",
    }
    assert "cost_usd" not in event["metrics"]


def test_a_cost_the_event_reports_itself_is_kept() -> None:
    event = _model_call("gpt-4o", "openai", prompt_tokens=10, completion_tokens=2, cost_usd=0.5)
    assert event["metrics"]["cost_usd"] == 0.5
    assert event["metadata"]["cost"] == {"source": "reported", "estimated": False}


@pytest.mark.price_table
def test_the_lookup_is_cached_per_provider_and_model() -> None:
    pricer = Pricer()
    calls: list[str] = []
    original = pricer._find

    def counting(provider: str | None, model: str) -> Any:
        calls.append(model)
        return original(provider, model)

    pricer._find = counting  # type: ignore[method-assign]
    for tokens in (10, 20, 30):
        body = {
            "config": {"model": "gpt-4o", "provider": "openai"},
            "metrics": {"prompt_tokens": tokens, "completion_tokens": 1},
        }
        pricer.price(body)
        assert body["metrics"]["cost_usd"] == pytest.approx((tokens * 2.5 + 10) / 1e6)
    pricer.price(
        {"config": {"model": "nope-1"}, "metrics": {"prompt_tokens": 1, "completion_tokens": 1}}
    )
    pricer.price(
        {"config": {"model": "nope-1"}, "metrics": {"prompt_tokens": 2, "completion_tokens": 1}}
    )
    assert calls == ["gpt-4o", "nope-1"]


def test_without_genai_prices_a_model_is_unpriced_with_the_reason(tmp_path: Path) -> None:
    # A real interpreter where the optional package cannot be imported.
    script = textwrap.dedent(
        """
        import json, sys
        sys.modules["genai_prices"] = None  # import genai_prices -> ImportError
        from honeytrace._deliver.pricing import Pricer
        body = {"config": {"model": "gpt-4o", "provider": "openai"},
                "metrics": {"prompt_tokens": 5, "completion_tokens": 5}}
        Pricer().price(body)
        print(json.dumps(body))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    body = json.loads(result.stdout)
    assert "cost_usd" not in body["metrics"]
    assert body["metadata"]["cost"]["unpriced"] is True
    assert "honeytrace[cost]" in body["metadata"]["cost"]["reason"]


def test_a_price_table_from_a_json_file(tmp_path: Path) -> None:
    table = tmp_path / "prices.json"
    table.write_text(json.dumps({"house-model": {"input_mtok": 1, "output_mtok": 3}}))
    with capture(prices=str(table)) as traces:

        @honeytrace.trace_model(model="house-model")
        def generate() -> None:
            honeytrace.enrich_span(metrics={"prompt_tokens": 1000, "completion_tokens": 1000})

        generate()
        traces.flush()
        event = traces.event("generate")
    assert event["metrics"]["cost_usd"] == pytest.approx(0.004)
    assert event["metadata"]["cost"]["source"] == "user"


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ({"m": {"input_mtok": 1}}, "output_mtok"),
        ({"m": {"input_mtok": 1, "output_mtok": -2}}, "output_mtok must be a number >= 0"),
        ({"m": {"input_mtok": "1", "output_mtok": 2}}, "input_mtok must be a number"),
        ({"m": {"input_mtok": 1, "output_mtok": 2, "cache_mtok": 1}}, "unknown key 'cache_mtok'"),
        ({"m": 3}, "expected a mapping"),
        ([1, 2], "expected {model"),
        ("/no/such/prices.json", "cannot read a JSON price table"),
    ],
)
def test_a_bad_price_table_is_a_config_error_naming_the_option(prices: Any, message: str) -> None:
    with pytest.raises(honeytrace.ConfigError) as caught:
        honeytrace.configure(prices=prices)
    assert "prices" in str(caught.value)
    assert message in str(caught.value)


@pytest.mark.price_table
def test_the_fast_linear_prices_equal_the_package_s_own_calculation() -> None:
    """The flusher prices most models from rates derived once per (model, day); across the
    table, with cache reads and writes and past the 200k-token tiers, they give exactly what
    genai-prices computes itself (tiered models fall back to it)."""
    from datetime import datetime, timezone
    from random import Random

    from genai_prices import data_snapshot

    pricer = Pricer()
    rnd = Random(15)
    when = datetime.fromtimestamp(1_765_000_000, tz=timezone.utc)
    checked = 0
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models[:6]:
            prompt = rnd.randint(1, 400_000)
            cache_read = rnd.randint(0, prompt // 2)
            cache_write = rnd.randint(0, (prompt - cache_read) // 3)
            completion = rnd.randint(0, 50_000)
            try:
                expected = genai_prices.calc_price(
                    genai_prices.Usage(
                        input_tokens=prompt,
                        output_tokens=completion,
                        cache_read_tokens=cache_read or None,
                        cache_write_tokens=cache_write or None,
                    ),
                    model.id,
                    provider_id=provider.id,
                    genai_request_timestamp=when,
                ).total_price
            except Exception:
                continue  # a model the package itself cannot price with this usage
            body: dict[str, Any] = {
                "config": {"model": model.id, "provider": provider.id},
                "metrics": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "cache_read_tokens": cache_read,
                    "cache_creation_tokens": cache_write,
                },
                "start_time": 1_765_000_000_000,
            }
            pricer.price(body)
            assert body["metrics"]["cost_usd"] == pytest.approx(float(expected), rel=1e-9), (
                provider.id,
                model.id,
            )
            checked += 1
    assert checked > 200
