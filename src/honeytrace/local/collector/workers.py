"""Several collector processes on one listening socket, so that ``honeytrace serve`` uses every
core: one process runs its Python (HTTP, JSON decoding, validation, building rows) on one core
at a time, whatever its threads, and a batch of 500 events takes milliseconds of it.

The parent binds the sockets, then forks ``workers`` children that each run the whole
collector (uvicorn, the app, their own store connections) on those sockets; the kernel hands
each new connection to one of them. The parent only supervises: SIGINT or SIGTERM is passed
on as SIGTERM (each child shuts down cleanly: requests in flight are answered, each after its
commit), a child that dies is replaced, and a child that cannot start stops them all.

Writes stay correct across processes: SQLite in WAL mode lets one writer at a time, and
every answer still follows its own commit. SQLite's own wait for the write lock (its busy
handler) sleeps 1, 2, 5, 10 ... ms between tries, so a process could miss its turn again and
again behind a busy sibling (503 after the busy timeout); the workers therefore take turns
through an advisory file lock (:class:`WriteTurn`, ``flock``: the kernel wakes the next
waiter at once, and frees the lock of a process that dies) around each write transaction.

Only on Linux (``fork`` after the sockets are bound, before any thread or event loop
exists); elsewhere, or with ``workers=1``, the collector runs in one process as before.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

from honeytrace.local.collector.errorlog import logger

__all__ = ["STARTUP_FAILED", "WriteTurn", "can_fork", "default_workers", "run_workers"]

MAX_DEFAULT_WORKERS = 4
"""Past the core count (or 4) more workers only take turns at SQLite's one write lock."""
STARTUP_FAILED = 3
"""A worker's exit code when its server did not start (uvicorn's own code for that)."""
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_RESTART_PAUSE = 0.5  # seconds before a dead worker is replaced: no busy loop of crashes


def can_fork() -> bool:
    """Whether workers can be forked here: Linux, from the main thread (signals are handled
    there, and a fork from another thread copies a process whose other threads vanish)."""
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "fork")
        and threading.current_thread() is threading.main_thread()
    )


def default_workers() -> int:
    """One worker per core, at most :data:`MAX_DEFAULT_WORKERS`; 1 where workers cannot be
    forked, or when this process already runs other threads (a program that embeds the
    collector: a fork copies no thread but the caller, whatever locks the others held)."""
    if not can_fork() or threading.active_count() > 1:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, MAX_DEFAULT_WORKERS))


class WriteTurn:
    """An advisory lock (``flock``) on ``path`` that the workers of one collector take around
    each write transaction; a no-op without a path. The file is created on first use."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._fd: int | None = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the block (blocking: the holder's transaction is bounded by its
        own busy timeout, and the kernel frees the lock of a process that dies)."""
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def acquire(self) -> None:
        """Take the lock (blocking; see :meth:`held`)."""
        if self.path is None:
            return
        import fcntl

        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # releases the GIL while it waits

    def release(self) -> None:
        """Give the lock back (after :meth:`acquire`)."""
        if self._fd is not None:
            import fcntl

            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file (a later :meth:`held` opens it again)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def run_workers(count: int, worker: Callable[[], int]) -> int:
    """Fork ``count`` children that each return ``worker()`` as their exit code, and supervise
    them (see the module doc) until SIGINT or SIGTERM has stopped them all, or one failed to
    start (:data:`STARTUP_FAILED`). Returns 0, or 1 after a start-up failure."""
    children: set[int] = set()
    stopping = False
    failed = False

    def stop(signum: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def start() -> None:
        # Signals wait until the child is registered (else a stop could miss it), and the
        # child starts with the default handlers (uvicorn installs its own).
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                _child(worker)
            children.add(pid)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)

    previous = {sig: signal.signal(sig, stop) for sig in _SIGNALS}
    try:
        for _ in range(count):
            start()
        while children:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            if pid not in children:
                continue
            children.discard(pid)
            code = os.waitstatus_to_exitcode(status)
            if stopping:
                continue
            if code == STARTUP_FAILED:
                failed = True
                stop()
                continue
            logger.warning("worker %d exited (code %d); starting another", pid, code)
            time.sleep(_RESTART_PAUSE)
            if not stopping:
                start()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if failed else 0


GC_YOUNG = 20_000
"""A worker's first garbage-collection threshold (CPython's default: 700)."""


def fewer_collections() -> None:
    """Tune CPython's cyclic garbage collector in a worker, a process that serves the
    collector and nothing else. A batch of 500 events decodes into ~3,000 dicts and lists that
    live while the request is validated and written, so with the default threshold (a young
    collection every 700 net allocations) every batch sets off several collections, and those
    it survives carry it to the older generations, whose collections walk every object of the
    process (the modules, pydantic's and starlette's objects): ~2-3 us of CPU per event, 15-20%
    of decoding a batch and building its rows (measured in a process holding the collector's
    app). Young collections wait for 20,000 net allocations instead, more than the requests in
    flight hold at once, so their objects are freed by reference counting before a collection
    looks at them; cycles are still collected. (``gc.freeze()`` of the start-up objects was
    tried too: a worker then sometimes did not stop on SIGTERM; not understood, left out.)"""
    gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])


def _child(worker: Callable[[], int]) -> None:
    """The forked child's whole life: never returns into the parent's code."""
    code = 1
    try:
        for sig in _SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
        fewer_collections()
        code = worker()
    except SystemExit as exc:  # uvicorn's exit when the app's start-up failed
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
