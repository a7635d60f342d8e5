"""honeytrace: tracing for LLM applications.

Decorate functions with :func:`trace_session`, :func:`trace_chain`, :func:`trace_tool` and
:func:`trace_model` (or use :func:`session` and :func:`span` blocks); each call becomes a
timed event, delivered in the background to HoneyHive, to a local ``honeytrace serve``, or,
with no key and no URL, to an embedded SQLite store that ``honeytrace show`` prints.
"""

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
