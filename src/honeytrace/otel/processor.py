"""OpenTelemetry, both ways (install the SDK side with ``pip install "honeytrace[otel]"``).

**honeytrace -> OTel.** ``honeytrace.configure(otel=True)`` (or ``HONEYTRACE_OTEL=1``) makes every
honeytrace event an OTel span of the application's global tracer provider, current while the
event's code runs (see :mod:`honeytrace.otel.bridge`).

**OTel -> honeytrace.** :class:`HoneytraceSpanProcessor` turns foreign spans (OpenInference,
OpenLLMetry, GenAI semantic conventions, or any instrumentation) into events of the honeytrace
session they ran in::

    from opentelemetry.sdk.trace import TracerProvider
    from honeytrace.otel import HoneytraceSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(HoneytraceSpanProcessor())

The events go through honeytrace's own pipeline: encoded, redacted, validated, delivered and
counted in ``honeytrace.stats()`` like any other. Spans made by the ``otel=True`` bridge are
honeytrace events already and are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any, Literal

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from honeytrace._errors import internal_error, log_once
from honeytrace._record import state
from honeytrace._record.context import current
from honeytrace._record.signature import Spec
from honeytrace._record.span import ErrorInfo, Event, Session
from honeytrace.otel.bridge import FOREIGN, SCOPE, ForeignEvent, ForeignLink, set_linking
from honeytrace.otel.mapping import is_llm_attributes, map_span

__all__ = ["HoneytraceSpanProcessor", "is_llm_span"]

SpanFilter = Callable[[ReadableSpan], bool]
OutsideSession = Literal["implicit", "ignore"]

_MAX_OPEN = 100_000
"""Foreign spans tracked at once; beyond (spans never ended), new ones are not recorded."""


def is_llm_span(span: ReadableSpan) -> bool:
    """Whether a span carries a GenAI / LLM convention (``gen_ai.*``, ``llm.*``,
    ``openinference.*`` or ``traceloop.*`` attributes)."""
    return is_llm_attributes(span.attributes)


class HoneytraceSpanProcessor(SpanProcessor):
    """Records foreign OpenTelemetry spans as honeytrace events.

    A span that ends inside a honeytrace session becomes an event of that session. Its parent is
    the honeytrace event that was open when it started, or its OTel parent's event when that
    parent started inside the same honeytrace event; a honeytrace event opened while such a span
    is current is put under the span's event in turn, so both trees agree.

    Args:
        span_filter: decides, when a span starts (in its context, with the attributes given at
            start), whether it becomes an event. The default keeps GenAI/LLM spans
            (:func:`is_llm_span`) and every span under a honeytrace event (in a session, or
            below a recorded foreign span). Skipped spans' children attach to the nearest
            recorded ancestor.
        outside_session: what a chosen span started outside any session does: ``"implicit"``
            (default, as a traced call outside a session: it opens a session named after the
            span, which its child spans join) or ``"ignore"``.
    """

    def __init__(
        self,
        *,
        span_filter: SpanFilter | None = None,
        outside_session: OutsideSession = "implicit",
    ) -> None:
        if outside_session not in ("implicit", "ignore"):
            raise ValueError(
                f"outside_session must be 'implicit' or 'ignore', not {outside_session!r}"
            )
        self._filter = span_filter
        self._outside = outside_session
        self._linked = True
        set_linking(+1)

    # -- SpanProcessor --------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Decide, while the span starts, whether and under which event it is recorded."""
        try:
            self._start(span)
        except Exception:
            internal_error("otel span start")

    def on_end(self, span: ReadableSpan) -> None:
        """Record the event of a chosen span."""
        try:
            self._end(span)
        except Exception:
            internal_error("otel span end")

    def shutdown(self) -> None:
        """Stop linking honeytrace events with foreign spans (honeytrace itself keeps running:
        it has its own exit handling)."""
        if self._linked:
            self._linked = False
            set_linking(-1)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Deliver what honeytrace has recorded so far (``honeytrace.flush``)."""
        return state.host.flush(timeout_millis / 1000)

    # -- inside ---------------------------------------------------------------------------

    def _start(self, span: Span) -> None:
        scope = span.instrumentation_scope
        if scope is not None and scope.name == SCOPE:
            return  # the otel=True bridge: already a honeytrace event
        own = span.get_span_context()
        if own is None or not self._linked:
            return
        enclosing = current()
        inherited = enclosing
        parent = span.parent
        link = FOREIGN.get((parent.trace_id, parent.span_id)) if parent is not None else None
        if link is not None and link.enclosing is enclosing:
            inherited = link.child_parent  # the nearest recorded foreign ancestor, or its parent
        event: ForeignEvent | None = None
        implicit: Session | None = None
        chosen = self._filter
        if (inherited is not None or is_llm_span(span)) if chosen is None else chosen(span):
            if inherited is None and self._outside == "implicit" and state.host.enabled_at_root():
                implicit = state.implicit_session(span.name)
                implicit.begin()
                inherited = implicit
            if inherited is not None and inherited.session.sampled:
                event = ForeignEvent(Spec(span.name, "chain"), inherited)
                event.span_context = own
        child_parent = event if event is not None else inherited
        if enclosing is None and child_parent is None:
            return  # outside any session and not recorded: nothing to hand down
        if len(FOREIGN) >= _MAX_OPEN:
            log_once(
                "otel-open", 30, "honeytrace: too many OTel spans never ended; skipping new ones"
            )
            if implicit is not None:
                implicit.finish(None)
            return
        FOREIGN[(own.trace_id, own.span_id)] = ForeignLink(enclosing, child_parent, event, implicit)

    def _end(self, span: ReadableSpan) -> None:
        own = span.get_span_context()
        if own is None:
            return
        link = FOREIGN.pop((own.trace_id, own.span_id), None)
        if link is None or link.event is None:
            return
        config = state.host.config()
        mapped = map_span(
            span, capture_inputs=config.capture_inputs, capture_outputs=config.capture_outputs
        )
        event = link.event
        event.spec = Spec(mapped.event_name or span.name, mapped.event_type)
        extra: dict[str, Any] = {"inputs": mapped.inputs}
        if mapped.outputs is not None:
            extra["outputs"] = mapped.outputs
            extra["outputs_replace"] = True
        for key in ("config", "metrics", "metadata"):
            value = getattr(mapped, key)
            if value:
                extra[key] = value
        event.extra = extra
        if mapped.error is not None:
            event.error = ErrorInfo(mapped.error, mapped.traceback)
        offset = time.time_ns() - perf_counter_ns()
        event.start = max(1, (span.start_time or 0) - offset)
        event.end = max(event.start, (span.end_time or time.time_ns()) - offset)
        state.record(event)
        implicit = link.implicit
        if implicit is not None:
            _close_implicit(implicit, event)


def _close_implicit(session: Session, event: Event) -> None:
    """End the session opened for a root span: its times and inputs/outputs are the span's."""
    extra = event.extra or {}
    session.extra = {key: extra[key] for key in ("inputs", "outputs") if key in extra}
    if "outputs" in extra:
        session.extra["outputs_replace"] = True
    session.start = min(session.start, event.start)
    session.error = event.error
    session.finish(None)
