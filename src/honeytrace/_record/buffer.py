"""The pending buffer between the application's threads and the flusher, and its accounting.

Finished events (spans and ended sessions) go into one bounded FIFO; appending is O(1), takes
no lock, and never blocks. What does not fit is counted under ``dropped["queue_full"]``, never
lost silently. Updates to events that already ended and flush requests go into a second,
small queue that the flusher reads before the events, so that everything recorded before a
request is handled with it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from honeytrace._record.span import Event

__all__ = [
    "CONTROL",
    "QUEUE",
    "Counters",
    "FlushRequest",
    "Stats",
    "Update",
    "counters",
    "record",
    "record_update",
]

QUEUE: deque[Event] = deque()
"""Finished events, oldest first. Never replaced (the hot path holds a reference to it)."""

CONTROL: deque[Update | FlushRequest] = deque()


class Update:
    """Fields to merge into an event that already ended (sent as ``PUT /v1/events/{id}``)."""

    __slots__ = ("fields", "span")

    def __init__(self, span: Event, fields: dict[str, Any]) -> None:
        self.span = span
        self.fields = fields


class FlushRequest:
    """Set by the flusher once everything recorded before it was handled."""

    __slots__ = ("_done", "delivered")

    def __init__(self) -> None:
        self._done = threading.Event()
        self.delivered = False

    def resolve(self, delivered: bool) -> None:
        """Wake the waiter."""
        self.delivered = delivered
        self._done.set()

    def wait(self, timeout: float) -> bool:
        """True when resolved in time and everything was delivered."""
        return self._done.wait(timeout) and self.delivered


@dataclass(frozen=True)
class Stats:
    """What happened to the events recorded in this process (``honeytrace.stats()``).

    At any quiet moment ``recorded == sent + dropped_total + spooled + pending``.
    """

    recorded: int
    sent: int
    pending: int
    retried: int
    spooled: int
    dropped: dict[str, int] = field(default_factory=dict)
    internal_errors: int = 0

    @property
    def dropped_total(self) -> int:
        """All dropped events, whatever the reason."""
        return sum(self.dropped.values())


class Counters:
    """Running totals; the flusher is almost the only writer, so a lock costs nothing here."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.taken = 0  # events moved from QUEUE into the flusher
        self.in_flight = 0  # taken but not yet sent, dropped or spooled
        self.sent = 0
        self.retried = 0
        self.spooled = 0
        self.dropped: dict[str, int] = {}

    def drop(self, reason: str, count: int = 1) -> None:
        """Count events that will never be delivered, under a reason."""
        if count:
            with self.lock:
                self.dropped[reason] = self.dropped.get(reason, 0) + count

    def add(self, name: str, count: int = 1) -> None:
        """Add to one of the integer totals."""
        with self.lock:
            setattr(self, name, getattr(self, name) + count)


counters = Counters()

limit = 100_000
"""Room for pending events: ``max_queue`` minus what the flusher is holding."""

batch_size = 500
fast_limit = batch_size - 1
"""Below this many pending events, an append needs neither a drop nor a wake-up: the wrappers
then append to :data:`QUEUE` themselves instead of calling :func:`record`."""
_wake_requested = False


def set_limits(room: int | None = None, batch: int | None = None) -> None:
    """Set :data:`limit` and/or :data:`batch_size` (and with them :data:`fast_limit`)."""
    global limit, batch_size, fast_limit
    if room is not None:
        limit = room
    if batch is not None:
        batch_size = batch
    fast_limit = min(limit, batch_size - 1)


def _no_flusher() -> None:
    pass


wake: Callable[[], None] = _no_flusher
"""Wakes the flusher early; installed by the runtime when the flusher starts."""


def record(span: Event) -> None:
    """Hand a finished event to the flusher (any thread; O(1); never blocks)."""
    global _wake_requested
    queue = QUEUE
    if len(queue) < limit:
        queue.append(span)
        if len(queue) >= batch_size and not _wake_requested:
            _wake_requested = True
            wake()
    else:
        counters.drop("queue_full")


def record_update(update: Update | FlushRequest) -> None:
    """Queue an update or a flush request for the flusher."""
    CONTROL.append(update)
    wake()


def woken() -> None:
    """The flusher calls this when it starts draining, re-arming the early wake-up."""
    global _wake_requested
    _wake_requested = False


def reset_after_fork() -> None:
    """In a forked child: the parent's pending events are the parent's to send."""
    global counters, _wake_requested
    QUEUE.clear()
    CONTROL.clear()
    counters = Counters()
    _wake_requested = False
