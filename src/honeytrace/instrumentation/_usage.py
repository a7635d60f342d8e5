"""One vocabulary for token usage, whichever client or framework reported it.

Every integration writes a call's usage into the event's ``metrics`` under these names (the
ones HoneyHive's own model events use), and says in ``metadata["usage_source"]`` where the
figures came from:

============================  =================================================================
``prompt_tokens``             every input token, cached ones included (OpenAI's convention;
                              Anthropic's ``input_tokens`` + cache read + cache creation)
``completion_tokens``         every output token, reasoning and audio included
``total_tokens``              prompt + completion (the provider's own total when it gives one)
``cache_read_tokens``         input tokens read from the prompt cache (part of prompt_tokens)
``cache_creation_tokens``     input tokens written to the prompt cache (part of prompt_tokens)
``reasoning_tokens``          reasoning / thinking tokens (part of completion_tokens)
``audio_input_tokens``        audio input tokens (part of prompt_tokens)
``audio_output_tokens``       audio output tokens (part of completion_tokens)
``time_to_first_token_ms``    for streams: from the request to the first generated content
============================  =================================================================

``usage_source`` is ``reported`` (the provider's response said so), ``estimated`` (counted or
guessed on the client) or ``missing`` (the call gave no usage: an error, a stream cut short).
Zero counts of the optional kinds are left out: on every event they would be noise.
The flusher prices an event from these names (:mod:`honeytrace._deliver.pricing`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["TOKEN_METRICS", "UsageSource", "usage_metrics", "usage_source"]

UsageSource = Literal["reported", "estimated", "missing"]

TOKEN_METRICS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
    "audio_input_tokens",
    "audio_output_tokens",
)
"""The metric names of token usage, in the order they are documented."""


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def usage_metrics(
    *,
    prompt_tokens: Any = None,
    completion_tokens: Any = None,
    total_tokens: Any = None,
    cache_read_tokens: Any = None,
    cache_creation_tokens: Any = None,
    reasoning_tokens: Any = None,
    audio_input_tokens: Any = None,
    audio_output_tokens: Any = None,
) -> dict[str, int]:
    """The ``metrics`` of a call's usage under the documented names; anything that is not a
    whole number is left out, and so are zero counts of the optional kinds. ``total_tokens``
    is derived when the provider gave prompt and completion but no total."""
    metrics: dict[str, int] = {}
    for name, value in (
        ("prompt_tokens", prompt_tokens),
        ("completion_tokens", completion_tokens),
        ("total_tokens", total_tokens),
    ):
        count = _count(value)
        if count is not None:
            metrics[name] = count
    if "total_tokens" not in metrics and (
        "prompt_tokens" in metrics or "completion_tokens" in metrics
    ):
        metrics["total_tokens"] = metrics.get("prompt_tokens", 0) + metrics.get(
            "completion_tokens", 0
        )
    for name, value in (
        ("cache_read_tokens", cache_read_tokens),
        ("cache_creation_tokens", cache_creation_tokens),
        ("reasoning_tokens", reasoning_tokens),
        ("audio_input_tokens", audio_input_tokens),
        ("audio_output_tokens", audio_output_tokens),
    ):
        count = _count(value)
        if count:
            metrics[name] = count
    return metrics


def usage_source(metrics: Mapping[str, Any] | None) -> UsageSource:
    """``reported`` when ``metrics`` holds a token count, else ``missing`` (an integration that
    estimates its counts says ``estimated`` itself)."""
    if metrics and any(name in metrics for name in TOKEN_METRICS[:3]):
        return "reported"
    return "missing"
