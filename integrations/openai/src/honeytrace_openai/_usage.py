"""Token usage of OpenAI responses -> honeytrace metrics (one vocabulary for every endpoint:
``prompt_tokens``, ``completion_tokens``, ``total_tokens``, and the cached and reasoning
tokens when there are any)."""

from __future__ import annotations

from typing import Any

__all__ = ["response_metadata", "usage_metrics"]


def _count(source: Any, name: str) -> int | None:
    value = getattr(source, name, None)
    return value if isinstance(value, int) else None


def usage_metrics(usage: Any) -> dict[str, Any]:
    """Metrics of a Chat Completions, Embeddings or Responses ``usage`` object."""
    metrics: dict[str, Any] = {}
    if usage is None:
        return metrics
    # Chat and Embeddings say prompt/completion; the Responses API says input/output.
    for ours, *theirs in (
        ("prompt_tokens", "prompt_tokens", "input_tokens"),
        ("completion_tokens", "completion_tokens", "output_tokens"),
        ("total_tokens", "total_tokens"),
    ):
        for name in theirs:
            value = _count(usage, name)
            if value is not None:
                metrics[ours] = value
                break
    if "total_tokens" not in metrics and "prompt_tokens" in metrics:
        metrics["total_tokens"] = metrics["prompt_tokens"] + metrics.get("completion_tokens", 0)
    for details, name in (
        ("prompt_tokens_details", "cached_tokens"),
        ("input_tokens_details", "cached_tokens"),
        ("completion_tokens_details", "reasoning_tokens"),
        ("output_tokens_details", "reasoning_tokens"),
    ):
        value = _count(getattr(usage, details, None), name)
        if value:  # zero cached/reasoning tokens on every event would be noise
            metrics[name] = value
    return metrics


def response_metadata(response: Any) -> dict[str, Any]:
    """The response's id and the exact model that answered (the request may name an alias)."""
    metadata: dict[str, Any] = {}
    response_id = getattr(response, "id", None)
    if isinstance(response_id, str):
        metadata["response_id"] = response_id
    model = getattr(response, "model", None)
    if isinstance(model, str):
        metadata["response_model"] = model
    return metadata
