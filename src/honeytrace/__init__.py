"""honeytrace: tracing for LLM applications.

Decorate functions with :func:`trace_session`, :func:`trace_chain`, :func:`trace_tool` and
:func:`trace_model` (or use :func:`session` and :func:`span` blocks); each call becomes a
timed event, delivered in the background to HoneyHive, to a local ``honeytrace serve``, or,
with no key and no URL, to an embedded SQLite store that ``honeytrace show`` prints.
"""

from typing import TYPE_CHECKING, Any

from honeytrace._config import ConfigError
from honeytrace._public import configure, flush, shutdown, stats
from honeytrace._record.buffer import Stats
from honeytrace._record.context import current_event_id, current_session_id, wrap
from honeytrace._record.decorators import (
    enrich_session,
    enrich_span,
    session,
    span,
    trace,
    trace_chain,
    trace_model,
    trace_session,
    trace_tool,
)
from honeytrace._record.span import Session, Span
from honeytrace._version import __version__

if TYPE_CHECKING:
    from honeytrace import otel as otel
    from honeytrace import propagation as propagation
    from honeytrace import testing as testing

__all__ = [
    "ConfigError",
    "Session",
    "Span",
    "Stats",
    "__version__",
    "configure",
    "current_event_id",
    "current_session_id",
    "enrich_session",
    "enrich_span",
    "flush",
    "session",
    "shutdown",
    "span",
    "stats",
    "trace",
    "trace_chain",
    "trace_model",
    "trace_session",
    "trace_tool",
    "wrap",
]

# Submodules reachable as attributes after a plain ``import honeytrace``, loaded on first access
# so that importing the package does not pay for the test helpers, W3C propagation or the OTel
# processor. They are not in ``__all__``: ``from honeytrace import *`` must not load them.
_LAZY_SUBMODULES = frozenset({"otel", "propagation", "testing"})


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        import importlib

        # import_module also binds the submodule on this package, so __getattr__ runs once.
        return importlib.import_module(f"honeytrace.{name}")
    raise AttributeError(f"module 'honeytrace' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_SUBMODULES})
