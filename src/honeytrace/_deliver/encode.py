"""Finished spans -> wire bodies: the flusher's translation into the HoneyHive API's JSON.

Everything the hot path deferred happens here, on the flusher thread: binding arguments to
names, turning user objects into JSON (:mod:`.serialize`), formatting ids, converting
clocks to epoch milliseconds, and running the user's ``redact`` hook.

No request the server would reject ever leaves, and no body is validated twice to ensure it:
every body is built so that it fits the strict models of :mod:`.models` (each field's type is
fixed by how it is made: objects come from :mod:`.serialize`, ids from :func:`_format_id`,
times from integer clocks), and the few values that come from elsewhere (an event's name and
type, a source, a parent's id) are checked for their exact type as they are placed. A body a
``redact`` hook returned, or one that fails such a check, is validated against the models
(pydantic) before it goes; so is every body of an ``Encoder(..., validate=True)`` (tests).
tests/test_encode_bodies.py proves the construction on many kinds of recorded events.

For an exporter that takes the events' JSON alone (HTTP, ``none``), the commonest events skip
the dict altogether: :func:`.template.event_json` writes their JSON as text.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from pydantic_core import ValidationError

from honeytrace._config import Config
from honeytrace._deliver import template
from honeytrace._deliver.exporters import InvalidEvent
from honeytrace._deliver.mask import scrub
from honeytrace._deliver.plain import check_dict, fast_limits
from honeytrace._deliver.pricing import Pricer
from honeytrace._deliver.serialize import Limits, flat_dict, to_jsonable
from honeytrace._deliver.template import _NO_BASE, _format_id, _top
from honeytrace._errors import log_once
from honeytrace._record.span import NO_RESULT, Event, Session, Span

__all__ = ["Encoder", "InvalidEvent"]

Body = dict[str, Any]

_MERGED = ("metadata", "config", "metrics", "feedback", "user_properties")
_EVENT, _SESSION, _UPDATE = "Event", "SessionStart", "EventUpdate"
_validators: dict[str, Any] = {}


def _validator(model: str) -> Any:
    """The core validator (pydantic-core, called without TypeAdapter's Python wrapper) of a
    body that is not made by this module alone (see the module doc). The models are built on
    first need only: building a pydantic model loads the installed pydantic plugins, and one
    that cannot load while the interpreter exits (Logfire's) must not cost a short script the
    events its flusher encodes then."""
    found = _validators.get(model)
    if found is None:
        from honeytrace._deliver import models

        found = _validators[model] = models.body_validator(getattr(models, model)).validator
    return found


def load_models() -> None:
    """Build the validators now, at the flusher's start (before ``ready``: a fork must not
    catch the thread half-way through importing pydantic, or the child inherits the import's
    lock and hangs on its first validation). A plugin that refuses to load (Logfire's, while
    the interpreter exits) fails only this early build: pydantic then carries on without its
    plugins, and the bodies this module makes never needed the models anyway."""
    try:
        for model in (_EVENT, _SESSION, _UPDATE):
            _validator(model)
    except Exception:  # built again on first need; nothing is lost meanwhile
        pass


# The wire type of each event type (a session function called inside a session is a chain).
_WIRE_TYPES = {"model": "model", "tool": "tool", "chain": "chain", "session": "chain"}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class Encoder:
    """Builds validated wire bodies from spans, with the settings of one configuration."""

    def __init__(self, config: Config, limits: Limits | None = None, *, validate: bool = False):
        self.config = config
        self.limits = limits or Limits()
        self.pricer = Pricer(config.prices)  # cost of model events: here, never on the hot path
        self.validate = validate
        """Validate every body against the models, even those built to fit them."""
        self._ids: dict[int, str] = {}
        # Read once: the configuration of an encoder never changes (a new one is made).
        self._mask = config.mask_secrets
        self._source = config.source
        self._capture_inputs = config.capture_inputs
        self._capture_outputs = config.capture_outputs
        # Bodies go unvalidated when this module alone made them (see the module doc).
        self._trusting = config.redact is None and not validate
        self._plain = fast_limits(self.limits)
        self._shapes: dict[Any, Any] = {}  # template.py's, per traced function
        self._quoted: tuple[Any, str | None] = (None, None)  # the last session's id, as JSON
        # this process's id prefix (upper half), and its text (template.py); none yet: no id
        # is within 2**48 above this base
        self._id_base = _NO_BASE
        self._id_prefix = ""
        self._anchor()

    def _anchor(self) -> None:
        # perf_counter_ns is what the hot path reads (monotonic, precise); wall time is derived
        # with an offset refreshed now and then, so a slewed system clock is followed.
        self._offset_ns = time.time_ns() - time.perf_counter_ns()
        self._anchored_at = time.monotonic()

    def _event_id(self, event: Event) -> Any:
        # Sessions (and remote parents) carry ids that are not ours to reshape: ask them.
        kind = type(event)
        if kind is Event or kind is Span:
            key = event.id
            return self._ids.get(key) or self._format(key)
        return event.event_id

    def _rebase(self, value: int) -> str:
        """The text of ``value``, whose upper half becomes the one template.py formats
        ``..-8000-<counter>`` ids under (a forked child draws a new one)."""
        text = _format_id(value)
        self._id_base = value >> 64 << 64
        self._id_prefix = text[:24] if value & 0xFFFF << 48 == 0 else ""
        if not self._id_prefix:
            self._id_base = _NO_BASE
        return text

    def _format(self, value: int) -> str:
        # A parent's id is written once per child and once more as the child's own event_id
        # is listed under it: format each once per cycle.
        text = self._ids.get(value)
        if text is None:
            text = self._ids[value] = _format_id(value)
        return text

    def _format_all(self, values: list[int], keep: bool = False) -> list[str]:
        # Inline: a session's create lists all its events (the first, for most of them, to
        # format their ids). Ids within this process's prefix (upper half, and a counter below
        # 2**48) are its text and their last 12 hex digits (cheaper than a format spec).
        # ``keep``: the events are written later in this cycle (a session's create or event
        # lists its direct children, taken in this cycle): their texts are kept for them
        # (text_runs.py takes each back; formatting an id costs ~2k instructions, keeping
        # and taking it back ~300).
        prefix, top = self._id_prefix, _top(self._id_base)
        if values and min(values) >> 48 == top == max(values) >> 48:  # all share the prefix
            texts = [prefix + hex(value)[-12:] for value in values]
            if keep:
                self._ids.update(zip(values, texts, strict=True))
            return texts
        texts = []
        for value in values:
            if value >> 48 == top:
                texts.append(prefix + hex(value)[-12:])
            else:
                texts.append(self._ids.get(value) or self._rebase(value))
                prefix, top = self._id_prefix, _top(self._id_base)
        if keep:
            self._ids.update(zip(values, texts, strict=True))
        return texts

    def refresh_clock(self) -> None:
        """Start a cycle: forget formatted ids; re-read the wall clock offset if it is more
        than a minute old."""
        self._ids.clear()
        if time.monotonic() - self._anchored_at > 60.0:
            self._anchor()

    def ms(self, perf_ns: int) -> int:
        """Epoch milliseconds of a ``perf_counter_ns`` reading."""
        return (perf_ns + self._offset_ns) // 1_000_000

    def shrunk(self, factor: int) -> Encoder:
        """An encoder with ``1/factor`` of the size limits, for an event too big for a batch."""
        limits = dataclasses.replace(
            self.limits,
            max_string=max(64, self.limits.max_string // factor),
            max_total=max(256, self.limits.max_total // factor),
        )
        encoder = Encoder(self.config, limits, validate=self.validate)
        encoder._offset_ns = self._offset_ns
        encoder.pricer = self.pricer
        return encoder

    def _json(self, value: Any) -> Any:
        return to_jsonable(value, self.limits, mask_secrets=self._mask)

    def _object(self, value: Any) -> Body:
        if type(value) is dict:  # the common case, without the general walker's set-up
            flat = flat_dict(value, self.limits, self._mask)
            if flat is not None:
                return flat
        return self._walked(value)

    def _own(self, value: Body) -> Body:
        """:meth:`_object` of a dict made here (nobody else holds it): fixed in place when
        its values are plain, which spares the copy."""
        if self._plain and check_dict(value, 1, self.limits, self._mask) >= 0:
            return value
        return self._walked(value)

    def _walked(self, value: Any) -> Body:
        converted = self._json(value)
        return converted if isinstance(converted, dict) else {"result": converted}

    # -- parts shared by events and sessions ----------------------------------------------

    def _inputs(self, span: Event) -> Body:
        spec = span.spec
        capture = spec.capture_inputs
        if capture is None:
            capture = self._capture_inputs
        if not capture:  # a privacy switch: explicit inputs (integrations, enrich) obey it too
            return {}
        extra = span.extra
        if span.args is not None:
            inputs = spec.bind(span.args, span.kwargs or {})  # a new dict: ours to change
            if extra and "inputs" in extra:
                inputs.update(extra["inputs"])
            return self._own(inputs) if inputs else {}
        if extra and "inputs" in extra:
            inputs = extra["inputs"]
            return self._object(inputs) if inputs else {}
        return {}

    def _outputs(self, span: Event) -> Body | None:
        spec = span.spec
        capture = spec.capture_outputs
        if capture is None:
            capture = self._capture_outputs
        if not capture:
            return None
        outputs: Body | None = None
        result = span.result
        if result is not NO_RESULT:
            kind = type(result)
            if not span.extra and (  # the commonest outputs: nothing to check
                (kind is int and _INT64_MIN <= result <= _INT64_MAX)
                or kind is bool
                or result is None
            ):
                return {"result": result}
            outputs = {"result": result}
        extra = span.extra
        if extra and "outputs" in extra:
            if extra.get("outputs_replace") or outputs is None:
                return self._object(extra["outputs"])
            outputs = {**outputs, **extra["outputs"]}
        return None if outputs is None else self._own(outputs)  # made here: ours to change

    def _merged(self, span: Event, body: Body) -> None:
        spec = span.spec
        extra = span.extra
        if not extra and spec.config is None and spec.metadata is None:
            return  # the common case: nothing to merge
        extra = extra or {}
        for key in _MERGED:
            base = spec.config if key == "config" else spec.metadata if key == "metadata" else None
            value = extra.get(key)
            if base and value:
                merged: Body | None = {**base, **value}
            else:
                merged = value or base
            if merged:
                body[key] = self._object(merged)

    def _error(self, span: Event, body: Body, *, into_metadata: bool) -> None:
        error = span.error
        if error is None:
            return
        metadata = body.setdefault("metadata", {})
        trace = error.traceback_text()
        message = error.message
        if self._mask:  # searched whole, however long: errors are rare
            trace, message = trace and scrub(trace, whole=True), scrub(message, whole=True)
        if trace:
            metadata["traceback"] = self._json(trace)
        if into_metadata:
            metadata["error"] = self._json(message)
        else:
            body["error"] = self._json(message)

    def _times(self, span: Event, body: Body) -> None:
        body["start_time"] = self.ms(span.start)
        if span.end:
            body["end_time"] = self.ms(span.end)
            body["duration"] = (span.end - span.start) / 1_000_000

    def _text(self, body: Body) -> str:
        """The JSON text of an object this encoder made (template.py's parts)."""
        return _to_json(body).decode()

    def _session_json(self, session: Session) -> str | None:
        """A session's id as a JSON string (None when it cannot be one), for template.py:
        remembered for the last session asked (its events come together)."""
        last, text = self._quoted
        if last is not session:
            session_id = session.session_id
            text = template.quoted(session_id) if type(session_id) is str else None
            self._quoted = (session, text)
        return text

    @property
    def raw_ready(self) -> bool:
        """Whether :func:`.template.event_json` may serve (no redact hook, no ``validate``)."""
        return self._trusting

    # -- bodies ---------------------------------------------------------------------------

    def event(self, span: Event, children: list[int] | None) -> Body:
        """The create-event-batch entry of a finished span."""
        spec = span.spec
        parent = span.parent
        session = span.session
        event_type = spec.event_type
        wire_type = _WIRE_TYPES.get(event_type) if type(event_type) is str else None
        ids = self._ids
        key = span.id
        event_id = ids.get(key)
        if event_id is None:
            event_id = ids[key] = _format_id(key)
        if parent is None or parent is session:
            parent_id = session.session_id
        else:
            parent_id = self._event_id(parent)
        name = spec.name
        source = session.source or self._source
        start, end = span.start, span.end
        body: Body = {
            "event_id": event_id,
            "parent_id": parent_id,
            "event_type": wire_type or event_type,
            "event_name": name,
            "source": source,
        }
        if span.extra or span.args is None:
            body["inputs"] = self._inputs(span)
        else:  # _inputs(), inline: the common case
            capture = spec.capture_inputs
            if capture is None:
                capture = self._capture_inputs
            inputs = spec.bind(span.args, span.kwargs or {}) if capture else None
            body["inputs"] = self._own(inputs) if inputs else {}
        outputs = self._outputs(span)
        if outputs is not None:
            body["outputs"] = outputs
        offset = self._offset_ns  # _times(), inline: this runs for every event
        body["start_time"] = (start + offset) // 1_000_000
        if end:
            body["end_time"] = (end + offset) // 1_000_000
            body["duration"] = (end - start) / 1_000_000
        if span.extra or spec.config is not None or spec.metadata is not None:
            self._merged(span, body)
        if span.error is not None:
            self._error(span, body, into_metadata=False)
        if children:
            body["children_ids"] = self._format_all(children)
        if event_type == "model":
            self.pricer.price(body)
        # What this module did not make itself is checked here (see the module doc).
        if (
            self._trusting
            and wire_type is not None
            and type(name) is str
            and type(source) is str
            and type(parent_id) is str
            and type(start) is int  # (the OTel bridge sets them from another clock)
            and type(end) is int
        ):
            return body
        return self._finish(body, _EVENT)

    def session_create(
        self, session: Session, children: list[int] | None, lost: dict[str, int] | None = None
    ) -> Body:
        """``POST /v1/sessions``; carries the end state too when the session already ended
        (with ``lost``: its events dropped so far, by reason)."""
        session_id, name = session.session_id, session.spec.name
        source = session.source or self._source
        body: Body = {
            "session_id": session_id,
            "session_name": name,
            "source": source,
            "inputs": self._inputs(session),
        }
        self._times(session, body)
        if not session.end:
            body.pop("end_time", None)
            body.pop("duration", None)
        self._merged(session, body)
        self._session_details(session, body)
        if session.end:
            outputs = self._outputs(session)
            if outputs is not None:
                body["outputs"] = outputs
            if children:
                body["children_ids"] = self._format_all(children, keep=True)
            _mark_lost(body, lost)
        # The create has no metrics or feedback: they follow as an update (session_followup).
        body.pop("metrics", None)
        body.pop("feedback", None)
        made = type(session_id) is str and type(name) is str and type(source) is str
        return self._finish(body, _SESSION, made)

    def session_followup(self, session: Session, lost: dict[str, int] | None = None) -> Body | None:
        """The metrics and feedback of a session whose end was folded into its create (and
        ``lost``: its events dropped since, when there are new ones)."""
        body: Body = {}
        self._merged(session, body)
        body = {key: body[key] for key in ("metrics", "feedback") if key in body}
        if lost:
            _mark_lost(body, lost)
        return self._finish(body, _UPDATE, True) if body else None

    def session_end(
        self, session: Session, children: list[int] | None, lost: dict[str, int] | None = None
    ) -> Body:
        """``PUT /v1/events/{session_id}`` with the end state of a session created earlier
        (with ``lost``: its events dropped, by reason)."""
        body: Body = {}
        outputs = self._outputs(session)
        if outputs is not None:
            body["outputs"] = outputs
        body["end_time"] = self.ms(session.end)
        body["duration"] = (session.end - session.start) / 1_000_000
        self._merged(session, body)
        self._session_details(session, body)
        if children:
            body["children_ids"] = self._format_all(children)
        _mark_lost(body, lost)
        return self._finish(body, _UPDATE, True)

    def session_event(
        self, session: Session, children: list[int] | None, lost: dict[str, int] | None = None
    ) -> Body:
        """An ended session as an event of ``POST /v1/events/batch``: the API's session event
        (``event_id`` == ``session_id``, ``event_type`` "session"), with everything its create
        and end would carry, metrics and feedback included (``lost``: its events dropped so
        far, by reason)."""
        session_id, name = session.session_id, session.spec.name
        source = session.source or self._source
        body: Body = {
            "event_id": session_id,
            "session_id": session_id,
            "event_type": "session",
            "event_name": name,
            "source": source,
            "inputs": self._inputs(session),
        }
        outputs = self._outputs(session)
        if outputs is not None:
            body["outputs"] = outputs
        self._times(session, body)
        self._merged(session, body)
        # The error goes where the other routes put it (metadata), so that a session reads
        # the same whichever route delivered it.
        self._session_details(session, body)
        if children:
            body["children_ids"] = self._format_all(children, keep=True)
        _mark_lost(body, lost)
        made = type(session_id) is str and type(name) is str and type(source) is str
        return self._finish(body, _EVENT, made)

    def _session_details(self, session: Session, body: Body) -> None:
        if session.key is not None:
            body.setdefault("metadata", {})["session_key"] = self._json(session.key)
        self._error(session, body, into_metadata=True)

    def update(self, fields: Body) -> Body:
        """``PUT /v1/events/{id}`` for an enrichment that arrived after the event ended."""
        body: Body = {}
        for key, value in fields.items():
            if key in _MERGED or key == "outputs":
                body[key] = self._object(value)
            else:
                log_once(
                    f"update-{key}",
                    30,
                    "honeytrace: %r cannot change after an event ended; ignored",
                    key,
                )
        return self._finish(body, _UPDATE, True)

    def _finish(self, body: Body, model: str, made: bool = False) -> Body:
        """The body, after the ``redact`` hook; validated unless this module alone made it
        (``made``: its foreign values were checked) and ``validate`` is off."""
        redact = self.config.redact
        if redact is None:
            if made and not self.validate:
                return body
        else:
            try:
                redacted = redact(body)
            except Exception as exc:
                # Sending the unredacted event could leak what the hook exists to hide.
                raise InvalidEvent(
                    f"the redact hook raised {type(exc).__name__}: {exc}", "redact_error"
                ) from None
            if redacted is None:
                raise InvalidEvent("the redact hook returned None", "redacted")
            body = redacted
        try:
            _validator(model).validate_python(body)
        except ValidationError as exc:
            raise InvalidEvent(_describe(exc)) from None
        return body


def _to_json(body: Body) -> bytes:
    global _to_json
    from pydantic_core import to_json  # imported on the flusher thread, not at import time

    _to_json = to_json  # type: ignore[assignment]  # later calls go straight to it
    return to_json(body)


def _mark_lost(body: Body, lost: dict[str, int] | None) -> None:
    """Say on a session's own record that some of its events never arrive, and why:
    ``metadata.honeytrace.dropped_events`` = {reason: count}, so the trace reads as incomplete."""
    if lost:
        metadata = body.setdefault("metadata", {})
        metadata["honeytrace"] = {"dropped_events": dict(lost)}


def _describe(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)[:3]
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in errors
    )
