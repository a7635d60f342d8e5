"""The spool: requests the server could not take, kept on disk until it can.

One file per request (``<time_ns>-<pid>-<seq>.req``): a JSON header line (method, path, how
many events it carries) then the body exactly as it would have been sent. Files are written to
a temporary name, flushed to disk and renamed, so a crash leaves either a whole file or none.
The spool is bounded in bytes; a request that does not fit is refused (the caller counts its
events as dropped, ``spool_full``).

Several processes may share one directory. A process replays its own files and those of
processes that no longer exist (a crashed or finished run), oldest first; a file is claimed by
renaming it before it is sent, so two processes never send the same file.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Spool", "SpoolEntry"]

_SUFFIX = ".req"
_CLAIMED = ".claimed-"


@dataclass
class SpoolEntry:
    """One spooled request."""

    path: Path
    method: str
    url_path: str
    events: int
    content: bytes
    pid: int


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours
    except OSError:
        return False
    return True


class Spool:
    """A bounded, crash-safe, multi-process FIFO of requests on disk."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._release_stale_claims()

    def _release_stale_claims(self) -> None:
        """Claims left by processes that died while sending go back in line."""
        for path in self.directory.glob(f"*{_SUFFIX}{_CLAIMED}*"):
            pid_text = path.name.rsplit(_CLAIMED, 1)[1]
            if pid_text.isdigit() and not _pid_alive(int(pid_text)):
                with contextlib.suppress(OSError):
                    os.replace(path, path.with_name(path.name.rsplit(_CLAIMED, 1)[0]))

    def size(self) -> int:
        """Bytes on disk, all processes' files included."""
        total = 0
        with os.scandir(self.directory) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    total += entry.stat().st_size
        return total

    def put(self, method: str, url_path: str, content: bytes, events: int) -> bool:
        """Write one request; False when the spool is full (nothing is written)."""
        header = json.dumps({"method": method, "path": url_path, "events": events}).encode()
        data = header + b"\n" + content
        with self._lock:  # senders run in parallel: check-then-write must be one step
            if self.size() + len(data) > self.max_bytes:
                return False
            self._write(data)
        return True

    def _write(self, data: bytes) -> None:
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):08d}"
        final = self.directory / f"{name}{_SUFFIX}"
        temporary = self.directory / f".{name}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)

    def _candidates(self) -> list[Path]:
        """Files this process may send, oldest first: its own, and those of dead processes
        (a live process's files are left to it, which keeps each session's requests in order)."""
        mine = os.getpid()
        found = []
        for path in sorted(self.directory.glob(f"*{_SUFFIX}")):
            pid = _file_pid(path)
            if pid is not None and (pid == mine or not _pid_alive(pid)):
                found.append(path)
        return found

    def has_work(self) -> bool:
        """Whether this process has files to replay (its own or dead processes')."""
        return bool(self._candidates())

    def foreign_events(self) -> int:
        """Events in files left by processes that no longer exist (to adopt them)."""
        total = 0
        for path in self._candidates():
            if _file_pid(path) != os.getpid():
                entry = self._read(path)
                total += entry.events if entry is not None else 0
        return total

    def claim_oldest(self) -> SpoolEntry | None:
        """Take the oldest replayable file (renamed so that nobody else sends it)."""
        for path in self._candidates():
            claimed = path.with_name(f"{path.name}{_CLAIMED}{os.getpid()}")
            try:
                os.replace(path, claimed)
            except OSError:
                continue  # another process claimed it first
            entry = self._read(claimed)
            if entry is None:
                with contextlib.suppress(OSError):
                    claimed.unlink()
                continue
            return entry
        return None

    def done(self, entry: SpoolEntry) -> None:
        """The request was answered (sent or refused for good): forget it."""
        with contextlib.suppress(OSError):
            entry.path.unlink()

    def give_back(self, entry: SpoolEntry) -> None:
        """The request failed again: back in line, in its old place."""
        original = entry.path.name.rsplit(_CLAIMED, 1)[0]
        with contextlib.suppress(OSError):
            os.replace(entry.path, entry.path.with_name(original))

    @staticmethod
    def _read(path: Path) -> SpoolEntry | None:
        try:
            data = path.read_bytes()
            header_line, _, content = data.partition(b"\n")
            header = json.loads(header_line)
            pid = _file_pid(path) or 0
            return SpoolEntry(
                path,
                str(header["method"]),
                str(header["path"]),
                int(header["events"]),
                content,
                pid,
            )
        except (OSError, ValueError, KeyError, IndexError):
            return None  # a torn or foreign file: not ours to send


def _file_pid(path: Path) -> int | None:
    parts = path.name.split("-", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None
