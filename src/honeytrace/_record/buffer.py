"""The pending buffer between the application's threads and the flusher, and its accounting.

Finished events (spans and ended sessions) go into one bounded FIFO; appending is O(1), takes
no lock, and never blocks. What does not fit is counted, never lost silently: under
``dropped["queue_full"]`` past ``max_queue`` events, under ``dropped["queue_bytes"]`` past
``max_queue_bytes`` (an estimate), both in the process's totals and on the event's own session,
whose record then says it is incomplete. A session's own record is never dropped for a flood of
its events: sessions have room of their own on top of the events' bound.

Updates to events that already ended go into a second bounded queue (counted when full), and
flush requests into a third; the flusher reads both before the events, so that everything
recorded before a request is handled with it.

No lock is taken on an application thread: a signal handler or a ``__del__`` that makes a
traced call while its thread is inside this module must not deadlock. The counts the
application threads write are :class:`itertools.count` objects, whose ``next()`` is one C call
(atomic under the GIL).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from random import getrandbits
from time import perf_counter, sleep
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from honeytrace._record.span import Event, Session

__all__ = [
    "CONTROL",
    "MEASURED",
    "QUEUE",
    "UPDATES",
    "Counters",
    "FlushRequest",
    "Stats",
    "Update",
    "count_value",
    "counters",
    "record",
    "record_session",
    "record_update",
]

QUEUE: deque[Event] = deque()
"""Finished events, oldest first. Never replaced (the hot path holds a reference to it)."""

CONTROL: deque[FlushRequest] = deque()
"""Flush requests, handled once everything recorded before them is."""

UPDATES: deque[Update] = deque()
"""Enrichments of events that already ended, bounded by :data:`max_updates`."""


class Update:
    """Fields to merge into an event that already ended (sent as ``PUT /v1/events/{id}``)."""

    __slots__ = ("fields", "span")

    def __init__(self, span: Event, fields: dict[str, Any]) -> None:
        self.span = span
        self.fields = fields


class FlushRequest:
    """Set by the flusher once everything recorded before it was handled."""

    __slots__ = ("_done", "delivered", "on_done")

    def __init__(self, on_done: Callable[[bool], None] | None = None) -> None:
        self._done = threading.Event()
        self.delivered = False
        self.on_done = on_done  # called on the flusher thread (flush_async wakes its loop)

    def resolve(self, delivered: bool) -> None:
        """Wake the waiter."""
        self.delivered = delivered
        self._done.set()
        if self.on_done is not None:
            self.on_done(delivered)

    def wait(self, timeout: float) -> bool:
        """True when resolved in time and everything was delivered."""
        return self._done.wait(timeout) and self.delivered


@dataclass(frozen=True)
class Stats:
    """What happened to the events recorded in this process (``honeytrace.stats()``).

    At any quiet moment ``recorded == sent + dropped_total + spooled + pending``.
    ``updates_dropped`` counts late enrichments (fields set on an event after it ended) that
    were not delivered; they are not events, so they are outside that sum.
    """

    recorded: int
    sent: int
    pending: int
    retried: int
    spooled: int
    dropped: dict[str, int] = field(default_factory=dict)
    internal_errors: int = 0
    updates_dropped: int = 0

    @property
    def dropped_total(self) -> int:
        """All dropped events, whatever the reason."""
        return sum(self.dropped.values())


def count_value(counter: itertools.count[int]) -> int:
    """The next value of an :class:`itertools.count`, read without advancing it: its repr is
    ``count(N)`` (``__reduce__`` is deprecated from 3.12 on)."""
    return int(repr(counter)[6:-1])


class Counters:
    """Running totals. The flusher writes the plain ones under :attr:`lock`; the application
    threads write only the ``itertools.count`` ones, without any lock."""

    def __init__(self) -> None:
        # Reentrant: stats() called from a signal handler that interrupted stats() goes on.
        self.lock = threading.RLock()
        self.taken = 0  # events moved from QUEUE into the flusher
        self.in_flight = 0  # taken but not yet sent, dropped or spooled
        self.sent = 0
        self.retried = 0
        self.spooled = 0
        self.dropped: dict[str, int] = {}  # reasons the flusher counts
        self.queue_full = itertools.count()  # dropped on the way in (app threads)
        self.queue_bytes = itertools.count()
        self.updates_dropped = itertools.count()
        self.updates_lost = 0  # late enrichments the flusher gave up on

    def drop(self, reason: str, count: int = 1) -> None:
        """Count events that will never be delivered, under a reason (flusher side)."""
        if count:
            with self.lock:
                self.dropped[reason] = self.dropped.get(reason, 0) + count

    def add(self, name: str, count: int = 1) -> None:
        """Add to one of the integer totals."""
        with self.lock:
            setattr(self, name, getattr(self, name) + count)

    def entry_drops(self) -> dict[str, int]:
        """Events dropped on the way in, by reason (only the reasons that happened)."""
        found = {"queue_full": count_value(self.queue_full)}
        found["queue_bytes"] = count_value(self.queue_bytes)
        return {reason: value for reason, value in found.items() if value}

    def all_dropped(self) -> dict[str, int]:
        """Every dropped event, by reason."""
        dropped = dict(self.dropped)
        for reason, value in self.entry_drops().items():
            dropped[reason] = dropped.get(reason, 0) + value
        return dropped


counters = Counters()

limit = 100_000
"""Room for pending events: ``max_queue`` minus what the flusher is holding."""

session_room = 25_000
"""Extra room that only session records may use, so that a flood of events never drops the
record of the session they belong to (O(1) per session)."""

max_bytes = 64 * 1024 * 1024
"""``max_queue_bytes``: estimated bytes of measured pending events."""

pending_bytes = 0
"""Estimated bytes of the events measured on the way in and not yet delivered. Written by the
application threads (add) and the flusher (subtract) without a lock: a lost update among
racing application threads errs by one event's estimate, never blocks anyone."""

max_updates = 10_000
"""Room for late enrichments waiting for the flusher."""

_STRIDE_BITS = 4  # below half the byte bound, one event in 8 on average is measured (weighted)
_stride = 1  # events the last measured one stands for
batch_size = 500
fast_limit = batch_size - 1
"""Below this many pending events, an append needs neither a drop, a measure nor a wake-up: the
wrappers then append to :data:`QUEUE` themselves instead of calling :func:`record`.
:func:`record` moves it on to the next pending count at which it has something to do (the
next sampled measure, at most ``limit``), so that a backlog costs the calling threads one
:func:`record` call per sampled event, not one per event; the flusher's :func:`woken` and
:func:`set_limits` put it back."""
_wake_requested = False


def set_limits(
    room: int | None = None,
    batch: int | None = None,
    *,
    sessions: int | None = None,
    bytes_: int | None = None,
    updates: int | None = None,
) -> None:
    """Set the bounds (and with them :data:`fast_limit`)."""
    global limit, batch_size, fast_limit, session_room, max_bytes, max_updates
    if room is not None:
        limit = room
    if batch is not None:
        batch_size = batch
    if sessions is not None:
        session_room = sessions
    if bytes_ is not None:
        max_bytes = bytes_
    if updates is not None:
        max_updates = updates
    fast_limit = min(limit, batch_size - 1)


def _no_flusher() -> None:
    pass


wake: Callable[[], None] = _no_flusher
"""Wakes the flusher early; installed by the runtime when the flusher starts."""


def record(span: Event) -> None:
    """Hand a finished event to the flusher (any thread; O(1); never blocks; no lock)."""
    global _wake_requested, pending_bytes, fast_limit, _stride
    queue = QUEUE
    pending = len(queue)
    if pending >= limit:
        counters.queue_full.__next__()
        span.session.lost_full.__next__()
        fast_limit = 0  # every event comes here until the flusher makes room (set_limits)
        return
    if pending_bytes >= max_bytes:
        counters.queue_bytes.__next__()
        span.session.lost_bytes.__next__()
        fast_limit = 0
        return
    # Measured: from half the byte bound on, every event (the bound is then near: precision
    # matters); below it, one event at a random stride of 1 to 16 (8 on average), weighted by
    # the events it stands for. The stride is random so that an app alternating between small
    # and large calls in a fixed pattern cannot keep its large ones out of the estimate.
    if pending_bytes >= max_bytes >> 1:
        size = estimate(span)
        next_at = pending + 1
    else:
        size = estimate(span) * _stride
        _stride = getrandbits(_STRIDE_BITS) + 1
        next_at = pending + _stride
    MEASURED[id(span)] = size
    pending_bytes += size
    queue.append(span)
    if pending + 1 >= batch_size and not _wake_requested:
        _wake_requested = True
        _pace.woken_at = perf_counter()  # once a cycle: see pace()
        wake()
    # Below the wake-up at batch_size nothing is measured (see fast_limit).
    fast_limit = min(limit, next_at if _wake_requested else batch_size - 1)


def record_session(session: Session) -> None:
    """Hand an ended session to the flusher: like :func:`record`, with the sessions' own room
    on top, so that its events overflowing never drops it. Past that room too (a flood of
    sessions), it is counted and marked, so that the flusher forgets its state."""
    global _wake_requested, pending_bytes
    queue = QUEUE
    size = estimate(session)
    if len(queue) >= limit + session_room:
        counters.queue_full.__next__()
    elif pending_bytes + size > max_bytes + max_bytes // 4:
        counters.queue_bytes.__next__()
    else:
        MEASURED[id(session)] = size
        pending_bytes += size
        queue.append(session)
        if len(queue) >= batch_size and not _wake_requested:
            _wake_requested = True
            wake()
        return
    session.end_dropped = True


def record_update(update: Update) -> None:
    """Queue a late enrichment for the flusher (counted when there is no room)."""
    if len(UPDATES) < max_updates:
        UPDATES.append(update)
        _wake_once()
    else:
        counters.updates_dropped.__next__()


def request_flush(request: FlushRequest) -> None:
    """Queue a flush request and wake the flusher."""
    CONTROL.append(request)
    _wake_once()


def _wake_once() -> None:
    # threading.Event.set() holds a plain lock while it runs Python code: a signal handler
    # that lands there and wakes the flusher again would deadlock. Until the flusher starts
    # its cycle (woken()), one wake-up is enough.
    global _wake_requested
    if not _wake_requested:
        _wake_requested = True
        wake()


def woken() -> None:
    """The flusher calls this when it starts draining, re-arming the early wake-up."""
    global _wake_requested, fast_limit
    if _wake_requested and _pace.woken_at:
        # Woken by a full batch but let run only now: the thread that recorded it kept the
        # GIL meanwhile (it is computing), so the flusher gives way from its first piece on.
        _pace.busy = perf_counter() - _pace.woken_at > _Pace.CONTENDED
    _pace.woken_at = 0.0
    _wake_requested = False
    fast_limit = min(limit, batch_size - 1)


class _Pace:
    """What :func:`pace` remembers between calls (one flusher thread reads and writes it)."""

    EVERY = 0.0005  # seconds of the flusher's own work between two chances to give way
    STEP = 0.0001  # seconds it steps aside: the waiting thread takes the GIL meanwhile
    CONTENDED = 0.001  # a wait this long for the GIL means another thread was computing

    def __init__(self) -> None:
        self.next = 0.0  # when pace() next looks
        self.busy = False  # an application thread was computing when last seen
        self.seen = 0  # pending events then
        self.woken_at = 0.0  # when a full batch asked for the flusher (0: not asked)
        self.steps = 0  # times the flusher stepped aside (for tests and benchmarks)


_pace = _Pace()


def pace() -> None:
    """The flusher calls this between pieces of its own work (say, each event it encodes):
    while an application thread is computing, the flusher steps aside every half millisecond.

    Under the GIL a thread that wants to run waits for the running one to block, or for the
    switch interval (5 ms) and then forces a switch. A flusher that computes for milliseconds
    on end (encoding a batch) thus stalls a computing application thread 5 ms at a time: half
    its time during a burst of traced calls, the calling-thread cost of the benchmark's
    "sender running" case. A short sleep releases the GIL and the waiting thread takes it at
    once; the flusher gets it back at the application's next block or switch interval. While
    the application computes, delivery runs in slices of half a millisecond; as soon as it
    waits (on I/O, on a lock) the flusher gets the GIL straight back, sees that no one
    wanted it, and runs at full speed again. Costs a clock read when not due."""
    state = _pace
    now = perf_counter()
    if now < state.next:
        return
    pending = len(QUEUE)
    if pending > limit >> 1 or pending_bytes > max_bytes >> 1:
        # Half the room is taken: giving way now would let the application fill the rest and
        # lose events. Delivery catches up first; a slower call beats a dropped event.
        state.seen = pending
        state.next = now + _Pace.EVERY
        return
    if state.busy or pending > state.seen:  # someone computes, or recorded since last time
        sleep(_Pace.STEP)
        state.steps += 1
        after = perf_counter()
        state.busy = after - now > _Pace.STEP + _Pace.CONTENDED
        now = after
        pending = len(QUEUE)
    state.seen = pending
    state.next = now + _Pace.EVERY


def released(size: int) -> None:
    """The flusher is done with events of this estimated size (sent, dropped or spooled)."""
    global pending_bytes
    pending_bytes = max(0, pending_bytes - size)


# -- the size estimate (off the fast path: only once some events are already pending) ---------

MEASURED: dict[int, int] = {}
"""Estimated size of each measured pending event, by ``id()`` (the event stays alive while
it is here: the flusher pops it when it takes the event). One C-level setitem per measure, so
no slot on every event and no exception for the unmeasured ones."""


def estimate(span: Event) -> int:
    """Roughly the bytes an event keeps alive, from the shapes of its top-level arguments and
    result alone (a few type checks and ``len()`` calls: this runs for every event recorded
    while a backlog waits). Strings and bytes count their length; containers 64 bytes per
    item (a chat transcript's messages); anything else 64 bytes."""
    size = 300
    args = span.args
    if args:
        for value in args:
            kind = type(value)
            if kind is str or kind is bytes or kind is bytearray:
                size += len(value)
            elif kind is list or kind is dict or kind is tuple or kind is set:
                size += 64 + 64 * len(value)
            else:
                size += 64
    kwargs = span.kwargs
    if kwargs:
        for value in kwargs.values():
            kind = type(value)
            if kind is str or kind is bytes:
                size += len(value)
            elif kind is list or kind is dict or kind is tuple:
                size += 64 + 64 * len(value)
            else:
                size += 64
    result = span.result
    kind = type(result)
    if kind is str or kind is bytes:
        size += len(result)
    elif kind is list or kind is dict or kind is tuple:
        size += 64 + 64 * len(result)
    return size


def reset_after_fork() -> None:
    """In a forked child: the parent's pending events are the parent's to send."""
    global counters, _wake_requested, pending_bytes, fast_limit, _pace
    QUEUE.clear()
    CONTROL.clear()
    UPDATES.clear()
    MEASURED.clear()
    _pace = _Pace()
    counters = Counters()
    pending_bytes = 0
    _wake_requested = False
    fast_limit = min(limit, batch_size - 1)
