"""The collector's writer: per process, one thread that decodes and validates each request's
store call (``prepare``), and one that writes the prepared calls, in arrival order, grouping
every call prepared by the time it holds the write turn into one transaction.

Why threads of their own rather than the threadpool: a batch of 500 events is ~5 ms of Python
(pydantic's validation holds the GIL throughout) and one multi-row INSERT that runs in SQLite
without the GIL. With several requests decoding and writing in several threads, each GIL
take-back waits behind another thread's validation: measured on the 2-core machine (loaded),
43-50 us of server CPU per event with one thread against 56-59 us with the threadpool's.

Why two threads rather than one: while a worker process waits for the write turn (the flock
the worker processes take turns at, :class:`~.workers.WriteTurn`; another process is writing),
its prepare thread goes on validating the requests that arrive, and once the turn is its own
the write thread takes every call prepared meanwhile into its transaction (and the one being
prepared then): a commit writes each page its transaction changed to the WAL (with random
event ids, most of the id index's pages a batch touches), so two batches in one transaction
cost less than two transactions. While the write thread holds the turn no preparation
starts: every SQLite statement gives up the GIL and takes it back, and a validation holding
the GIL meanwhile would stall the statements, hence every process waiting for the turn
(:meth:`Writer.exclusive`); a turn that comes while a preparation is in progress is given back
until it has ended, rather than held idle. The requests' own threadpool threads only wait
(without the GIL) for their job's outcome.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from honeytrace.local.collector.workers import WriteTurn

__all__ = ["Job", "Writer"]

_STOP_TIMEOUT = 30.0  # seconds stop() waits for the jobs already queued
_PAUSE_WAIT = 10.0  # seconds exclusive() waits at most for the preparation in progress


class Job:
    """One request's store call: ``prepare()`` (decoding, validation) gives the arguments of
    ``Store.<method>`` (or of ``method(store, ...)``), unless ``args`` are given; ``future``
    gets the outcome."""

    __slots__ = ("args", "future", "method", "prepare")

    def __init__(
        self,
        method: str | Callable[..., Any],
        args: tuple[Any, ...] | None,
        prepare: Callable[[], tuple[Any, ...]] | None,
    ) -> None:
        self.method, self.args, self.prepare = method, args, prepare
        self.future: Future[Any] = Future()


class Writer:
    """Runs jobs on two threads (started on first use, so after a fork): the first prepares
    each job in turn (a failure answers that job alone), the second hands every prepared job
    queued to ``run_group`` at once (one transaction, each job all-or-nothing).
    ``run_group`` may call :meth:`take_ready` to add the jobs prepared since (once it holds
    the write turn)."""

    def __init__(self, run_group: Callable[[list[Job]], None], name: str) -> None:
        self._run_group = run_group
        self._name = name
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._ready: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._threads: tuple[threading.Thread, threading.Thread] | None = None
        self._start_lock = threading.Lock()
        self._stopping = False  # the write thread met the end of the queue
        self._state = threading.Condition()
        self._preparing = False  # the prepare thread is decoding a job
        self._paused = False  # the write thread holds the write turn: no new preparation
        self._prepared = 0  # preparations ended so far
        self.turns_given_back = 0  # times exclusive() let the turn go for a preparation

    def run(self, job: Job) -> Any:
        """Queue ``job``, wait for it, and return its result (or raise its error). Called from
        a threadpool thread, which waits without holding the GIL."""
        self._ensure_started()
        self._jobs.put(job)
        return job.future.result()

    def _ensure_started(self) -> None:
        threads = self._threads
        if threads is not None and all(thread.is_alive() for thread in threads):
            return
        with self._start_lock:
            threads = self._threads
            if threads is None or not all(thread.is_alive() for thread in threads):
                # First use, after a stop, or in a forked child (no thread survives a fork).
                # A job queued after a stop's end mark stays queued for these threads.
                self._stopping = False
                threads = (
                    threading.Thread(target=self._prepare_loop, name=f"{self._name}-prepare"),
                    threading.Thread(target=self._write_loop, name=self._name),
                )
                for thread in threads:
                    thread.daemon = True
                    thread.start()
                self._threads = threads

    def _prepare_loop(self) -> None:
        jobs, ready, state = self._jobs, self._ready, self._state
        while True:
            job = jobs.get()
            with state:
                while self._paused:
                    state.wait()
                self._preparing = True
            try:
                if job is not None and job.prepare is not None:
                    try:
                        job.args = job.prepare()
                    except BaseException as exc:
                        job.future.set_exception(exc)
                        continue
                ready.put(job)
            finally:
                with state:
                    self._preparing = False
                    self._prepared += 1
                    state.notify_all()
            if job is None:
                return

    def _write_loop(self) -> None:
        while not self._stopping:
            first = self._ready.get()
            if first is None:
                return
            jobs = [first, *self.take_ready()]
            try:
                self._run_group(jobs)
            except BaseException as exc:
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)

    @contextlib.contextmanager
    def exclusive(self, turn: WriteTurn | None = None) -> Iterator[None]:
        """For the write thread's SQL: hold the write ``turn`` (when given) with no
        preparation running, and none starting before the block ends. A preparation holds the
        GIL, which each SQLite statement gives up and takes back: a validation of a large body
        running meanwhile would stall every statement while the other processes wait for the
        turn. The turn is taken while the preparations go on (the wait for another process's
        write is the time to prepare); if one is in progress once it is ours, the turn goes
        back to the other processes until that preparation has ended (rather than held idle
        for milliseconds), then is taken again: at most once, after which a preparation in
        progress is waited for with the turn held, as is one when no ``turn`` is given (or
        one without a lock file: a single process)."""
        state = self._state
        if turn is not None:
            turn.acquire()
        try:
            with state:
                ended = self._prepared
                busy = self._preparing
                if not busy:
                    self._paused = True
            if busy and turn is not None and turn.path is not None:  # others may write
                turn.release()
                self.turns_given_back += 1
                try:
                    with state:
                        state.wait_for(lambda: self._prepared != ended, _PAUSE_WAIT)
                finally:
                    turn.acquire()
            with state:
                self._paused = True
                state.wait_for(lambda: not self._preparing, _PAUSE_WAIT)
            yield
        finally:
            with state:
                self._paused = False
                state.notify_all()
            if turn is not None:
                turn.release()

    def take_ready(self) -> list[Job]:
        """The jobs prepared and not yet taken (from the write thread only)."""
        taken: list[Job] = []
        while not self._stopping:
            try:
                job = self._ready.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._stopping = True  # after this group
            else:
                taken.append(job)
        return taken

    def stop(self) -> None:
        """Let the queued jobs finish, then end the threads (a later job starts others)."""
        with self._start_lock:
            threads, self._threads = self._threads, None
        if threads is not None and any(thread.is_alive() for thread in threads):
            self._jobs.put(None)
            for thread in threads:
                with contextlib.suppress(RuntimeError):
                    thread.join(_STOP_TIMEOUT)
