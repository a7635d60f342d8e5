"""Which run wrote a spool file, and whether that run is still alive.

A process id is no identity: in a container every run is PID 1, so a dead run's files looked
like the new run's own (its claims were never released, its events were counted twice). Each
process instead takes a random *run id* and holds an exclusive ``flock`` on
``<spool_dir>/.run-<run id>.lock`` for as long as it lives. The kernel drops that lock when the
process dies, however it dies (``kill -9`` included), so another process tells a live run from a
dead one by trying to take the lock. A forked child gets a run id of its own.

Without ``fcntl`` (Windows) no other run can be proven dead: its files are left to it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunRegistry", "this_run"]

_LOCK_PREFIX = ".run-"
_LOCK_SUFFIX = ".lock"

_lock = threading.Lock()
_run_id: str | None = None
_held: dict[str, int] = {}  # spool directory -> fd of this run's lock file in it


def this_run() -> str:
    """This process's run id (16 hex digits; a new one after a fork)."""
    global _run_id
    run = _run_id
    if run is None:
        with _lock:
            if _run_id is None:
                _run_id = secrets.token_hex(8)
            run = _run_id
    return run


def _lock_path(directory: Path, run: str) -> Path:
    return directory / f"{_LOCK_PREFIX}{run}{_LOCK_SUFFIX}"


def hold(directory: Path) -> None:
    """Take this run's lock in ``directory`` (once per directory and process)."""
    if fcntl is None:
        return
    key = str(directory)
    run = this_run()  # before the lock: it takes it too
    with _lock:
        if key in _held:
            return
        fd = os.open(_lock_path(directory, run), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise
        _held[key] = fd


def _after_fork_in_child() -> None:
    """The child shares the parent's locks (one open file description): drop them and take a
    new run id, so that the parent's death is seen, and the child's files are the child's."""
    global _run_id
    for fd in _held.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()
    _run_id = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class RunRegistry:
    """What one spool knows about the runs behind the files of its directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._dead: set[str] = set()  # a run id is never reused: dead stays dead

    def alive(self, run: str) -> bool:
        """Whether ``run`` still holds its lock (this process's run always does)."""
        if run == this_run():
            return True
        if run in self._dead:
            return False
        if fcntl is None:  # pragma: no cover - Windows: no proof of death
            return True
        path = _lock_path(self.directory, run)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            self._dead.add(run)
            return False
        except OSError:
            return True  # cannot tell: leave its files alone
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True  # held: the run is alive
        else:
            self._dead.add(run)
            with contextlib.suppress(OSError):
                path.unlink()  # under its lock: whoever looks next finds no file, i.e. dead
            return False
        finally:
            os.close(fd)
