"""What a model call cost: the flusher prices each ``model`` event that carries token usage.

Pricing happens here, on the flusher thread (or in ``honeytrace reprice``), never on the
application's: a traced call only records its model and its token counts
(:mod:`honeytrace.instrumentation._usage` names them). For each such event:

- ``metrics["cost_usd"]`` is the price in US dollars, and ``metadata["cost"]`` says where it
  came from: ``{"source", "price_table_version", "provider", "model_ref", "model_id",
  "estimated"}``. ``source`` is ``user`` (the ``prices`` option, which wins), ``genai-prices``
  (the maintained, versioned table of the optional ``genai-prices`` package, extra
  ``honeytrace[cost]``) or ``reported`` (the event came with its own ``cost_usd``, e.g. from
  LiteLLM; it is kept as it is). ``estimated`` is true when the token counts were estimated.
- A model no table knows, or an event without a model, gets ``metadata["cost"] =
  {"unpriced": true, "reason": ...}`` and no ``cost_usd``: never a silent 0.

The table lookup is cached per (provider, model); the price itself follows the event's own
token counts and its start date (prices change over time).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from honeytrace._errors import log_once

__all__ = ["PRICE_KEYS", "Pricer", "table_version"]

PRICE_KEYS = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "input_audio_mtok",
    "output_audio_mtok",
)
"""The keys of one entry of a user price table: US dollars per million tokens. ``input_mtok``
and ``output_mtok`` are required; the cache and audio prices default to the input / output
price."""

_MAX_LOOKUPS = 4096  # distinct (provider, model) pairs remembered; past that, forgotten at once
_NO_TABLE = (
    "no price table knows this model: install honeytrace[cost] (genai-prices) "
    "or give configure(prices={...})"
)


class _User:
    """A user price table entry that matched."""

    __slots__ = ("model_ref", "rates")

    def __init__(self, model_ref: str, rates: Mapping[str, float]) -> None:
        self.model_ref = model_ref
        self.rates = rates


class _Table:
    """genai-prices knows this (provider, model)."""

    __slots__ = ("model_id", "model_ref", "provider_id", "rates")

    def __init__(self, provider_id: str, model_ref: str, model_id: str) -> None:
        self.provider_id = provider_id
        self.model_ref = model_ref
        self.model_id = model_id
        self.rates: dict[Any, dict[str, float] | None] = {}  # by day: linear rates, or None


# Usages on which a model's linear rates must give the package's own price (tiers start at
# 128k or 200k input tokens in today's tables: the probes cross them).
_PROBES = (
    {
        "input_tokens": 1_234,
        "output_tokens": 567,
        "cache_read_tokens": 200,
        "cache_write_tokens": 100,
        "input_audio_tokens": 30,
        "output_audio_tokens": 20,
    },
    {
        "input_tokens": 300_000,
        "output_tokens": 40_000,
        "cache_read_tokens": 150_000,
        "cache_write_tokens": 0,
        "input_audio_tokens": 0,
        "output_audio_tokens": 0,
    },
)


class _Unpriced:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


_Found = _User | _Table | _Unpriced


def table_version() -> str | None:
    """``genai-prices <version>`` (with the snapshot's date when it was auto-updated), or
    None when the package is not installed."""
    try:
        import genai_prices
        from genai_prices import data_snapshot
    except ImportError:
        return None
    version = f"genai-prices {genai_prices.__version__}"
    snapshot = data_snapshot.get_snapshot()
    if snapshot.from_auto_update:
        version += f" (updated {snapshot.timestamp:%Y-%m-%d})"
    return version


class Pricer:
    """Prices event bodies; one per configuration (``prices`` is the user's table, already
    validated by the configuration, or None)."""

    def __init__(self, prices: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._user: dict[str, Mapping[str, Any]] = {
            name.lower(): entry for name, entry in (prices or {}).items()
        }
        self._user_version = (
            "user:" + hashlib.sha256(json.dumps(prices, sort_keys=True).encode()).hexdigest()[:12]
            if prices
            else None
        )
        self._lookups: dict[tuple[str | None, str], _Found] = {}
        self._table: Any = None  # the genai_prices module once imported; False when absent
        self._version: str | None = None

    # -- the event ----------------------------------------------------------------------

    def price(self, body: dict[str, Any], *, again: bool = False) -> bool:
        """Add ``metrics.cost_usd`` and ``metadata.cost`` to a model event ``body`` that has
        token usage; True when something was written. ``again`` recomputes a cost priced
        earlier (``honeytrace reprice``); a reported cost is always kept. Never raises."""
        metrics = body.get("metrics")
        if not isinstance(metrics, dict) or not _has_usage(metrics):
            return False
        metadata = body.get("metadata")
        if not isinstance(metadata, dict):
            metadata = body["metadata"] = {}
        earlier = metadata.get("cost")
        if isinstance(earlier, Mapping) and earlier.get("source") == "reported":
            return False
        reported = "cost_usd" in metrics or _is_count(metrics.get("cost"))  # "cost": OTel's
        if reported and not (again and isinstance(earlier, Mapping)):
            # The event came with its own cost (an integration that knows it, the user).
            if not isinstance(earlier, Mapping):
                metadata["cost"] = {"source": "reported", "estimated": _estimated(metadata)}
                return True
            return False
        metrics.pop("cost_usd", None)
        try:
            metadata["cost"] = self._cost(body, metrics, metadata)
        except Exception as exc:  # a pricing failure costs the price, never the event
            log_once("pricing", 40, "honeytrace: pricing an event failed: %r", exc)
            metadata["cost"] = {"unpriced": True, "reason": f"pricing failed: {exc!r}"[:200]}
        return True

    def _cost(
        self, body: dict[str, Any], metrics: dict[str, Any], metadata: dict[str, Any]
    ) -> dict[str, Any]:
        config = body.get("config")
        config = config if isinstance(config, Mapping) else {}
        provider = config.get("provider")
        provider = provider.lower() if isinstance(provider, str) and provider else None
        candidates = [
            model
            for model in (metadata.get("response_model"), config.get("model"))
            if isinstance(model, str) and model
        ]
        if not candidates:
            return {"unpriced": True, "reason": "the event names no model (config.model)"}
        # The user's table wins, whichever name it matches; then the exact model that
        # answered (the request may name an alias), then the requested one.
        found: _Found | None = None
        for model in candidates:
            found = self._user_entry(provider, model)
            if found is not None:
                break
        else:
            for model in candidates:
                found = self._lookup(provider, model)
                if not isinstance(found, _Unpriced):
                    break
        assert found is not None  # candidates is not empty
        if isinstance(found, _Unpriced):
            return {"unpriced": True, "reason": found.reason, "model_ref": candidates[0]}
        estimated = _estimated(metadata)
        if isinstance(found, _User):
            metrics["cost_usd"] = _user_cost(found.rates, metrics)
            return {
                "source": "user",
                "price_table_version": self._user_version,
                "provider": provider,
                "model_ref": found.model_ref,
                "estimated": estimated,
            }
        when = _when(body)
        rates = self._linear_rates(found, when)
        if rates is not None:
            metrics["cost_usd"] = _user_cost(rates, metrics)
        else:  # tiered or unusual prices: the package's own calculation, each time
            calculation = self._table.calc_price(
                _table_usage(self._table, metrics),
                found.model_ref,
                provider_id=found.provider_id,
                genai_request_timestamp=when,
            )
            metrics["cost_usd"] = float(calculation.total_price)
        return {
            "source": "genai-prices",
            "price_table_version": self._version,
            "provider": found.provider_id,
            "model_ref": found.model_ref,
            "model_id": found.model_id,
            "estimated": estimated,
        }

    def _linear_rates(self, found: _Table, when: datetime | None) -> dict[str, float] | None:
        """The per-million-token rates of a model on the event's day, when its price is that
        simple (most are); None for tiered or other prices. Pricing through the package costs
        ~0.2 ms an event; this is a few microseconds. Each model's rates are checked against
        the package's own calculation on probe usages before they are trusted."""
        day = when.date() if when is not None else None
        key = (found.provider_id, found.model_ref, day)
        if key in found.rates:
            return found.rates[key]
        if len(found.rates) >= 64:
            found.rates.clear()
        try:
            rates = self._derive_rates(found, when)
        except Exception:  # a price the probes cannot take: the package prices each event
            rates = None
        found.rates[key] = rates
        return rates

    def _derive_rates(self, found: _Table, when: datetime | None) -> dict[str, float] | None:
        table = self._table

        def price(**usage: int) -> float:
            calculation = table.calc_price(
                table.Usage(**usage),
                found.model_ref,
                provider_id=found.provider_id,
                genai_request_timestamp=when,
            )
            return float(calculation.total_price)

        million = 1_000_000
        rates = {
            "input_mtok": price(input_tokens=million),
            "output_mtok": price(output_tokens=million),
            "cache_read_mtok": price(input_tokens=million, cache_read_tokens=million),
            "cache_write_mtok": price(input_tokens=million, cache_write_tokens=million),
            "input_audio_mtok": price(input_tokens=million, input_audio_tokens=million),
            "output_audio_mtok": price(output_tokens=million, output_audio_tokens=million),
        }
        for probe in _PROBES:  # linear, and the same as the package's, or not used
            metrics = {
                "prompt_tokens": probe["input_tokens"],
                "completion_tokens": probe["output_tokens"],
                "cache_read_tokens": probe["cache_read_tokens"],
                "cache_creation_tokens": probe["cache_write_tokens"],
                "audio_input_tokens": probe["input_audio_tokens"],
                "audio_output_tokens": probe["output_audio_tokens"],
            }
            expected = price(**probe)
            if not math.isclose(_user_cost(rates, metrics), expected, rel_tol=1e-9, abs_tol=1e-12):
                return None
        return rates

    # -- the lookup, cached per (provider, model) ------------------------------------------

    def _lookup(self, provider: str | None, model: str) -> _Found:
        key = (provider, model)
        found = self._lookups.get(key)
        if found is None:
            if len(self._lookups) >= _MAX_LOOKUPS:
                self._lookups.clear()
            found = self._lookups[key] = self._find(provider, model)
        return found

    def _user_entry(self, provider: str | None, model: str) -> _User | None:
        entry = self._user.get(model.lower()) if self._user else None
        if entry is None:
            return None
        wanted = entry.get("provider")
        if wanted is None or provider is None or str(wanted).lower() == provider:
            return _User(model, entry)
        return None

    def _find(self, provider: str | None, model: str) -> _Found:
        table = self._load_table()
        if table is None:
            return _Unpriced(_NO_TABLE)
        try:
            calculation = table.calc_price(
                table.Usage(input_tokens=0, output_tokens=0), model, provider_id=provider
            )
        except LookupError as exc:
            return _Unpriced(f"{self._version} has no price for it: {exc}")
        return _Table(calculation.provider.id, model, calculation.model.id)

    def _load_table(self) -> Any:
        if self._table is None:
            try:
                import genai_prices
            except ImportError:
                self._table = False
            else:
                self._table = genai_prices
                self._version = table_version()
        return self._table or None


def _has_usage(metrics: Mapping[str, Any]) -> bool:
    return any(_is_count(metrics.get(name)) for name in ("prompt_tokens", "completion_tokens"))


def _is_count(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _tokens(metrics: Mapping[str, Any], name: str) -> int:
    value = metrics.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value) if math.isfinite(value) and value > 0 else 0


def _estimated(metadata: Mapping[str, Any]) -> bool:
    return metadata.get("usage_source") == "estimated"


def _when(body: Mapping[str, Any]) -> datetime | None:
    start = body.get("start_time")
    if isinstance(start, int | float) and not isinstance(start, bool) and math.isfinite(start):
        try:
            return datetime.fromtimestamp(start / 1000, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _table_usage(table: Any, metrics: Mapping[str, Any]) -> Any:
    prompt = _tokens(metrics, "prompt_tokens")
    # genai-prices counts the cache and audio tokens as parts of the input / output totals,
    # as honeytrace's names do; a part larger than its whole (a bad report) is cut to it.
    cache_read = min(_tokens(metrics, "cache_read_tokens"), prompt)
    cache_write = min(_tokens(metrics, "cache_creation_tokens"), prompt - cache_read)
    completion = _tokens(metrics, "completion_tokens")
    parts: dict[str, int] = {"input_tokens": prompt, "output_tokens": completion}
    if cache_read:
        parts["cache_read_tokens"] = cache_read
    if cache_write:
        parts["cache_write_tokens"] = cache_write
    audio_in = min(_tokens(metrics, "audio_input_tokens"), prompt - cache_read - cache_write)
    if audio_in:
        parts["input_audio_tokens"] = audio_in
    audio_out = min(_tokens(metrics, "audio_output_tokens"), completion)
    if audio_out:
        parts["output_audio_tokens"] = audio_out
    return table.Usage(**parts)


def _user_cost(rates: Mapping[str, Any], metrics: Mapping[str, Any]) -> float:
    prompt = _tokens(metrics, "prompt_tokens")
    completion = _tokens(metrics, "completion_tokens")
    cache_read = min(_tokens(metrics, "cache_read_tokens"), prompt)
    cache_write = min(_tokens(metrics, "cache_creation_tokens"), prompt - cache_read)
    audio_in = min(_tokens(metrics, "audio_input_tokens"), prompt - cache_read - cache_write)
    audio_out = min(_tokens(metrics, "audio_output_tokens"), completion)
    input_rate = float(rates["input_mtok"])
    output_rate = float(rates["output_mtok"])
    total = (
        (prompt - cache_read - cache_write - audio_in) * input_rate
        + cache_read * float(rates.get("cache_read_mtok", input_rate))
        + cache_write * float(rates.get("cache_write_mtok", input_rate))
        + audio_in * float(rates.get("input_audio_mtok", input_rate))
        + (completion - audio_out) * output_rate
        + audio_out * float(rates.get("output_audio_mtok", output_rate))
    )
    return total / 1_000_000
