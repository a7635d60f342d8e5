"""OpenTelemetry, both ways: the span processor (OTel -> honeytrace), the bridge (honeytrace ->
OTel), the attribute mapping they and the collector's OTLP ingest share, and W3C propagation.

``HoneytraceSpanProcessor`` and ``is_llm_span`` need the OpenTelemetry SDK
(``pip install "honeytrace[otel]"``); they are loaded on first use, so that the bridge and the
mapping work with the API package alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from honeytrace.otel.processor import HoneytraceSpanProcessor, is_llm_span

__all__ = ["HoneytraceSpanProcessor", "is_llm_span"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from honeytrace.otel import processor

        return getattr(processor, name)
    raise AttributeError(f"module 'honeytrace.otel' has no attribute {name!r}")
