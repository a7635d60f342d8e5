"""Token usage of OpenAI responses -> honeytrace metrics (one vocabulary for every endpoint and
every integration: ``prompt_tokens``, ``completion_tokens``, ``total_tokens``, and the cached,
reasoning and audio tokens when there are any)."""

from __future__ import annotations

from typing import Any

from honeytrace.instrumentation import usage_metrics as _usage_metrics

__all__ = ["response_metadata", "usage_metrics"]


def _count(source: Any, name: str) -> int | None:
    value = getattr(source, name, None)
    return value if isinstance(value, int) else None


def usage_metrics(usage: Any) -> dict[str, Any]:
    """Metrics of a Chat Completions, Embeddings or Responses ``usage`` object, under
    honeytrace's usage names (:data:`honeytrace.instrumentation.TOKEN_METRICS`)."""
    if usage is None:
        return {}
    # Chat and Embeddings say prompt/completion; the Responses API says input/output.
    prompt = _count(usage, "prompt_tokens")
    if prompt is None:
        prompt = _count(usage, "input_tokens")
    completion = _count(usage, "completion_tokens")
    if completion is None:
        completion = _count(usage, "output_tokens")
    inputs = getattr(usage, "prompt_tokens_details", None) or getattr(
        usage, "input_tokens_details", None
    )
    outputs = getattr(usage, "completion_tokens_details", None) or getattr(
        usage, "output_tokens_details", None
    )
    return _usage_metrics(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=_count(usage, "total_tokens"),
        cache_read_tokens=_count(inputs, "cached_tokens"),
        reasoning_tokens=_count(outputs, "reasoning_tokens"),
        audio_input_tokens=_count(inputs, "audio_tokens"),
        audio_output_tokens=_count(outputs, "audio_tokens"),
    )


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
