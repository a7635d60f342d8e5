"""honeytrace-openai-agents: the OpenAI Agents SDK's traces as honeytrace events.

::

    import honeytrace_openai_agents

    honeytrace_openai_agents.instrument()              # next to the SDK's own exporter
    honeytrace_openai_agents.instrument(replace=True)  # or instead of it

Agent runs, turns, LLM generations and responses (with usage and cost), function tools,
handoffs and guardrails become chain / model / tool events, nested as the SDK ran them. A run
inside a honeytrace session nests in it; others open a session (the trace's ``group_id`` names
it, so one conversation's runs share a session).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._processor import HoneytraceProcessor

__all__ = ["HoneytraceProcessor", "__version__", "instrument", "uninstrument"]

__version__ = "0.1.0"

logger = logging.getLogger("honeytrace")
_processor: HoneytraceProcessor | None = None


def instrument(*, replace: bool = False) -> HoneytraceProcessor | None:
    """Register honeytrace's processor with the Agents SDK and return it: beside the SDK's
    own processors (``add_trace_processor``), or, with ``replace=True``, as the only one
    (``set_trace_processors``: nothing goes to OpenAI's trace backend). Idempotent. Without the
    SDK: a log line, and None."""
    global _processor
    try:
        from agents.tracing import add_trace_processor, set_trace_processors
    except ImportError:
        logger.info("honeytrace: openai-agents is not installed; the Agents SDK is not traced")
        return None
    if _processor is None:
        from ._processor import HoneytraceProcessor

        _processor = HoneytraceProcessor()
        if not replace:
            add_trace_processor(_processor)
    if replace:
        set_trace_processors([_processor])
    _processor.active = True
    return _processor


def uninstrument() -> None:
    """Stop recording (the SDK cannot remove one processor: ours stays registered, inert)."""
    if _processor is not None:
        _processor.active = False


def __getattr__(name: str) -> Any:
    if name == "HoneytraceProcessor":
        from ._processor import HoneytraceProcessor

        return HoneytraceProcessor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
