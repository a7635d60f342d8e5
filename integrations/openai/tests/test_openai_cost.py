"""What a call cost, as the flusher prices it: the real SDK against the fake server, the real
``genai-prices`` table, a user's own table, and a model no table knows."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from openai_events import only_model_event
from openai_fake_server import FakeOpenAI, Reply, fixture

from honeytrace.testing import Capture, capture

try:
    import genai_prices
except ImportError:  # Python 3.10: genai-prices needs 3.11+ (pricing then needs a user table)
    genai_prices = None

MESSAGES = [{"role": "user", "content": "How do refunds work?"}]


@pytest.fixture
def capture_with_prices(request: pytest.FixtureRequest) -> Iterator[Capture]:
    with capture(prices=request.param) as captured:
        yield captured


@pytest.mark.price_table
def test_a_known_model_is_priced_with_its_provenance(
    client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    event = only_model_event(honeytrace_capture)
    # gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output tokens.
    assert event["metrics"]["cost_usd"] == pytest.approx((27 * 0.15 + 15 * 0.60) / 1e6)
    assert event["metadata"]["usage_source"] == "reported"
    assert event["metadata"]["cost"] == {
        "source": "genai-prices",
        "price_table_version": f"genai-prices {genai_prices.__version__}",
        "provider": "openai",
        # The exact model that answered is priced, not the alias the request named.
        "model_ref": "gpt-4o-mini-2024-07-18",
        "model_id": "gpt-4o-mini",
        "estimated": False,
    }


@pytest.mark.price_table
def test_cached_input_is_priced_at_the_cache_rate(
    client: openai.OpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    body = json.loads(fixture("chat_completion.json"))
    body["usage"]["prompt_tokens"] = 1000
    body["usage"]["total_tokens"] = 1015
    body["usage"]["prompt_tokens_details"]["cached_tokens"] = 800
    server.reply(Reply(body=body))

    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    metrics = only_model_event(honeytrace_capture)["metrics"]
    assert metrics["cache_read_tokens"] == 800
    # 200 fresh input at $0.15, 800 cached at $0.075, 15 output at $0.60 per MTok
    assert metrics["cost_usd"] == pytest.approx((200 * 0.15 + 800 * 0.075 + 15 * 0.60) / 1e6)


@pytest.mark.price_table
def test_a_streamed_call_is_priced_from_its_usage_chunk(
    client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    for _ in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
        pass

    event = only_model_event(honeytrace_capture)
    assert event["metrics"]["cost_usd"] > 0
    assert event["metrics"]["time_to_first_token_ms"] >= 0
    assert event["metadata"]["cost"]["source"] == "genai-prices"


@pytest.mark.price_table
def test_an_unknown_model_is_marked_unpriced_never_zero(
    client: openai.OpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    body = json.loads(fixture("chat_completion.json"))
    body["model"] = "acme-llm-7"
    server.reply(Reply(body=body))

    client.chat.completions.create(model="acme-llm-7", messages=MESSAGES)

    event = only_model_event(honeytrace_capture)
    assert "cost_usd" not in event["metrics"]
    cost = event["metadata"]["cost"]
    assert cost["unpriced"] is True
    assert "acme-llm-7" in cost["reason"]
    assert cost["model_ref"] == "acme-llm-7"


@pytest.mark.parametrize(
    "capture_with_prices",
    [{"gpt-4o-mini": {"input_mtok": 1.0, "output_mtok": 2.0}}],
    indirect=True,
)
def test_a_user_price_table_wins_over_genai_prices(
    client: openai.OpenAI, capture_with_prices: Capture
) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    event = only_model_event(capture_with_prices)
    assert event["metrics"]["cost_usd"] == pytest.approx((27 * 1.0 + 15 * 2.0) / 1e6)
    cost = event["metadata"]["cost"]
    assert cost["source"] == "user"
    assert cost["model_ref"] == "gpt-4o-mini"  # the requested name matched the user's entry
    assert cost["price_table_version"].startswith("user:")


@pytest.mark.parametrize(
    "capture_with_prices",
    [{"acme-llm-7": {"input_mtok": 4.0, "output_mtok": 8.0, "provider": "openai"}}],
    indirect=True,
)
def test_a_user_price_table_prices_a_model_genai_prices_does_not_know(
    client: openai.OpenAI, server: FakeOpenAI, capture_with_prices: Capture
) -> None:
    body = json.loads(fixture("chat_completion.json"))
    body["model"] = "acme-llm-7"
    server.reply(Reply(body=body))

    client.chat.completions.create(model="acme-llm-7", messages=MESSAGES)

    event = only_model_event(capture_with_prices)
    assert event["metrics"]["cost_usd"] == pytest.approx((27 * 4.0 + 15 * 8.0) / 1e6)
    assert event["metadata"]["cost"]["source"] == "user"


def test_a_failed_call_has_no_usage_and_no_cost(
    client: openai.OpenAI, server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    server.error(429, "error_429.json")
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    event = only_model_event(honeytrace_capture)
    assert event["metadata"]["usage_source"] == "missing"
    assert "cost" not in event["metadata"]
    assert "cost_usd" not in event.get("metrics", {})
