"""The Local exporter's writer thread: the store's SQL runs there, beside the flusher.

The flusher encodes (Python, under the GIL); SQLite inserts and commits (C, which runs
without the GIL inside each statement). One thread doing both does them one after the
other; with this thread, the rows of one batch are written while the flusher encodes the
next, on the second core. Work comes in as :class:`Job` objects, run in order; the thread
takes the batches queued together at once, so that while it is busy the batches that pile up
go into one statement (fewer commits, and fewer trips back for the GIL, see
:meth:`honeytrace.local.store.Store.put_events`).

Bounded: jobs of at most :data:`MAX_WEIGHT` events wait (the flusher waits for room, with a
deadline). Fork-safe: a fork waits (bounded) for the thread to finish the work in hand, so that
the child never inherits SQLite in the middle of a call (its mutexes held by a thread that does
not exist there); in the child the writer is dead and everything runs inline, and the parent's
connection is never touched again (see :func:`_after_fork_in_child`).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from honeytrace._deliver.threads import start_without_signals
from honeytrace._errors import internal_error

__all__ = ["MAX_WEIGHT", "Job", "Writer"]

MAX_WEIGHT = 20_000
"""Events queued for the writer at most; beyond, the flusher waits (they stay counted in
flight, so the recording side's room shrinks with them: memory stays bounded by max_queue)."""
_ROOM_WAIT_S = 60.0  # the longest the flusher waits for room before queueing anyway
_FORK_WAIT_S = 5.0  # the longest a fork waits for the writer to finish its work in hand


class Job:
    """A piece of work for the writer: ``events`` (a deferred batch) or ``call`` (anything
    else, run in order; ``done`` is set when it returned, ``result``/``error`` hold how)."""

    __slots__ = ("after", "before", "call", "done", "error", "result", "weight")

    def __init__(
        self,
        *,
        before: Callable[[], list[Any]] | None = None,
        after: Callable[[BaseException | None], None] | None = None,
        call: Callable[[], Any] | None = None,
        weight: int = 0,
        wait: bool = False,
    ) -> None:
        self.before = before
        self.after = after
        self.call = call
        self.weight = weight
        self.done = threading.Event() if wait else None
        self.result: Any = None
        self.error: BaseException | None = None


class Writer:
    """One daemon thread that runs jobs in order with ``process(jobs)`` (one call, or a run of
    batches of at most ``group_weight`` events). Started on the first job; when no thread can
    start (interpreter exit) or after a fork, :meth:`running` is False and the owner runs its
    work inline."""

    def __init__(self, process: Callable[[list[Job]], None], group_weight: int) -> None:
        self._process = process
        self._group_weight = group_weight
        self._cond = threading.Condition(threading.Lock())
        self._jobs: deque[Job] = deque()
        self._weight = 0  # events queued or in hand
        self._in_hand = 0  # jobs taken by the thread and not yet done
        self._thread: threading.Thread | None = None
        self._dead = False  # could not start, stopped, or inherited by a forked child
        self._stopping = False
        self._working = threading.Lock()  # held while the thread is in process(): forks wait
        self._fork_held = False
        _writers.add(self)

    def running(self) -> bool:
        """True when jobs go to the thread (started here on first use); False when the caller
        must do the work itself (no thread, or the caller is the thread)."""
        if self._dead:
            return False
        thread = self._thread
        if thread is None:
            thread = threading.Thread(target=self._run, name="honeytrace-store", daemon=True)
            try:
                start_without_signals(thread)
            except RuntimeError:  # interpreter exit: no new threads
                self._dead = True
                return False
            self._thread = thread
        return thread is not threading.current_thread() and thread.is_alive()

    def _alive(self) -> bool:
        thread = self._thread
        return not self._dead and thread is not None and thread.is_alive()

    def put(self, job: Job) -> None:
        """Queue ``job``, waiting (at most a minute) while the queue holds its maximum."""
        deadline = time.monotonic() + _ROOM_WAIT_S
        with self._cond:
            while self._weight and self._weight + job.weight > MAX_WEIGHT and self._alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    break  # a writer stuck that long: queue anyway rather than hang the flusher
                self._cond.wait(min(left, 1.0))
            self._jobs.append(job)
            self._weight += job.weight
            self._cond.notify_all()

    def call(self, fn: Callable[[], Any], timeout: float, *, urgent: bool = False) -> Any:
        """Run ``fn`` on the thread after everything queued (``urgent``: before, right after
        the piece of work in hand), and return what it returns (or raise what it raised);
        TimeoutError when it did not run within ``timeout``."""
        job = Job(call=fn, wait=True)
        if urgent:
            with self._cond:
                self._jobs.appendleft(job)
                self._cond.notify_all()
        else:
            self.put(job)
        assert job.done is not None
        if not job.done.wait(timeout):
            raise TimeoutError("the trace store's writer did not answer")
        if job.error is not None:
            raise job.error
        return job.result

    def drain(self, timeout: float) -> bool:
        """Wait until every queued job is done; False when ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (self._jobs or self._in_hand) and self._alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return not (self._jobs or self._in_hand)

    def stop(self, timeout: float) -> bool:
        """Finish the queued jobs and end the thread; True when it ended within ``timeout``."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            self._dead = True
            return True
        thread.join(timeout)
        self._dead = True
        return not thread.is_alive()

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._jobs and not self._stopping:
                    cond.wait(5.0)  # idle; woken by put() or stop()
                if not self._jobs:
                    return
                jobs = self._take()
                self._in_hand = len(jobs)
            with self._working:
                try:
                    self._process(jobs)
                except Exception:  # process() reports per job; this would be a bug of ours
                    internal_error("store writer")
                finally:
                    for job in jobs:
                        if job.done is not None:
                            job.done.set()
            with cond:
                self._in_hand = 0
                self._weight -= sum(job.weight for job in jobs)
                cond.notify_all()

    def _take(self) -> list[Job]:
        """The next piece of work: one call, or consecutive batches of at most
        ``group_weight`` events (at least one), which the owner writes together. Taken a piece
        at a time so that an urgent call waits for one piece at most."""
        queue = self._jobs
        first = queue.popleft()
        jobs = [first]
        if first.before is None:
            return jobs
        weight = first.weight
        while queue and queue[0].before is not None:
            weight += queue[0].weight
            if weight > self._group_weight:
                break
            jobs.append(queue.popleft())
        return jobs

    # -- fork ------------------------------------------------------------------------------

    def _before_fork(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            self._fork_held = self._working.acquire(timeout=_FORK_WAIT_S)

    def _after_fork_in_parent(self) -> None:
        if self._fork_held:
            self._fork_held = False
            self._working.release()

    def _after_fork_in_child(self) -> None:
        # The thread does not exist here, and any lock it held stays held: everything anew,
        # and the parent's queued work is the parent's (its events are counted there).
        self._cond = threading.Condition(threading.Lock())
        self._working = threading.Lock()
        self._fork_held = False
        self._jobs = deque()
        self._weight = self._in_hand = 0
        self._thread = None
        self._dead = True


_writers: weakref.WeakSet[Writer] = weakref.WeakSet()


def _before_fork() -> None:
    for writer in list(_writers):
        writer._before_fork()


def _after_fork_in_parent() -> None:
    for writer in list(_writers):
        writer._after_fork_in_parent()


def _after_fork_in_child() -> None:
    for writer in list(_writers):
        writer._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
