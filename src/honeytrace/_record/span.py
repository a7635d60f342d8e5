"""The live event: its timing, nesting, enrichment, and the record it becomes when it ends.

A :class:`Span` is created on the hot path, so it holds raw material only (the call's
arguments, the return value, the exception); names, JSON and IDs are made from it later by the
flusher (``_deliver.encode``). A :class:`Session` is the root span of a trace: HoneyHive
models a session as an event whose ``event_id`` is the ``session_id``.

Both are also the objects returned by ``honeytrace.span()`` and ``honeytrace.session()``, usable
as ``with`` and ``async with``.
"""

from __future__ import annotations

import os
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable
from contextvars import Token
from itertools import count
from random import getrandbits
from sys import getrefcount
from time import perf_counter_ns
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from honeytrace._errors import guarded, internal_error
from honeytrace._record import hooks, state
from honeytrace._record.context import current, reset_current, set_current
from honeytrace._record.signature import Spec

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "ENRICH_FIELDS",
    "ID_LOW",
    "SPARE",
    "SPARE_LISTS",
    "ErrorInfo",
    "Event",
    "Session",
    "Span",
    "assign_ids",
    "format_id",
    "id_source",
    "new_id",
    "recycle",
]

ENRICH_FIELDS = (
    "metadata",
    "metrics",
    "feedback",
    "config",
    "outputs",
    "user_properties",
    "inputs",
)

_VERSION_MASK = ~(0xF000 << 64) & ~(0xC000 << 48)
_VERSION_BITS = (0x4000 << 64) | (0x8000 << 48)
_NAMESPACE = uuid.UUID("6f1c9a52-3c1e-4b0a-9d7e-2f5b8c4e1a07")
_id_lock = threading.RLock()  # reentrant: a signal handler may ask for an id meanwhile
NO_RESULT: Any = object()


def new_id() -> int:
    """A fresh 128-bit id; shaped into a UUIDv4 only when formatted.

    A random 64-bit prefix drawn once per process (again in a forked child), then a counter:
    the ids of one process sort next to each other, so a store's id index takes each insert on
    the page the previous one dirtied instead of on a random page (a quarter of the embedded
    store's CPU per event; a third of the bytes written to its log). Formatted, it is still a
    lower-case UUIDv4 string (version and variant bits are forced over prefix and counter)."""
    return _id_high | (next(_id_counter) & _ID_LOW)


_ID_LOW = ID_LOW = (1 << 62) - 1  # the variant bits above the counter are forced when formatted
_id_high = 0
_id_counter = count(1)


def _draw_id_prefix() -> None:
    global _id_high, _id_counter  # per-process state: drawn at import and in a forked child
    _id_high = int.from_bytes(os.urandom(8), "big") << 64
    _id_counter = count(1)


_draw_id_prefix()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_draw_id_prefix)


def assign_ids(spans: Iterable[Event]) -> None:
    """Give each of ``spans`` that has no id yet its :func:`new_id`, taking the lock once for
    all (the flusher, for the events it took: most get their id there)."""
    with _id_lock:
        high, counter = _id_high, _id_counter
        for span in spans:
            if span._id is None:
                span._id = high | (next(counter) & _ID_LOW)


def id_source() -> tuple[Any, int, Callable[[], int]]:
    """What :func:`assign_ids` assigns with, for a caller that gives ids as it goes through
    its events (the flusher's grouping loop): the lock to hold meanwhile (``Event.id`` may
    be asked at the same time), the process's id prefix, and the counter's next(). Ids are
    ``prefix | (next() & ID_LOW)``."""
    return _id_lock, _id_high, _id_counter.__next__


def format_id(value: int) -> str:
    """The UUIDv4 string of an id (version and variant bits forced)."""
    text = f"{(value & _VERSION_MASK) | _VERSION_BITS:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class ErrorInfo:
    """An exception reduced to what an event needs, without keeping its frames alive."""

    __slots__ = ("details", "message")

    def __init__(self, message: str, details: traceback.TracebackException | str | None) -> None:
        self.message = message
        self.details = details

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorInfo:
        """Capture type, message and stack now; source lines are read later, off this thread."""
        try:
            details: traceback.TracebackException | str | None = traceback.TracebackException(
                type(exc), exc, exc.__traceback__, lookup_lines=False, compact=True
            )
        except Exception:  # a broken __str__ or exotic traceback: keep the message only
            details = None
        return cls(f"{type(exc).__name__}: {_safe_message(exc)}", details)

    def traceback_text(self) -> str | None:
        """The formatted traceback, or ``None`` when there is none."""
        if isinstance(self.details, traceback.TracebackException):
            return "".join(self.details.format())
        return self.details


def _safe_message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<unprintable {type(exc).__name__}>"


class Event:
    """One open or finished event, as the hot path makes it (decorated calls)."""

    __slots__ = (
        "_id",
        "args",
        "end",
        "error",
        "extra",
        "kwargs",
        "parent",
        "result",
        "session",
        "spec",
        "start",
    )

    session: Session
    remote: ClassVar[bool] = False
    """True for the stand-ins of another service's session and event (honeytrace.otel.propagation):
    they are never created, ended or sent from this process."""

    def __init__(
        self,
        spec: Spec,
        parent: Event | None,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.spec = spec
        self.parent = parent
        if parent is not None:
            self.session = parent.session
        self.args = args
        self.kwargs = kwargs
        self._id: int | None = None
        self.extra: dict[str, Any] | None = None
        self.error: ErrorInfo | None = None
        self.result: Any = NO_RESULT
        self.end = 0
        self.start = perf_counter_ns()

    # -- identity -------------------------------------------------------------------------

    @property
    def id(self) -> int:
        """The numeric id, assigned on first use (under a lock: two threads may ask at once)."""
        value = self._id
        if value is None:
            with _id_lock:
                value = self._id
                if value is None:
                    value = self._id = new_id()
        return value

    @property
    def event_id(self) -> str:
        """This event's UUID string."""
        return format_id(self.id)

    @property
    def name(self) -> str:
        """The event name."""
        return self.spec.name

    # -- enrichment (user threads) --------------------------------------------------------

    @guarded
    def enrich(
        self,
        metadata: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        feedback: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        outputs: Any = None,
        user_properties: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
    ) -> None:
        """Merge fields into this event; after it ended, the merge is sent as an update."""
        given = {
            key: value
            for key, value in (
                ("metadata", metadata),
                ("metrics", metrics),
                ("feedback", feedback),
                ("config", config),
                ("outputs", outputs),
                ("user_properties", user_properties),
                ("inputs", inputs),
            )
            if value is not None
        }
        if not given:
            return
        if self.end:
            state.record_update(self, given)
            return
        extra = self.extra
        if extra is None:
            extra = self.extra = {}
        for key, value in given.items():
            fields = _as_object(value)
            current_value = extra.get(key)
            extra[key] = {**current_value, **fields} if current_value else dict(fields)

    @guarded
    def set_outputs(self, value: Any) -> None:
        """Replace this event's outputs (a dict is used as is, anything else as ``result``)."""
        if self.end:
            state.record_update(self, {"outputs": value})
            return
        if self.extra is None:
            self.extra = {}
        self.extra["outputs"] = _as_object(value)
        self.extra["outputs_replace"] = True

    @guarded
    def set_error(self, error: BaseException | str) -> None:
        """Mark this event as failed, with an exception or a message."""
        if isinstance(error, BaseException):
            self.error = ErrorInfo.from_exception(error)
        else:
            self.error = ErrorInfo(str(error), None)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec.event_type} {self.spec.name!r}>"


# -- reuse -----------------------------------------------------------------------------------

SPARE: list[Event] = []
"""Blank events (every field at its start value, no references held) that the wrappers take
instead of making a new one; the flusher puts back the delivered events that nothing else
holds (:func:`recycle`). A reused event costs the calling thread neither an allocation nor
the stores of its constant fields, and adds nothing for the cycle collector to scan: a fresh
event per call was a tenth of a traced call's cost in a burst, mostly in the collections that
its allocation triggers (CPython's own free lists work the same way)."""

spare_limit = 8192
"""At most this many blank events are kept (128 bytes each: about 1 MB), and as many empty
lists: a burst of traced calls up to that size, once delivered, is recorded again without
allocating."""

SPARE_LISTS: list[list[Any]] = []
"""Empty lists for the generator wrapper's yielded items, kept the same way (a reused event's
list of outputs: it would otherwise be a second new object per generator call for the cycle
collector)."""


def _counted_references() -> tuple[int, int]:
    """What getrefcount reports in recycle() for an event held by nothing else (the list,
    the loop variable) and for a list held only by a local, measured on probes in the same
    shapes: interpreters differ in whether the call's own argument counts."""
    for probe in [object()]:
        alone = [0]
        return getrefcount(probe), getrefcount(alone)
    raise AssertionError  # pragma: no cover - the loop body returns


_HELD, _HELD_LIST = _counted_references()


def blank() -> Event:
    """A new event with every field at its start value, as :data:`SPARE` holds them."""
    event = Event.__new__(Event)
    event.spec = event.parent = event.session = event.args = event.kwargs = None  # type: ignore[assignment]
    event._id = event.extra = event.error = None
    event.result = NO_RESULT
    event.end = event.start = 0
    return event


def recycle(spans: list[Event]) -> None:
    """The flusher is done with ``spans``: keep the plain events that no one else holds (no
    parent's child, no late update, no reference in the application) as blanks for reuse.

    The reference count says that nothing else can reach the event, so that no one ever sees
    it change; subclasses (spans, sessions, remote stand-ins) are never reused."""
    spare = SPARE
    room = spare_limit - len(spare)
    if room <= 0:
        return
    lists = SPARE_LISTS
    held = getrefcount
    for span in spans:
        if type(span) is Event and held(span) == _HELD:
            result = span.result
            span.spec = span.parent = span.session = span.args = span.kwargs = None  # type: ignore[assignment]
            span._id = span.extra = span.error = None
            span.result = NO_RESULT
            span.end = span.start = 0  # start last in the wrappers: 0 means not yet begun
            spare.append(span)
            # A generator's items, when nothing but the local above holds them.
            if type(result) is list and held(result) == _HELD_LIST and len(lists) < spare_limit:
                result.clear()
                lists.append(result)
            room -= 1
            if not room:
                return


def _forget_spare() -> None:
    SPARE.clear()  # a forked child starts with none (they are the parent's memory)
    SPARE_LISTS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_spare)


class Span(Event):
    """An event around a block: what ``honeytrace.span()`` returns (``with``/``async with``)."""

    __slots__ = ("_implicit", "_observed", "_token")

    def __init__(
        self,
        spec: Spec,
        parent: Event | None,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(spec, parent, args, kwargs)
        self._token: Token[Event | None] | None = None
        self._implicit: Session | None = None
        self._observed: Any = None

    # -- context manager ------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close(exc)

    async def __aenter__(self) -> Self:
        self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close(exc)

    @guarded
    def begin(self, parent: Event | None = None) -> None:
        """Start the event without making it the current one (for work that outlives the block
        that starts it, like a stream read later); end it with :meth:`finish`.

        ``parent``, an open span or session, nests the event under it rather than under the
        current event: for frameworks that report their own run tree through callbacks, which
        may run on other threads or tasks than the work itself."""
        if parent is not None and self.parent is None:
            self.parent = parent
            self.session = parent.session
        if self.parent is None:
            parent = current()
            if parent is None:
                implicit = self._implicit = state.implicit_session(self.spec.name)
                implicit.begin()
                parent = implicit
            self.parent = parent
            self.session = parent.session
        self.start = perf_counter_ns()

    @guarded
    def finish(self, error: BaseException | str | None = None) -> None:
        """End the event (once; later calls do nothing) and hand it to the flusher."""
        if self.end:
            return
        self.end = perf_counter_ns()
        if error is not None and self.error is None:
            self.set_error(error)
        state.record(self)
        implicit = self._implicit
        if implicit is not None:
            self._implicit = None
            implicit.finish(None)
        observer = hooks.active
        if observer is not None:
            hooks.leave(observer, self, self._observed, True)

    def _open(self) -> None:
        self.begin()
        try:
            self._token = set_current(self)
            observer = hooks.active
            if observer is not None:
                self._observed = hooks.enter(observer, self)
        except Exception:
            internal_error("opening a span")

    def _close(self, exc: BaseException | None) -> None:
        try:
            token = self._token
            if token is not None:
                self._token = None
                reset_current(token, self.parent)
        except Exception:
            internal_error("closing a span")
        self.finish(exc)


class Session(Span):
    """The root of a trace; what ``honeytrace.session()`` returns."""

    __slots__ = (
        "_session_id",
        "begun",
        "end_dropped",
        "flush_on_exit",
        "key",
        "lost_bytes",
        "lost_full",
        "sampled",
        "settled",
        "source",
    )

    def __init__(
        self,
        spec: Spec,
        *,
        session_id: str | None = None,
        source: str | None = None,
        sampled: bool = True,
    ) -> None:
        super().__init__(spec, None)
        self.session = self
        self.source = source
        self.sampled = sampled
        self.key: str | None = None
        self.flush_on_exit = False
        self.begun = False
        # Its events dropped on the way in, counted lock-free (next() is one C call), so that
        # its own record can say it is incomplete.
        self.lost_full = count()
        self.lost_bytes = count()
        self.end_dropped = False  # its end found no room: the flusher must not wait for it
        self.settled = False  # its end was delivered (or counted): the flusher forgot it
        if session_id is None:
            # Random, not new_id(): a session's id is what people see shortened (its first
            # 8 characters in the viewer and `honeytrace show`) and search by prefix.
            self._id = getrandbits(128)
            self._session_id: str | None = None
        else:
            self._session_id, self.key = normalize_session_id(session_id)
            self._id = uuid.UUID(self._session_id).int

    @property
    def session_id(self) -> str:
        """This session's UUID string (also its ``event_id``)."""
        if self._session_id is None:
            self._session_id = format_id(self.id)
        return self._session_id

    @property
    def event_id(self) -> str:
        """Equal to :attr:`session_id`: a session is itself an event."""
        return self.session_id

    def begin(self, parent: Event | None = None) -> None:
        """Start the clock and count as open, without touching the context (a session is a
        root: it has no ``parent``)."""
        self.start = perf_counter_ns()
        self.begun = True
        try:
            state.host.session_opened()
        except Exception:
            internal_error("opening a session")

    def finish(self, error: BaseException | str | None = None) -> None:
        """Stop the clock and hand the session to the flusher (once)."""
        if self.end:
            return
        self.end = perf_counter_ns()
        try:
            if error is not None and self.error is None:
                self.set_error(error)
            state.session_closed(self)
            observer = hooks.active
            if observer is not None:
                hooks.leave(observer, self, self._observed, True)
        except Exception:
            internal_error("closing a session")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close(exc)
        if self.flush_on_exit:
            await state.host.flush_async()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close(exc)
        if self.flush_on_exit:
            state.host.flush_now()


def normalize_session_id(value: str) -> tuple[str, str | None]:
    """A UUID string stays itself; any other key maps to a stable UUIDv5, kept as the key."""
    text = str(value)
    try:
        return str(uuid.UUID(text)), None
    except ValueError:
        return str(uuid.uuid5(_NAMESPACE, text)), text


def _as_object(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    return {"result": value}
