"""The tracing processor: the Agents SDK's trace and span callbacks become honeytrace events.

Nesting follows the SDK's own tree (``parent_id``), not the thread or task a callback runs on.
An event is also made honeytrace's *current* event when the SDK starts its span where the
parent's event is current (the SDK starts and ends a span in one context), so that what the
app traces inside a function tool, or an OpenAI call traced by ``honeytrace-openai``, nests
under the tool or response event; otherwise it is only placed under its parent.
"""

from __future__ import annotations

import threading
from typing import Any

import honeytrace
from honeytrace.instrumentation import begin_under, guarded

from ._mapping import end_fields, start_fields

__all__ = ["HoneytraceProcessor"]

MAX_OPEN = 10_000
"""Open traces and spans remembered at once; an app that starts spans and never ends them
cannot make the processor grow without bound (the excess is not traced)."""


class _Node:
    """The honeytrace event of one SDK trace or span."""

    __slots__ = ("alias", "entered", "event")

    def __init__(self, event: honeytrace.Span, entered: bool, alias: bool = False) -> None:
        self.event = event
        self.entered = entered
        # True for a span folded into another's event (the run's task span into the trace's).
        self.alias = alias


def _open(event: honeytrace.Span, parent: _Node | None) -> _Node:
    current = honeytrace.current_event_id()
    if parent is None or (current is not None and current == parent.event.event_id):
        # Started where its parent is current (or at the top, outside any SDK trace we saw):
        # entering makes it current too, so that whatever runs inside nests under it.
        event.__enter__()
        return _Node(event, True)
    begin_under(event, parent.event)
    return _Node(event, False)


def _close(node: _Node) -> None:
    if node.entered:
        node.event.__exit__(None, None, None)
    else:
        node.event.finish()


def _error_text(error: Any) -> str | None:
    if not error:
        return None
    if isinstance(error, dict):
        message = str(error.get("message") or "error")
        data = error.get("data")
        detail = data.get("error") if isinstance(data, dict) else None
        return f"{message}: {detail}" if detail else message
    return str(error)


class HoneytraceProcessor:
    """An Agents SDK ``TracingProcessor`` that records every trace and span in honeytrace.

    Registered by :func:`honeytrace_openai_agents.instrument`; it can also be passed to
    ``agents.add_trace_processor`` / ``set_trace_processors`` directly. ``active`` switches it
    off without unregistering it (the SDK has no call to remove one processor).
    """

    def __init__(self) -> None:
        self.active = True
        self._lock = threading.Lock()
        self._nodes: dict[str, _Node] = {}

    # -- traces ---------------------------------------------------------------------------

    @guarded
    def on_trace_start(self, trace: Any) -> None:
        """An agent run (``Runner.run`` or a ``trace()`` block) began."""
        if not self.active or len(self._nodes) >= MAX_OPEN:
            return
        name = str(getattr(trace, "name", None) or "Agent workflow")
        metadata: dict[str, Any] = {"agents.trace_id": trace.trace_id}
        group_id = getattr(trace, "group_id", None)
        if group_id:
            metadata["agents.group_id"] = group_id
        extra = getattr(trace, "metadata", None)
        if isinstance(extra, dict) and extra:
            metadata["agents.metadata"] = dict(extra)
        if honeytrace.current_event_id() is None:
            event: honeytrace.Span = honeytrace.session(name, metadata=metadata)
        else:  # inside the app's own session: the run is one step of it
            event = honeytrace.span(name, "chain", metadata=metadata)
        node = _open(event, None)
        with self._lock:
            self._nodes[trace.trace_id] = node

    @guarded
    def on_trace_end(self, trace: Any) -> None:
        """An agent run ended."""
        with self._lock:
            node = self._nodes.pop(trace.trace_id, None)
        if node is not None:
            _close(node)

    # -- spans ----------------------------------------------------------------------------

    @guarded
    def on_span_start(self, span: Any) -> None:
        """A span of the run began: open its event under its parent's."""
        if not self.active or len(self._nodes) >= MAX_OPEN:
            return
        start = start_fields(span.span_data)
        with self._lock:
            parent = self._nodes.get(span.parent_id or "") or self._nodes.get(span.trace_id)
        if (
            start.metadata.get("agents.span") == "task"
            and span.parent_id is None
            and parent is not None
            and not parent.alias
        ):
            # The SDK's task span is the run itself: one event, not the run named twice.
            with self._lock:
                self._nodes[span.span_id] = _Node(parent.event, parent.entered, alias=True)
            return
        event = honeytrace.span(
            start.name,
            start.event_type,  # type: ignore[arg-type]  # one of the mapping's literals
            inputs=start.inputs or None,
            config=start.config or None,
            metadata=start.metadata or None,
        )
        node = _open(event, parent)
        with self._lock:
            self._nodes[span.span_id] = node

    @guarded
    def on_span_end(self, span: Any) -> None:
        """A span ended: record what its data says, and its error."""
        with self._lock:
            node = self._nodes.pop(span.span_id, None)
        if node is None:
            return
        try:
            self._record(node.event, span)
        finally:
            if not node.alias:
                _close(node)

    @staticmethod
    def _record(event: honeytrace.Span, span: Any) -> None:
        end = end_fields(span.span_data)
        if end.outputs is not None:
            event.set_outputs(end.outputs)
        event.enrich(
            inputs=end.inputs or None,
            config=end.config or None,
            metrics=end.metrics or None,
            metadata=end.metadata or None,
        )
        error = _error_text(span.error)
        if error is not None:
            event.set_error(error)

    # -- the rest of the interface --------------------------------------------------------

    def shutdown(self) -> None:
        """Nothing to release: honeytrace delivers on its own thread and flushes at exit."""

    def force_flush(self) -> None:
        """Deliver what was recorded so far (bounded by honeytrace's flush timeout)."""
        if self.active:
            honeytrace.flush()

    @property
    def open_count(self) -> int:
        """Traces and spans started and not yet ended."""
        return len(self._nodes)
