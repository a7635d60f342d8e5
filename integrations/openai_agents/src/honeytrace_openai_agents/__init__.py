"""honeytrace-openai-agents: the OpenAI Agents SDK's runs as honeytrace event trees.

::

    import honeytrace_openai_agents

    honeytrace_openai_agents.instrument()              # next to the SDK's own trace exporter
    honeytrace_openai_agents.instrument(replace=True)  # or instead of it

A tracing processor registered with the SDK turns each agent run into a session (or a
``chain`` inside the app's own session), and its agents, turns, guardrails and handoffs into
``chain``/``tool`` events, its model calls into ``model`` events with token usage, and its
function tools into ``tool`` events, nested as the SDK nests them.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
import threading
from typing import Any

from ._processor import HoneytraceProcessor

__all__ = ["HoneytraceProcessor", "__version__", "instrument", "processor", "uninstrument"]

__version__ = "0.1.0"

MIN_VERSION = (0, 2)
"""The Agents SDK with ``add_trace_processor``/``set_trace_processors`` and response spans."""

_logger = logging.getLogger("honeytrace")
_lock = threading.Lock()
_instance: HoneytraceProcessor | None = None
_registered = False
_replaced: list[Any] | None = None
"""The processors ``instrument(replace=True)`` took out, put back by ``uninstrument()``."""


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _supported() -> bool:
    try:
        version = importlib.metadata.version("openai-agents")
    except importlib.metadata.PackageNotFoundError:
        _logger.warning("honeytrace: openai-agents is not installed; nothing to instrument")
        return False
    if _version(version) < MIN_VERSION:
        wanted = ".".join(str(part) for part in MIN_VERSION)
        _logger.warning(
            "honeytrace: openai-agents %s is older than %s; not instrumented", version, wanted
        )
        return False
    return True


def _current_processors() -> list[Any] | None:
    """The processors registered now; the SDK keeps them privately, so ``None`` if unknown."""
    from agents.tracing import get_trace_provider

    multi = getattr(get_trace_provider(), "_multi_processor", None)
    found = getattr(multi, "_processors", None)
    return list(found) if isinstance(found, tuple | list) else None


def processor() -> HoneytraceProcessor | None:
    """The processor :func:`instrument` registered, or ``None`` before it did."""
    return _instance


def instrument(*, replace: bool = False) -> HoneytraceProcessor | None:
    """Trace every Agents SDK run; returns the processor (``None`` when the SDK is missing or
    older than 0.2, which is logged once).

    By default honeytrace is added next to the SDK's own processors (its exporter to the
    OpenAI dashboard keeps working); ``replace=True`` makes honeytrace the only one
    (``set_trace_processors``), so nothing is sent anywhere else. Idempotent: calling again
    registers nothing twice (``replace=True`` later still replaces the others).
    """
    global _instance, _registered, _replaced
    with _lock:
        if not _supported():
            return None
        from agents.tracing import TracingProcessor, add_trace_processor, set_trace_processors

        if _instance is None:
            kind = type("HoneytraceProcessor", (HoneytraceProcessor, TracingProcessor), {})
            _instance = kind()
        _instance.active = True
        registered: Any = _instance  # a TracingProcessor: its class derives from it above
        if replace:
            before = _current_processors() or []
            others = [item for item in before if item is not _instance]
            if others and _replaced is None:
                _replaced = others
            set_trace_processors([registered])
        elif not _registered:
            add_trace_processor(registered)
        _registered = True
        return _instance


def uninstrument() -> None:
    """Stop tracing Agents SDK runs; processors that ``instrument(replace=True)`` replaced are
    put back. Spans already open still end their events."""
    global _registered, _replaced
    with _lock:
        if _instance is None or not _registered:
            return
        from agents.tracing import set_trace_processors

        current = _current_processors()
        if current is not None:
            remaining = [item for item in current if item is not _instance]
            set_trace_processors([*(_replaced or []), *remaining])
            _registered = False
        # Where the SDK's list cannot be read, the processor stays registered, switched off
        # (on_*_start does nothing while inactive).
        _instance.active = False
        _replaced = None
