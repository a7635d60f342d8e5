"""Nesting by explicit parent: for frameworks that report their own run tree through callbacks
(LangChain's ``run_id``/``parent_run_id``), whose start and end may arrive on other threads or
tasks than the work itself, so that the ambient context cannot say where an event belongs."""

from __future__ import annotations

import honeytrace

__all__ = ["begin_under"]


def begin_under(span: honeytrace.Span, parent: honeytrace.Span | honeytrace.Session | None) -> None:
    """Start ``span`` (from ``honeytrace.span(...)``) as a child of ``parent`` (an open span or
    session, possibly begun on another thread) without making either the current event; with
    ``parent=None`` it nests in the current event, or opens an implicit session. End it with
    ``span.finish()``."""
    span.begin(parent)
