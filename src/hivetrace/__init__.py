"""hivetrace: tracing for LLM applications.

Decorate functions with :func:`trace_session`, :func:`trace_chain`, :func:`trace_tool` and
:func:`trace_model` (or use :func:`session` and :func:`span` blocks); each call becomes a
timed event, delivered in the background to HoneyHive, to a local ``hivetrace serve``, or,
with no key and no URL, to an embedded SQLite store that ``hivetrace show`` prints.
"""

from hivetrace._buffer import Stats
from hivetrace._config import ConfigError
from hivetrace._context import current_event_id, current_session_id, wrap
from hivetrace._decorators import (
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
from hivetrace._public import configure, flush, shutdown, stats
from hivetrace._span import Session, Span
from hivetrace._version import __version__

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
