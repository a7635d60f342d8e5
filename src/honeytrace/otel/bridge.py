"""honeytrace events as OpenTelemetry spans (``configure(otel=True)``), on one shared context.

An :class:`OtelObserver` rides the observer hook (``_record.hooks``). With mirroring on,
each event of a sampled session becomes a span of the API's global tracer provider (whatever the
application set; never replaced), current while the event's code runs: spans that other
instrumentation starts inside a ``@trace_tool`` call are its children, and an event opened
inside a foreign span is that span's child. The span takes the event's own start and end times.

The same observer also links the other way for :class:`.HoneytraceSpanProcessor`:
processors register the foreign spans they turn into events in :data:`FOREIGN`, and an event
opened while such a span is current is re-parented under that span's event, so the honeytrace
tree and the OTel tree agree.

Only the OpenTelemetry *API* is imported here; the SDK side lives in :mod:`.processor`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from time import perf_counter_ns
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode

from honeytrace._record import hooks
from honeytrace._record.span import Event, Session
from honeytrace._version import __version__

__all__ = [
    "ATTR_EVENT_ID",
    "ATTR_EVENT_TYPE",
    "ATTR_SESSION_ID",
    "FOREIGN",
    "SCOPE",
    "ForeignEvent",
    "ForeignLink",
    "OtelObserver",
    "observer",
    "set_linking",
    "set_mirroring",
]

SCOPE = "honeytrace"
"""The instrumentation scope of the spans made here (how processors recognise them)."""

ATTR_SESSION_ID = "honeytrace.session_id"
ATTR_EVENT_ID = "honeytrace.event_id"
ATTR_EVENT_TYPE = "honeytrace.event_type"

_ENDED_KEPT = 4096
"""Span contexts of ended events kept for late children (a stream finished after its parent)."""

_runtime_context: Any = getattr(otel_context, "_RUNTIME_CONTEXT", None)


class ForeignEvent(Event):
    """The event a :class:`.HoneytraceSpanProcessor` makes of a foreign span."""

    __slots__ = ("span_context",)

    span_context: SpanContext


class ForeignLink:
    """What a processor knows about one started foreign span: the honeytrace event that was
    current when it started (``enclosing``), the event its children belong under
    (``child_parent``: its own event when it counts, else what it inherited), its own event,
    and the implicit session opened for it."""

    __slots__ = ("child_parent", "enclosing", "event", "implicit")

    def __init__(
        self,
        enclosing: Event | None,
        child_parent: Event | None,
        event: ForeignEvent | None,
        implicit: Session | None,
    ) -> None:
        self.enclosing = enclosing
        self.child_parent = child_parent
        self.event = event
        self.implicit = implicit


FOREIGN: dict[tuple[int, int], ForeignLink] = {}
"""Started, not yet ended foreign spans by ``(trace_id, span_id)``, filled by processors."""


class _Record:
    """The span of one event while the event is open."""

    __slots__ = ("entered", "event", "offset", "span")

    def __init__(self, event: Event, span: trace.Span, offset: int, entered: bool) -> None:
        self.event = event
        self.span = span
        self.offset = offset  # epoch ns minus perf_counter ns, read when the span started
        self.entered = entered


class OtelObserver:
    """The observer of ``_record.hooks`` for the OpenTelemetry bridge."""

    def __init__(self) -> None:
        self.mirroring = False
        self.linking = 0
        # A ProxyTracer until the application sets its provider, then that provider's tracer.
        self._tracer = trace.get_tracer(SCOPE, __version__)
        self._open: dict[int, _Record] = {}  # id(event) -> record; the record holds the event
        self._ended: dict[int, SpanContext] = {}  # event.id -> span context, insertion order
        self._ended_lock = threading.Lock()

    @property
    def active(self) -> bool:
        """Whether there is anything to do (mirroring, or processors to link with)."""
        return self.mirroring or self.linking > 0

    # -- the observer protocol ------------------------------------------------------------

    def enter(self, event: Event) -> Any:
        """The event's code runs now: make its span current (starting it the first time)."""
        relinked = self.linking > 0 and bool(FOREIGN) and _relink(event)
        if not self.mirroring or not event.session.sampled:
            return None
        record = self._open.get(id(event))
        if record is None or record.event is not event:
            record = self._start(event, entered=True, under_current=relinked)
        else:
            record.entered = True
        return otel_context.attach(trace.set_span_in_context(record.span))

    def leave(self, event: Event, token: Any, done: bool) -> None:
        """The event's code stops running here; when ``done``, end its span."""
        if token is not None:
            _detach(token)
        if not done or not self.mirroring:
            return
        record = self._open.pop(id(event), None)
        if record is None or record.event is not event:
            if not event.session.sampled or event.id in self._ended:
                return  # unsampled, or a second "done" for the same event
            # Begun and finished without ever running as the current event (Span.begin()).
            record = self._start(event, entered=False, under_current=False)
        self._end(record)

    # -- spans ----------------------------------------------------------------------------

    def _start(self, event: Event, *, entered: bool, under_current: bool) -> _Record:
        parent_context = (
            otel_context.get_current() if under_current else self._parent_context(event)
        )
        offset = time.time_ns() - perf_counter_ns()
        event_type = event.spec.event_type
        if event_type == "session" and not isinstance(event, Session):
            event_type = "chain"  # a session function called inside a session
        span = self._tracer.start_span(
            event.spec.name,
            context=parent_context,
            start_time=event.start + offset,
            attributes={
                ATTR_SESSION_ID: event.session.session_id,
                ATTR_EVENT_ID: event.event_id,
                ATTR_EVENT_TYPE: event_type,
            },
        )
        record = _Record(event, span, offset, entered)
        self._open[id(event)] = record
        return record

    def _parent_context(self, event: Event) -> otel_context.Context:
        """The OTel parent of an event's span: whatever is current when that is inside the
        parent event's span (foreign spans in between stay in between), else the parent
        event's span itself (another thread, or a parent that never ran as current)."""
        current = otel_context.get_current()
        parent = event.parent
        if parent is None or parent.remote:
            return current  # a session, or the top of a session continued from a caller
        record = self._open.get(id(parent))
        if record is not None and record.event is parent:
            live = record.entered
            parent_span: trace.Span = record.span
        elif isinstance(parent, ForeignEvent):
            live = True
            parent_span = NonRecordingSpan(parent.span_context)
        else:
            ended = self._ended.get(parent.id)
            if ended is not None:
                live = False
                parent_span = NonRecordingSpan(ended)
            else:  # begun but never current (an implicit session, Span.begin()): start it now
                live = False
                parent_span = self._start(parent, entered=False, under_current=False).span
        if live:
            current_trace = trace.get_current_span(current).get_span_context().trace_id
            if current_trace == parent_span.get_span_context().trace_id:
                return current
        return trace.set_span_in_context(parent_span, current)

    def _end(self, record: _Record) -> None:
        event, span = record.event, record.span
        config = event.spec.config
        if config:
            # What GenAI-aware backends look for on a model call.
            model, provider = config.get("model"), config.get("provider")
            if isinstance(model, str):
                span.set_attribute("gen_ai.request.model", model)
            if isinstance(provider, str):
                span.set_attribute("gen_ai.provider.name", provider)
        error = event.error
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error.message))
            kind, _, message = error.message.partition(": ")
            span.add_event("exception", {"exception.type": kind, "exception.message": message})
        span.end(end_time=(event.end or perf_counter_ns()) + record.offset)
        with self._ended_lock:
            ended = self._ended
            ended[event.id] = span.get_span_context()
            if len(ended) > _ENDED_KEPT:
                del ended[next(iter(ended))]


def _relink(event: Event) -> bool:
    """Put an event opened inside a foreign span that a processor records under that span's
    event; True when it did."""
    parent = event.parent
    if parent is None:
        return False
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return False
    link = FOREIGN.get((span_context.trace_id, span_context.span_id))
    # Only a span that started inside the event's own parent lies between the two.
    if link is None or link.enclosing is not parent or link.child_parent is None:
        return False
    if link.child_parent is parent:
        return False
    event.parent = link.child_parent
    return True


def _detach(token: Any) -> None:
    if _runtime_context is None:
        otel_context.detach(token)
        return
    # A token left in another task or thread than it was entered in (a ``with`` block split
    # across tasks) fails: that context is discarded anyway, as in honeytrace's reset_current.
    with contextlib.suppress(ValueError):
        _runtime_context.detach(token)


observer = OtelObserver()
"""The one bridge observer of this process."""


def set_mirroring(enabled: bool) -> None:
    """Switch honeytrace events -> OTel spans on or off (``configure(otel=...)``)."""
    observer.mirroring = enabled
    _refresh()


def set_linking(delta: int) -> None:
    """A processor started (+1) or shut down (-1) linking foreign spans with events."""
    observer.linking = max(0, observer.linking + delta)
    _refresh()


def _refresh() -> None:
    if observer.active:
        if hooks.active is not observer:
            hooks.install(observer)
    elif hooks.active is observer:
        hooks.install(None)
