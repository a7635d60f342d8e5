"""The collector's writer thread: one thread per process that decodes, validates and writes
every request's store call, in arrival order, grouping what queued up meanwhile into one
transaction.

Why one thread rather than the threadpool: a batch of 500 events is ~5 ms of Python (pydantic's
validation holds the GIL throughout) and 500 ``sqlite3_step`` calls that each release the GIL
and take it back. With several requests decoding and writing in several threads, each of those
takes back waits behind another thread's validation: measured on the 2-core machine (loaded),
43-50 us of server CPU per event with one thread against 56-59 us with the threadpool's,
and no more throughput, since a process runs one core of Python at a time.
The cores are used by worker processes instead (see :mod:`.workers`). The requests' own
threadpool threads only wait (without the GIL) for their job's outcome.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

__all__ = ["Job", "Writer"]

_STOP_TIMEOUT = 30.0  # seconds close() waits for the jobs already queued


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
    """Runs jobs on one thread (started on first use, so after a fork): each round takes every
    queued job, prepares each (a failure answers that job alone), and hands the prepared
    ones to ``run_group`` at once (one transaction, each job all-or-nothing)."""

    def __init__(self, run_group: Callable[[list[Job]], None], name: str) -> None:
        self._run_group = run_group
        self._name = name
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def run(self, job: Job) -> Any:
        """Queue ``job``, wait for it, and return its result (or raise its error). Called from
        a threadpool thread, which waits without holding the GIL."""
        self._ensure_started()
        self._jobs.put(job)
        return job.future.result()

    def _ensure_started(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._jobs.get()
            jobs = [first]
            while True:
                try:
                    jobs.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            stop = None in jobs
            ready: list[Job] = []
            for job in jobs:
                if job is None:
                    continue
                if job.prepare is not None:
                    try:
                        job.args = job.prepare()
                    except BaseException as exc:
                        job.future.set_exception(exc)
                        continue
                ready.append(job)
            if ready:
                try:
                    self._run_group(ready)
                except BaseException as exc:
                    for job in ready:
                        if not job.future.done():
                            job.future.set_exception(exc)
            if stop:
                return

    def stop(self) -> None:
        """Let the queued jobs finish, then end the thread (a later job starts another)."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            self._jobs.put(None)
            with contextlib.suppress(RuntimeError):
                thread.join(_STOP_TIMEOUT)
