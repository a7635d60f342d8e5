"""The flusher: one daemon thread that turns finished spans into API calls.

Each cycle (every ``flush_interval``, or early when ``batch_size`` events wait, or on a flush
request) it takes everything pending and groups it by session. A session that had already
ended when first taken goes whole, many sessions to a request (``POST /v1/events/batch``, see
:mod:`.fresh`). Any other session gets, in order, the session create, the event batches
bounded by count and bytes, and the session's end as an update (see :mod:`.opened`). No batch
is sent for a session the server has not accepted. Every event taken ends up counted as sent,
dropped (with a reason) or spooled.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from honeytrace._config import Config
from honeytrace._deliver import fresh, opened
from honeytrace._deliver.exporters import (
    AuthError,
    Exporter,
    InvalidEvent,
    RetryableError,
    Spooled,
    drop_reason,
)
from honeytrace._deliver.session_state import SESSION_CHILDREN, SessionState
from honeytrace._deliver.threads import (
    fan_out,
    start_without_signals,
    suppress_otel_instrumentation,
)
from honeytrace._errors import internal_error, log_once
from honeytrace._record import buffer as _buffer
from honeytrace._record.buffer import CONTROL, QUEUE, UPDATES, FlushRequest, Update
from honeytrace._record.span import ID_LOW, Event, id_source, recycle

if TYPE_CHECKING:
    from honeytrace._deliver.encode import Encoder

__all__ = ["Flusher"]

_T = TypeVar("_T")

logger = logging.getLogger("honeytrace")

_SENDERS = 4  # sessions delivered at once, when the exporter can (HTTP)
_popleft = type(QUEUE).popleft


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
        self.inline = False  # no thread: cycles run on the thread that flushes (exit)
        self._inline_lock = threading.Lock()
        self._sessions: dict[int, SessionState] = {}
        self._blocked: str | None = None  # reason everything is dropped (a rejected key)
        self._losses = 0  # events lost so far (not counting those a redact hook dropped)
        self._waiting: list[tuple[FlushRequest, int, int]] = []  # flush requests in progress
        # The totals of this process as the flusher started: one retired by a shutdown that
        # returns late must not count into those of a fresh start (a fork's, a test's).
        self.counters = _buffer.counters
        self.thread = threading.Thread(target=self._run, name="honeytrace-flusher", daemon=True)

    @property
    def encoder(self) -> Encoder:
        """The encoder of the current configuration."""
        if self._encoder is None:
            from honeytrace._deliver.encode import Encoder

            self._encoder = Encoder(self.config)
        return self._encoder

    @property
    def session_count(self) -> int:
        """How many sessions the flusher remembers between cycles (open ones, mostly)."""
        return len(self._sessions)

    # -- control, from any thread ---------------------------------------------------------

    def start(self) -> bool:
        """Start the thread; False when no thread can start (interpreter exit, from 3.12 on):
        flushes then run the cycles on their own thread (:meth:`deliver_inline`)."""
        try:
            start_without_signals(self.thread)
        except RuntimeError:
            self.inline = True
            return False
        return True

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

    def deliver_inline(self, request: FlushRequest, deadline: float) -> bool:
        """Run cycles on the calling thread until ``request`` is done or ``deadline`` passes:
        the flusher of a process that can no longer start threads (interpreter exit)."""
        if not self._inline_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return False
        try:
            self.hard_deadline = deadline
            if self.transport is not None:
                self.transport.hard_deadline = deadline
            if not self.ready.is_set():
                self._prepare()
            while time.monotonic() < deadline and not request.wait(0):
                try:
                    self._cycle()
                except Exception:
                    internal_error("flusher cycle")
                if not QUEUE and not CONTROL and not self._waiting:
                    break
            return request.wait(0)
        finally:
            self._inline_lock.release()

    # -- the thread -----------------------------------------------------------------------

    def _prepare(self) -> None:
        suppress_otel_instrumentation()
        try:
            # Do the lazy imports and build the exporter now, once: a fork must not catch this
            # thread half-way through an import (see _runtime._before_fork).
            self.encoder.refresh_clock()
            from honeytrace._deliver.encode import load_models

            load_models()
            self._exporter()
            "warm-up".encode("idna")  # getaddrinfo imports this codec lazily on first connect
        except Exception:
            internal_error("flusher start")
        finally:
            self.ready.set()

    def _run(self) -> None:
        self._prepare()
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
        # Flush requests first, then late enrichments, then events: whatever was recorded
        # before a request is taken no later than the cycle that resolves it.
        # Re-armed before the snapshots: whatever arrives after them wakes the next cycle.
        _buffer.woken()
        requests = [CONTROL.popleft() for _ in range(len(CONTROL))]
        updates = [UPDATES.popleft() for _ in range(len(UPDATES))]
        counters = self.counters
        for request in requests:
            # Done once everything queued before it has been taken and handled.
            self._waiting.append((request, counters.taken + len(QUEUE), self._losses))
        # Take a bounded share, so that the queue keeps room for new events while this share
        # is delivered: queue + in flight never pass max_queue.
        share = max(4 * self.config.batch_size, 2000)
        # (deque.popleft mapped over the count: the loop runs in C)
        taken = list(map(_popleft, itertools.repeat(QUEUE, min(len(QUEUE), share))))
        with counters.lock:
            counters.taken += len(taken)
            counters.in_flight += len(taken)
            self._set_room()
        self.encoder.refresh_clock()
        try:
            draining = self._replay(force=bool(self._waiting))
            self._deliver(taken, updates)
        finally:
            if not self.retired:
                with counters.lock:
                    self._set_room()
            measured = _buffer.MEASURED
            if measured:  # some events were measured on their way in (the loop runs in C)
                sizes = map(measured.pop, map(id, taken), itertools.repeat(0))
                _buffer.released(sum(sizes))
        recycle(taken)  # the delivered events no one else holds become blanks for the wrappers
        settled = self._drained(counters.taken)
        waiting = []
        for request, target, losses in self._waiting:
            if counters.taken >= target and settled and not (draining and self._backlog()):
                # (A spool that is being sent, a share per cycle, is waited for; one the server
                # does not take is not: the answer is False at once.)
                request.resolve(self._losses == losses and not self._backlog())
            else:
                waiting.append((request, target, losses))
        self._waiting = waiting

    def _drained(self, taken: int) -> bool:
        """Before a flush request is answered: an exporter that commits on a thread of its own
        (local: ``drain``) has committed and accounted everything handed to it. Waits only when
        some request is due, a second at most per cycle (the cycle after tries again)."""
        drain = getattr(self.exporter, "drain", None)
        if drain is None or not any(taken >= target for _, target, _ in self._waiting):
            return True
        timeout = 1.0
        if self.hard_deadline is not None:
            timeout = max(0.0, min(timeout, self.hard_deadline - time.monotonic()))
        return bool(drain(timeout))

    def _set_room(self) -> None:
        in_flight = max(0, self.counters.in_flight)  # never more room than max_queue
        _buffer.set_limits(max(0, self.config.max_queue - in_flight))

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
                counters = self.counters
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
        counters = self.counters
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

    def _deliver(self, taken: list[Event], updates: list[Update]) -> None:  # noqa: PLR0915
        order: dict[int, SessionState] = {}  # sessions in the order they first appear
        pace = _buffer.pace
        # Most events get their id here, as they are grouped (assign_ids, inline): the lock
        # held per slice of 32 events, not per event.
        id_lock, id_high, next_id = id_source()
        sessions = self._sessions
        before: dict[int, int] = {}  # the length of each session's event list before this cycle
        # What is looked up per session is kept while its events come in a row (they mostly
        # do): the state, its event list's append, and where its direct children go.
        last: Any = None
        state: Any = None
        add_event: Any = None
        direct: list[int] | None = None
        for first in range(0, len(taken), 32):
            pace()  # gives way to a computing application thread (see buffer.pace)
            id_lock.acquire()
            try:
                for span in taken[first : first + 32]:
                    session = span.session
                    if session is not last:
                        last = session
                        key = id(session)
                        state = order.get(key)
                        if state is None:
                            state = sessions.get(key)
                            if state is None or state.session is not session:
                                state = sessions[key] = SessionState(session)
                            order[key] = state
                            before[key] = len(state.events)
                        add_event = state.events.append
                        # (another service's session: its direct children are not ours to list)
                        direct = None if session.remote else state.direct
                    if span is session:
                        state.outstanding += 1
                        state.ended = True
                        continue
                    add_event(span)  # (counted into outstanding below, per session)
                    parent = span.parent
                    own = span._id
                    if own is None:
                        own = span._id = id_high | (next_id() & ID_LOW)
                    if parent is None or parent is session:
                        if direct is not None:
                            # SessionState.add_direct, inline while there is room
                            if len(direct) < SESSION_CHILDREN:
                                direct.append(own)
                            else:
                                state.add_direct(own)
                                direct = state.direct
                    elif not parent.remote:  # another service's: its children_ids are not ours
                        state.children.setdefault(parent.id, []).append(own)
            finally:
                id_lock.release()
        for key, state in order.items():
            state.outstanding += len(state.events) - before[key]
        states = list(order.values())
        exporter = self._exporter()
        work: Iterable[SessionState | fresh.Lane] = states
        whole: list[SessionState] = []
        fallback: list[SessionState] = []
        if getattr(exporter, "create_events", None) is not None and self._blocked is None:
            # Sessions that ended before their first delivery go many to a request, as
            # session events with their events (see fresh.py); the others the create path.
            whole = [s for s in states if s.ended and not s.created and not s.rejected]
            if whole:
                keep = {id(state) for state in whole}
                rest = [state for state in states if id(state) not in keep]
                work = itertools.chain(fresh.lanes(self, whole, fallback), rest)
        if len(states) > 1 and getattr(exporter, "concurrent", False):
            # Sessions are independent: their requests overlap on several connections, each
            # session's own requests staying in order (create, batches, end) in one sender;
            # lanes of whole sessions are encoded by whichever sender is free.
            fan_out(work, self._deliver_item, _SENDERS, count=len(states))
        else:
            for item in work:
                self._deliver_item(item)
        if whole:
            fresh.settle(self, whole, fallback)
        for state in states:
            state.events = []
            session = state.session
            if state.ended:
                session.settled = True
            # Forget a session once nothing more can come for it: it ended (or its end found
            # no room), or it is another service's with no parent waiting for its children.
            if state.ended or session.end_dropped or (session.remote and not state.children):
                self._sessions.pop(id(session), None)
        if updates:
            self._send_updates(updates)

    def _deliver_item(self, item: SessionState | fresh.Lane) -> None:
        if isinstance(item, SessionState):
            self._deliver_one(item)
        else:
            fresh.send_lane(self, item)

    def _deliver_one(self, state: SessionState) -> None:
        try:
            # An exporter with a writer thread of its own (local) takes the session without
            # the create path's waits for each answer.
            deliver_open = getattr(self.exporter, "deliver_open", None)
            if deliver_open is not None:
                deliver_open(self, state)
            else:
                opened.deliver(self, state)
        except Exception:
            # Only what this session has not yet counted: a failure after its events went
            # out (a follow-up, say) must not count them again.
            self._lose(state.outstanding, "internal_error", state)
            internal_error("deliver session")

    def _invalid(self, exc: InvalidEvent, state: SessionState) -> None:
        self._lose(1, exc.reason, state)
        if exc.reason != "redacted":
            log_once(f"{exc.reason}-event", logging.ERROR, "honeytrace: dropped an event: %s", exc)

    def _send_updates(self, updates: list[Update]) -> None:
        """Late enrichments, coalesced into one update per event. Once one has run out of
        retries, the rest of this cycle's are counted as lost rather than each waiting out
        the whole retry deadline again."""
        merged: dict[int, Update] = {}
        for update in updates:
            known = merged.get(id(update.span))
            if known is None:
                merged[id(update.span)] = Update(update.span, dict(update.fields))
                continue
            fields = known.fields
            for key, value in update.fields.items():
                old = fields.get(key)
                both = type(old) is dict and type(value) is dict
                fields[key] = {**old, **value} if both else value  # type: ignore[dict-item]
        pending = list(merged.values())
        for index, update in enumerate(pending):
            if self._blocked is not None:
                self._updates_lost(len(pending) - index)
                return
            try:
                body = self.encoder.update(update.fields)
            except InvalidEvent as exc:
                self._reason(exc, "update")
                self._updates_lost(1)
                continue
            outcome = self._send_update(update.span, body)
            if outcome == "down":
                self._updates_lost(len(pending) - index)
                return
            if outcome == "failed":
                self._updates_lost(1)

    def _updates_lost(self, count: int) -> None:
        if count:
            self.counters.add("updates_lost", count)

    def _send_update(self, target: Event, body: dict[str, Any] | None) -> str:
        """An update that carries no recorded event (a late enrichment, a follow-up):
        failures are logged, not counted as events, since the event itself was already
        accounted for. ``"sent"`` (or spooled), ``"failed"``, or ``"down"`` when it ran out
        of retries (the server is unreachable now)."""
        if not body:
            return "sent"
        if self._blocked is not None:
            return "failed"
        try:
            self._exporter().update_event(target.event_id, body)
        except Spooled as spooled:
            return "sent" if spooled.accepted else "failed"
        except Exception as exc:
            self._reason(exc, "update")
            return "down" if isinstance(exc, RetryableError) else "failed"
        return "sent"

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
        return drop_reason(exc, what)

    def _sent(self, count: int, state: SessionState) -> None:
        counters = self.counters
        with counters.lock:
            counters.sent += count
            counters.in_flight -= count
        state.outstanding -= count

    def _spooled(self, count: int, state: SessionState) -> None:
        counters = self.counters
        with counters.lock:
            counters.spooled += count
            counters.in_flight -= count
        state.outstanding -= count

    def _lose(self, count: int, reason: str, state: SessionState) -> None:
        if count <= 0:
            return
        counters = self.counters
        with counters.lock:
            if reason != "redacted":  # dropped on purpose by the user's hook: not a failure
                self._losses += count
            counters.dropped[reason] = counters.dropped.get(reason, 0) + count
            counters.in_flight -= count
        state.outstanding -= count
        if reason != "redacted":  # its session's record says it is incomplete
            state.lost[reason] = state.lost.get(reason, 0) + count

    # -- what fresh.py (sessions delivered whole) shares ------------------------------------

    @property
    def blocked(self) -> str | None:
        """Why everything is dropped now (a rejected key), or None."""
        return self._blocked

    exporter_now = _exporter
    invalid = _invalid
    lose = _lose
    reason = _reason
    send_update = _send_update
    sent = _sent
    spooled = _spooled
