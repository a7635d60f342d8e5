"""Nesting by explicit parent: for frameworks that report their own run tree through callbacks
(LangChain's ``run_id``/``parent_run_id``), whose start and end may arrive on other threads or
tasks than the work itself, so that the ambient context cannot say where an event belongs."""

from __future__ import annotations

from honeytrace._record.context import reset_current, set_current
from honeytrace._record.span import Span

__all__ = ["begin_under"]


def begin_under(span: Span, parent: Span | None) -> None:
    """Start ``span`` (from ``honeytrace.span(...)``) as a child of ``parent`` (an open span or
    session, possibly begun on another thread) without making either the current event; with
    ``parent=None`` it nests in the current event, or opens an implicit session. End it with
    ``span.finish()``."""
    if parent is None:
        span.begin()
        return
    # The parent is current only for the instant begin() reads it, in this very call.
    token = set_current(parent)
    try:
        span.begin()
    finally:
        reset_current(token, None)
