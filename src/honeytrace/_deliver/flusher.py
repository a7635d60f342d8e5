"""The flusher: one daemon thread that turns finished spans into API calls.

Each cycle (every ``flush_interval``, or early when ``batch_size`` events wait, or on a flush
request) it takes everything pending, groups it by session, and per session sends, in order:
the session create (with the end state folded in when the session already ended), the event
batches bounded by count and bytes, and the session's end as an update. No batch is sent for
a session the server has not accepted. Every event taken ends up counted as sent, dropped
(with a reason) or spooled.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from honeytrace._config import Config
from honeytrace._deliver.exporters import (
    AuthError,
    Exporter,
    InvalidEvent,
    RejectedError,
    RetryableError,
    Spooled,
    Unavailable,
)
from honeytrace._errors import internal_error, log_once
from honeytrace._record import buffer as _buffer
from honeytrace._record.buffer import CONTROL, QUEUE, FlushRequest, Update
from honeytrace._record.span import Event, Session

if TYPE_CHECKING:
    from honeytrace._deliver.encode import Encoder

__all__ = ["Flusher"]

_T = TypeVar("_T")

logger = logging.getLogger("honeytrace")

_BATCH_OVERHEAD = 32  # bytes of '{"events":[' ... ']}' around the events
_SENDERS = 4  # sessions delivered at once, when the exporter can (HTTP)


class _SessionState:
    """What the flusher remembers about one session between cycles."""

    __slots__ = ("children", "created", "ended", "events", "rejected", "session")

    def __init__(self, session: Session) -> None:
        self.session = session
        self.created = session.remote  # another service's session: created (and ended) there
        self.rejected = False
        self.ended = False
        self.events: list[Event] = []
        self.children: dict[int, list[int]] = {}


class Flusher:
    """The background delivery thread of one process."""

    def __init__(self, config: Config, make_exporter: Callable[[Config, Flusher], Exporter]):
        self.config = config
        self._make_exporter = make_exporter
        self.exporter: Exporter | None = None
        self.transport: Any = None  # the HTTP transport, when the exporter has one
        self._encoder: Encoder | None = None  # made on the flusher thread (imports pydantic)
        self.interrupt = threading.Event()  # cuts backoff waits short at shutdown
        self.ready = threading.Event()  # set once the thread's imports and exporter are done
        self.hard_deadline: float | None = None
        self._pending_config: Config | None = None
        self._wake = threading.Event()
        self._stopping = False
        self.retired = False  # set when shutdown() gave up waiting for this thread
        self._sessions: dict[int, _SessionState] = {}
        self._blocked: str | None = None  # reason everything is dropped (a rejected key)
        self._losses = 0  # events lost so far (not counting those a redact hook dropped)
        self._waiting: list[tuple[FlushRequest, int, int]] = []  # flush requests in progress
        self.thread = threading.Thread(target=self._run, name="honeytrace-flusher", daemon=True)

    @property
    def encoder(self) -> Encoder:
        """The encoder of the current configuration."""
        if self._encoder is None:
            from honeytrace._deliver.encode import Encoder

            self._encoder = Encoder(self.config)
        return self._encoder

    # -- control, from any thread ---------------------------------------------------------

    def start(self) -> None:
        """Start the thread."""
        start_without_signals(self.thread)

    def wake(self) -> None:
        """Run a cycle now."""
        self._wake.set()

    def reconfigure(self, config: Config) -> None:
        """Apply a new configuration at the start of the next cycle (in the flusher thread)."""
        self._pending_config = config
        self._wake.set()

    def stop(self) -> None:
        """Finish the current cycle, run one more for what is pending, and exit."""
        self._stopping = True
        self._wake.set()

    def retire(self) -> None:
        """Exit as soon as the current request returns, without touching the queue again: a
        shutdown stopped waiting for this thread, and whatever is recorded from now on belongs
        to the next flusher (otherwise this one, waking late, would take it away)."""
        self.retired = True
        self._stopping = True
        self._wake.set()

    # -- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        _suppress_otel_instrumentation()
        try:
            # Do the lazy imports and build the exporter now, once: a fork must not catch this
            # thread half-way through an import (see _runtime._before_fork).
            self.encoder.refresh_clock()
            self._exporter()
            "warm-up".encode("idna")  # getaddrinfo imports this codec lazily on first connect
        except Exception:
            internal_error("flusher start")
        finally:
            self.ready.set()
        while True:
            # Sleep unless a full batch (or more) or a flush request is already waiting: a
            # trickle of events is sent once per interval, a flood back to back.
            if len(QUEUE) < self.config.batch_size and not CONTROL and not self._waiting:
                self._wake.wait(self.config.flush_interval)
            self._wake.clear()
            if self.retired:
                break
            stopping = self._stopping
            try:
                self._cycle()
            except Exception:
                internal_error("flusher cycle")
            if stopping and not QUEUE and not self._waiting:
                break
        if self.exporter is not None:
            try:
                self.exporter.close()
            except Exception:
                internal_error("exporter close")

    def _cycle(self) -> None:
        if self._pending_config is not None:
            self._apply_config(self._pending_config)
        control = [CONTROL.popleft() for _ in range(len(CONTROL))]
        _buffer.woken()
        counters = _buffer.counters
        for item in control:
            if isinstance(item, FlushRequest):
                # Done once everything queued before it has been taken and handled.
                self._waiting.append((item, counters.taken + len(QUEUE), self._losses))
        # Take a bounded share, so that the queue keeps room for new events while this share
        # is delivered: queue + in flight never pass max_queue.
        share = max(4 * self.config.batch_size, 2000)
        taken = [QUEUE.popleft() for _ in range(min(len(QUEUE), share))]
        with counters.lock:
            counters.taken += len(taken)
            counters.in_flight += len(taken)
            _buffer.set_limits(max(0, self.config.max_queue - counters.in_flight))
        self.encoder.refresh_clock()
        try:
            draining = self._replay(force=bool(self._waiting))
            self._deliver(taken, [item for item in control if isinstance(item, Update)])
        finally:
            if not self.retired:
                with counters.lock:
                    _buffer.set_limits(max(0, self.config.max_queue - counters.in_flight))
        waiting = []
        for request, target, losses in self._waiting:
            if counters.taken >= target and not (draining and self._backlog()):
                # (A spool that is being sent, a share per cycle, is waited for; one the server
                # does not take is not: the answer is False at once.)
                request.resolve(self._losses == losses and not self._backlog())
            else:
                waiting.append((request, target, losses))
        self._waiting = waiting

    def _apply_config(self, config: Config) -> None:
        old = self.config
        self._pending_config = None
        self.config = config
        self._encoder = None
        changed = (
            config.exporter != old.exporter
            or config.server_url != old.server_url
            or config.api_key != old.api_key
            or config.local_path != old.local_path
        )
        if changed and self.exporter is not None:
            try:
                self.exporter.close()
            except Exception:
                internal_error("exporter close")
            self.exporter = None
            self._sessions.clear()  # "created" was true of the old destination only
            self._blocked = None

    def _exporter(self) -> Exporter:
        if self.exporter is None:
            self.exporter = self._make_exporter(self.config, self)
            adopted = getattr(self.exporter, "adopted", 0)
            if adopted:  # a spool left by an earlier process: its events are ours to deliver
                counters = _buffer.counters
                with counters.lock:
                    counters.taken += adopted
                    counters.spooled += adopted
        return self.exporter

    def _replay(self, force: bool) -> bool:
        """Send a share of what waits in the spool (an HTTP exporter with a spool); True when
        it made progress."""
        replay = getattr(self._exporter(), "replay", None)
        if replay is None or self._blocked is not None:
            return False
        try:
            result = replay(force)
        except AuthError as exc:
            self._reason(exc, "spool replay")
            return False
        counters = _buffer.counters
        with counters.lock:
            # Files of a run that ended, found by this replay: this process delivers them now.
            counters.taken += result.adopted
            counters.spooled += result.adopted
            counters.sent += result.sent
            counters.spooled -= result.sent
            for reason, count in result.dropped.items():
                counters.spooled -= count
                counters.dropped[reason] = counters.dropped.get(reason, 0) + count
                self._losses += count  # a flush waiting meanwhile did not deliver everything
        if result.adopted:  # taken, but not from the queue: a flush's target moves with it
            self._waiting = [(r, target + result.adopted, n) for r, target, n in self._waiting]
        return bool(result.sent or result.dropped)

    def _backlog(self) -> bool:
        return bool(getattr(self.exporter, "backlog", False))

    # -- delivery -------------------------------------------------------------------------

    def _deliver(self, taken: list[Event], updates: list[Update]) -> None:
        order: dict[int, _SessionState] = {}  # sessions in the order they first appear
        for span in taken:
            session = span.session
            key = id(session)
            state = order.get(key)
            if state is None:
                state = self._sessions.get(key)
                if state is None or state.session is not session:
                    state = self._sessions[key] = _SessionState(session)
                order[key] = state
            if span is session:
                state.ended = True
            else:
                state.events.append(span)
                parent = span.parent if span.parent is not None else session
                if not parent.remote:  # another service's event: its children_ids are not ours
                    state.children.setdefault(parent.id, []).append(span.id)
        states = list(order.values())
        if len(states) > 1 and getattr(self._exporter(), "concurrent", False):
            # Sessions are independent: their requests overlap on several connections, each
            # session's own requests staying in order (create, batches, end) in one sender.
            _fan_out(states, self._deliver_one, _SENDERS)
        else:
            for state in states:
                self._deliver_one(state)
        for state in states:
            state.events = []
            # A remote session never ends here: forget it once no parent waits for its children.
            if state.ended or (state.session.remote and not state.children):
                self._sessions.pop(id(state.session), None)
        for update in updates:
            try:
                body = self.encoder.update(update.fields)
            except InvalidEvent as exc:
                self._reason(exc, "update")
                continue
            self._send_update(update.span, body)

    def _deliver_one(self, state: _SessionState) -> None:
        try:
            self._deliver_session(state)
        except Exception:
            self._lose(len(state.events) + state.ended, "internal_error")
            internal_error("deliver session")

    def _deliver_session(self, state: _SessionState) -> None:
        session = state.session
        if self._blocked is not None or state.rejected:
            self._lose(len(state.events) + state.ended, self._blocked or "rejected")
            return
        exporter = self._exporter()
        folded = False
        if not state.created:
            folded = state.ended
            children = state.children.get(session.id) if folded else None
            try:
                body = self.encoder.session_create(session, children)
                exporter.create_session(body, events=int(folded))
            except Spooled as spooled:
                if not spooled.accepted:
                    self._lose(len(state.events) + state.ended, "spool_full")
                    return
                if folded:
                    self._spooled(1)
            except Exception as exc:
                self._lose(len(state.events) + state.ended, self._reason(exc, "session create"))
                if isinstance(exc, RejectedError | InvalidEvent):
                    state.rejected = True
                return
            else:
                if folded:
                    self._sent(1)
            state.created = True
        if state.events:
            self._send_events(state)
        if not state.ended:
            return
        if folded:
            followup = self.encoder.session_followup(session)
            if followup is not None:
                self._send_update(session, followup)
            return
        try:
            end = self.encoder.session_end(session, state.children.get(session.id))
            exporter.update_event(session.session_id, end, events=1)
        except Spooled as spooled:
            if spooled.accepted:
                self._spooled(1)
            else:
                self._lose(1, "spool_full")
        except Exception as exc:
            self._lose(1, self._reason(exc, "session end"))
        else:
            self._sent(1)

    def _send_events(self, state: _SessionState) -> None:
        config = self.config
        limit = config.max_batch_bytes - _BATCH_OVERHEAD
        batch_size = config.batch_size
        encode = self.encoder.event
        children = state.children
        bodies: list[dict[str, Any]] = []
        raws: list[bytes] = []
        size = 0
        for span in state.events:
            kids = children.pop(span.id, None)
            try:
                body = encode(span, kids)
            except InvalidEvent as exc:
                self._invalid(exc)
                continue
            raw = _to_json(body)
            if len(raw) > limit:
                shrunk = self._shrink(span, kids, limit)
                if shrunk is None:
                    continue
                body, raw = shrunk
            if bodies and (len(bodies) >= batch_size or size + len(raw) + 1 > limit):
                self._send_batch(state.session, bodies, raws)
                bodies, raws, size = [], [], 0
            bodies.append(body)
            raws.append(raw)
            size += len(raw) + 1
        if bodies:
            self._send_batch(state.session, bodies, raws)

    def _invalid(self, exc: InvalidEvent) -> None:
        self._lose(1, exc.reason)
        if exc.reason != "redacted":
            log_once(f"{exc.reason}-event", logging.ERROR, "honeytrace: dropped an event: %s", exc)

    def _shrink(
        self, span: Event, children: list[int] | None, limit: int
    ) -> tuple[dict[str, Any], bytes] | None:
        """An event too big for any batch, with its values cut further rather than lost."""
        factor = 4
        while factor <= 4096:
            try:
                body = self.encoder.shrunk(factor).event(span, children)
            except InvalidEvent as exc:
                self._invalid(exc)
                return None
            raw = _to_json(body)
            if len(raw) <= limit:
                return body, raw
            factor *= 4
        self._lose(1, "too_large")
        return None

    def _send_batch(
        self, session: Session, bodies: list[dict[str, Any]], raws: list[bytes]
    ) -> None:
        if self._blocked is not None:
            self._lose(len(bodies), self._blocked)
            return
        try:
            self._exporter().send_events(session.session_id, bodies, raws)
        except Spooled as spooled:
            if spooled.accepted:
                self._spooled(len(bodies))
            else:
                self._lose(len(bodies), "spool_full")
            return
        except RejectedError as exc:
            if len(bodies) == 1 or not exc.names_events:  # a blanket refusal: no bisecting
                self._lose(len(bodies), exc.reason)
                key = exc.reason if exc.reason in ("tls", "redirect") else f"{exc.reason}-event"
                log_once(key, logging.ERROR, "honeytrace: event rejected: %s", exc)
                return
            # One bad event must not sink its neighbours: halve until it is found.
            middle = len(bodies) // 2
            self._send_batch(session, bodies[:middle], raws[:middle])
            self._send_batch(session, bodies[middle:], raws[middle:])
            return
        except Exception as exc:
            self._lose(len(bodies), self._reason(exc, "event batch"))
            return
        self._sent(len(bodies))

    def _send_update(self, target: Event, body: dict[str, Any] | None) -> None:
        """An update that carries no recorded event (a late enrichment): failures are logged,
        not counted, since the event itself was already accounted for."""
        if self._blocked is not None or not body:
            return
        try:
            self._exporter().update_event(target.event_id, body)
        except Spooled:
            pass
        except Exception as exc:
            self._reason(exc, "update")

    # -- accounting -----------------------------------------------------------------------

    def _reason(self, exc: BaseException, what: str) -> str:
        if isinstance(exc, AuthError):
            if self._blocked is None:
                self._blocked = "auth"
                logger.error(
                    "honeytrace: %s. Check HH_API_KEY (and HH_API_URL). No more events will be "
                    "sent from this process; they are counted in honeytrace.stats().dropped"
                    "['auth'].",
                    exc,
                )
            return "auth"
        if isinstance(exc, RejectedError):
            key = exc.reason if exc.reason in ("tls", "redirect") else f"{exc.reason}-{what}"
            log_once(key, logging.ERROR, "honeytrace: %s rejected: %s", what, exc)
            return exc.reason
        if isinstance(exc, InvalidEvent):
            if exc.reason != "redacted":
                log_once(f"invalid-{what}", logging.ERROR, "honeytrace: %s dropped: %s", what, exc)
            return exc.reason
        if isinstance(exc, Unavailable):
            log_once(f"unavailable-{exc}", logging.ERROR, "%s", exc)
            return exc.reason
        if isinstance(exc, RetryableError):
            log_once(
                f"retry-{what}",
                logging.WARNING,
                "honeytrace: giving up on a %s after retries: %s",
                what,
                exc,
            )
            return "retry_exhausted"
        internal_error(what)
        return "internal_error"

    def _sent(self, count: int) -> None:
        counters = _buffer.counters
        with counters.lock:
            counters.sent += count
            counters.in_flight -= count

    def _spooled(self, count: int) -> None:
        counters = _buffer.counters
        with counters.lock:
            counters.spooled += count
            counters.in_flight -= count

    def _lose(self, count: int, reason: str) -> None:
        if not count:
            return
        counters = _buffer.counters
        with counters.lock:
            if reason != "redacted":  # dropped on purpose by the user's hook: not a failure
                self._losses += count
            counters.dropped[reason] = counters.dropped.get(reason, 0) + count
            counters.in_flight -= count


def _suppress_otel_instrumentation() -> None:
    """Keep the exporter's own HTTP calls out of any OpenTelemetry instrumentation."""
    try:
        from opentelemetry import context

        quiet = context.set_value(context._SUPPRESS_INSTRUMENTATION_KEY, True)
        # Instrumentations of older releases look the flag up by its plain name.
        context.attach(context.set_value("suppress_instrumentation", True, quiet))
    except Exception:  # an API too old or too new: tracing our own calls is only noise
        log_once("otel-suppress", logging.DEBUG, "honeytrace: cannot suppress OTel in flusher")


def _to_json(body: dict[str, Any]) -> bytes:
    global _to_json
    from pydantic_core import to_json  # imported on the flusher thread, not at import time

    _to_json = to_json  # type: ignore[assignment]  # later calls go straight to it
    return to_json(body)


_SIGNALS = frozenset(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name)
)


def start_without_signals(thread: threading.Thread) -> None:
    """Start one of honeytrace's threads with SIGINT and SIGTERM blocked in it, so that the
    kernel hands those signals to the application's threads. Python runs signal handlers in the
    main thread only; a signal that lands on a background thread while the main thread sleeps
    or waits (``time.sleep``, a queue) would wait with it, and Ctrl-C or a SIGTERM handler
    would not act until that call returns."""
    block = getattr(signal, "pthread_sigmask", None)
    if block is None:  # no POSIX signal masks here (Windows): nothing to hand over
        thread.start()
        return
    previous = block(signal.SIG_BLOCK, _SIGNALS)  # the new thread inherits this mask
    try:
        thread.start()
    finally:
        block(signal.SIG_SETMASK, previous)


def _fan_out(items: list[_T], work: Callable[[_T], None], workers: int) -> None:
    """Run ``work`` on every item with up to ``workers`` short-lived daemon threads (not a pool:
    at interpreter exit concurrent.futures refuses new work, and exit is when delivery matters
    most). The first exception is raised here once all threads are done."""
    pending = iter(items)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def run() -> None:
        _suppress_otel_instrumentation()
        while True:
            with lock:
                item = next(pending, None)
            if item is None:
                return
            try:
                work(item)
            except BaseException as exc:  # handed to the flusher thread below
                errors.append(exc)
                return

    threads = [
        threading.Thread(target=run, name="honeytrace-sender", daemon=True)
        for _ in range(min(workers, len(items)))
    ]
    for thread in threads:
        start_without_signals(thread)
    for thread in threads:
        thread.join()  # each request inside is bounded by the transport's deadlines
    if errors:
        raise errors[0]
