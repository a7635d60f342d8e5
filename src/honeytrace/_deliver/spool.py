"""The spool: requests the server could not take, kept on disk until it can.

One file per request, ``<time_ns>-<run>-<seq>-<attempts>.req``: a JSON header line then the body
exactly as it would have been sent. The header names the request (method, path, how many
events it carries, the session it belongs to) and where it may go: the server's address and a
salted fingerprint of the API key (never the key), so that a spooled request is replayed only
to the server it was meant for, with the key it was meant for. Files are written to a temporary
name, flushed and renamed, so a crash leaves a whole file or none; a temporary file its writer
left (disk full, ``kill -9``) is removed by the next process that looks.

The directory is read once, into an index kept in memory; a put or a claim is then O(1) on the
files (the index is compared with the directory again only every few seconds, to notice other
processes' files). The spool is bounded in bytes; a request that does not fit, or meets a full
disk, is refused (the caller counts its events as dropped, ``spool_full``).

Several processes may share one directory. Each file carries the *run* that wrote it (see
:mod:`.spool_runs`: a run id, alive while its process holds a lock, whatever its PID). A process
replays its own files and those of dead runs with its destination and key; a file is claimed by
renaming it before it is sent, so two processes never send the same file, and a claim whose run
died goes back in line. A dead run's file becomes this run's when it is first claimed.

Every file has a deadline (``max_age``) and a count of attempts a working server refused
(``max_attempts``, kept in its name): past either, it is dropped and counted (``spool_expired``).
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import hashlib
import itertools
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from honeytrace._deliver import spool_runs
from honeytrace._errors import log_once

__all__ = ["Spool", "SpoolEntry", "destination_of"]

logger = logging.getLogger("honeytrace")

_SUFFIX = ".req"
_CLAIMED = ".claimed-"
_TMP = ".tmp"
_FORMAT = 2
_RESCAN_INTERVAL = 5.0  # seconds between looks at what other processes wrote
_STALE_TMP = 3600.0  # an unparseable temporary file this old is nobody's write in progress
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
DEFAULT_MAX_AGE = 7 * 24 * 3600.0
DEFAULT_MAX_ATTEMPTS = 10


@dataclass(eq=False)
class SpoolEntry:
    """One spooled request, as the index knows it (``content`` is read when it is claimed)."""

    name: str
    method: str
    url_path: str
    events: int
    group: str  # the session (or event) it belongs to: one group's files go in order
    barrier: bool  # an update of an event whose batch may still wait: never overtakes
    created_ns: int
    run: str
    seq: str
    attempts: int
    size: int
    content: bytes = b""
    adopted: bool = False  # set by claim: a dead run's file, now this run's
    next_try: float = 0.0  # time.monotonic() before which it is not tried again
    tries: int = 0  # failed tries in this process (for the backoff)

    @property
    def is_create(self) -> bool:
        """A session create (its group's batches cannot go without it): ``POST /v1/sessions``,
        or ``POST /v1/events/batch``, which carries whole sessions (its group is the session of
        its first event, whose later batches cannot go without it either)."""
        return self.method == "POST" and self.url_path in ("/v1/sessions", "/v1/events/batch")


def destination_of(server_url: str) -> str:
    """The server's address as recorded in a file: no credentials, no trailing slash."""
    scheme, sep, rest = server_url.partition("://")
    host, slash, path = rest.partition("/")
    host = host.rsplit("@", 1)[-1].lower()
    return f"{scheme.lower()}{sep}{host}{slash}{path}".rstrip("/")


def _fingerprint(salt: str, api_key: str | None) -> str:
    return hashlib.sha256(f"{salt}\0{api_key or ''}".encode()).hexdigest()[:32]


def _parse_name(name: str) -> tuple[int, str, str, int] | None:
    """``(created_ns, run, seq, attempts)`` of ``<time>-<run>-<seq>-<attempts>.req``."""
    if not name.endswith(_SUFFIX):
        return None
    parts = name[: -len(_SUFFIX)].split("-")
    if len(parts) != 4 or not (parts[0].isdigit() and parts[3].isdigit()):
        return None
    return int(parts[0]), parts[1], parts[2], int(parts[3])


class Spool:
    """A bounded, crash-safe, multi-process queue of requests on disk, indexed in memory."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        max_bytes: int,
        *,
        server_url: str = "",
        api_key: str | None = None,
        max_age: float = DEFAULT_MAX_AGE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.max_age_ns = int(max_age * 1e9)
        self.max_attempts = max_attempts
        self._destination = destination_of(server_url)
        self._api_key = api_key
        self.directory.mkdir(parents=True, exist_ok=True)
        spool_runs.hold(self.directory)
        self._runs = spool_runs.RunRegistry(self.directory)
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._entries: dict[str, SpoolEntry] = {}  # replayable by this process, by file name
        self._order: list[str] = []  # their names, oldest first
        self._groups: dict[str, int] = {}  # entries per group
        self._claimed: dict[str, SpoolEntry] = {}  # claimed by this process, by claimed path
        self._bytes = 0  # bytes of the indexed (and claimed) files
        self._others: dict[str, int] = {}  # other files' sizes, as of the last scan
        self._other_bytes = 0
        self._not_ours: set[str] = set()  # files read once and found to be another app's
        self._scanned_at = -_RESCAN_INTERVAL
        with self._lock:
            self._scan()

    # -- the index ------------------------------------------------------------------------

    def _scan(self) -> None:
        """Compare the index with the directory (lock held): adopt what dead runs left with our
        destination and key, release their claims, remove their temporary files, and weigh
        every other file against the bound."""
        self._scanned_at = time.monotonic()
        mine = spool_runs.this_run()
        alive: dict[str, bool] = {mine: True}  # one lock probe per run and scan

        def is_alive(run: str) -> bool:
            if run not in alive:
                alive[run] = self._runs.alive(run)
            return alive[run]

        others: dict[str, int] = {}
        with os.scandir(self.directory) as found:
            names = [(entry.name, entry) for entry in found if entry.is_file()]
        claimed_here = {Path(path).name for path in self._claimed}
        for found_name, dir_entry in names:
            name = found_name
            if name in self._entries or name in claimed_here:
                continue
            if name.endswith(".lock"):
                if name.startswith(".run-"):
                    is_alive(name[len(".run-") : -len(".lock")])  # a dead run's lock goes
                continue
            if name.endswith(_TMP):
                self._clean_temporary(name, dir_entry, is_alive)
                continue
            if _CLAIMED in name:
                base, _, run = name.rpartition(_CLAIMED)
                if is_alive(run):
                    others[name] = self._size_of(name, dir_entry)
                    continue
                try:  # its sender died: back in line
                    os.replace(self.directory / name, self.directory / base)
                except OSError:
                    continue
                name = base
            parsed = _parse_name(name)
            if (
                parsed is not None
                and name not in self._not_ours
                and (parsed[1] == mine or not is_alive(parsed[1]))
            ):
                entry = self._read_header(name, parsed)
                if entry is not None:
                    self._add(entry)
                    continue
                self._not_ours.add(name)
            others[name] = self._size_of(name, dir_entry)
        self._others = others
        self._other_bytes = sum(others.values())
        self._not_ours &= others.keys()

    def _size_of(self, name: str, dir_entry: os.DirEntry[str]) -> int:
        known = self._others.get(name)
        if known is not None:
            return known
        try:
            return dir_entry.stat().st_size
        except OSError:
            return 0

    def _clean_temporary(
        self, name: str, dir_entry: os.DirEntry[str], is_alive: Callable[[str], bool]
    ) -> None:
        parts = name.lstrip(".").split("-")
        run = parts[1] if len(parts) >= 3 else None
        if run is not None and run != spool_runs.this_run() and is_alive(run):
            return  # a write in progress in another process
        if run is None:
            try:
                if time.time() - dir_entry.stat().st_mtime < _STALE_TMP:
                    return
            except OSError:
                return
        with contextlib.suppress(OSError):  # our own outside a write, or a dead writer's
            os.unlink(self.directory / name)

    def _read_header(self, name: str, parsed: tuple[int, str, str, int]) -> SpoolEntry | None:
        """The entry of a file, if it is ours to send: a readable header, our destination and
        our key. Anything else is left on disk for whoever it belongs to."""
        try:
            with open(self.directory / name, "rb") as handle:
                header = json.loads(handle.readline(65536))
                size = os.fstat(handle.fileno()).st_size
            if header.get("v") != _FORMAT or header.get("dest") != self._destination:
                return None
            if header.get("key") != _fingerprint(str(header["salt"]), self._api_key):
                return None
            return SpoolEntry(
                name,
                str(header["method"]),
                str(header["path"]),
                int(header["events"]),
                str(header["group"]),
                bool(header.get("barrier", False)),
                *parsed[:3],
                parsed[3],
                size,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            log_once(
                "spool-unreadable",
                logging.WARNING,
                "honeytrace: unreadable spool file %s left alone",
                name,
            )
            return None

    def _add(self, entry: SpoolEntry) -> None:
        self._entries[entry.name] = entry
        if not self._order or self._order[-1] < entry.name:
            self._order.append(entry.name)  # a put: the newest
        else:
            bisect.insort(self._order, entry.name)  # an adopted or given-back file: its place
        self._groups[entry.group] = self._groups.get(entry.group, 0) + 1
        self._bytes += entry.size

    def _forget(self, entry: SpoolEntry) -> None:
        if self._entries.pop(entry.name, None) is None:
            return
        index = bisect.bisect_left(self._order, entry.name)
        if index < len(self._order) and self._order[index] == entry.name:
            del self._order[index]
        left = self._groups.get(entry.group, 1) - 1
        if left:
            self._groups[entry.group] = left
        else:
            self._groups.pop(entry.group, None)

    def _maybe_rescan(self) -> None:
        if time.monotonic() - self._scanned_at >= _RESCAN_INTERVAL:
            self._scan()

    # -- writing --------------------------------------------------------------------------

    def size(self) -> int:
        """Bytes on disk: this process's files, and the others' as of the last look."""
        with self._lock:
            return self._bytes + self._other_bytes

    def put(
        self,
        method: str,
        url_path: str,
        content: bytes,
        events: int,
        group: str = "",
        *,
        barrier: bool = False,
    ) -> bool:
        """Write one request; False when the spool (or the disk) is full: nothing is written.
        Any other failure to write raises :class:`OSError`."""
        salt = secrets.token_hex(8)
        header = {
            "v": _FORMAT,
            "method": method,
            "path": url_path,
            "events": events,
            "group": group,
            "barrier": barrier,
            "dest": self._destination,
            "salt": salt,
            "key": _fingerprint(salt, self._api_key),
        }
        data = json.dumps(header).encode() + b"\n" + content
        with self._lock:  # senders run in parallel: check-then-write must be one step
            self._maybe_rescan()
            if self._bytes + self._other_bytes + len(data) > self.max_bytes:
                return False
            created = time.time_ns()
            seq = f"{next(self._seq):08d}"
            name = f"{created:020d}-{spool_runs.this_run()}-{seq}-0{_SUFFIX}"
            try:
                self._write(name, data)
            except OSError as exc:
                if exc.errno in _FULL_ERRNOS:
                    log_once(
                        "spool-disk-full",
                        logging.WARNING,
                        "honeytrace: the disk of spool_dir %s is full (%s); what does not fit "
                        "is counted in stats().dropped['spool_full']",
                        self.directory,
                        os.strerror(exc.errno or 0),
                    )
                    return False
                raise
            entry = SpoolEntry(
                name,
                method,
                url_path,
                events,
                group,
                barrier,
                created,
                spool_runs.this_run(),
                seq,
                0,
                len(data),
            )
            self._add(entry)
        return True

    def _write(self, name: str, data: bytes) -> None:
        temporary = self.directory / f".{name[: -len(_SUFFIX)]}{_TMP}"
        try:
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.directory / name)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()  # a half-written file must not stay and weigh
            raise

    # -- reading --------------------------------------------------------------------------

    def pending(self, group: str) -> bool:
        """Whether requests of ``group`` wait here (new ones must queue behind them)."""
        return group in self._groups

    def has_work(self) -> bool:
        """Whether this process has files to replay (its own or dead runs')."""
        with self._lock:
            self._maybe_rescan()
            return bool(self._entries)

    def replayable(self) -> list[SpoolEntry]:
        """The entries this process may send, oldest first (a snapshot)."""
        with self._lock:
            self._maybe_rescan()
            return [self._entries[name] for name in self._order]

    def expired(self, entry: SpoolEntry) -> bool:
        """Past its deadline, or refused by a working server too many times."""
        too_old = time.time_ns() - entry.created_ns > self.max_age_ns
        return too_old or entry.attempts >= self.max_attempts

    def claim(self, entry: SpoolEntry) -> Literal["claimed", "gone", "unreadable"]:
        """Take ``entry`` (renamed so that nobody else sends it) and read its body. ``gone``:
        another process took it first; ``unreadable``: it could not be read, and is removed."""
        with self._lock:
            if self._entries.get(entry.name) is not entry:
                return "gone"
            self._forget(entry)
            path = self.directory / entry.name
            claimed = path.with_name(f"{entry.name}{_CLAIMED}{spool_runs.this_run()}")
            try:
                os.replace(path, claimed)
            except OSError:
                self._bytes -= entry.size
                return "gone"  # another process claimed it first
            self._claimed[str(claimed)] = entry
        entry.adopted = entry.run != spool_runs.this_run()
        try:
            data = claimed.read_bytes()
        except OSError:
            self._finish(claimed, entry)
            return "unreadable"
        entry.content = data.partition(b"\n")[2]
        return "claimed"

    def done(self, entry: SpoolEntry) -> None:
        """The request was answered (sent, or refused for good) or expired: forget it."""
        self._finish(self._claimed_path(entry), entry)

    def drop(self, entry: SpoolEntry) -> None:
        """Remove an entry that was not claimed (expired before it was tried)."""
        with self._lock:
            if self._entries.get(entry.name) is not entry:
                return
            self._forget(entry)
            self._bytes -= entry.size
        with contextlib.suppress(OSError):
            (self.directory / entry.name).unlink()

    def give_back(self, entry: SpoolEntry, *, attempted: bool) -> None:
        """The request failed again: back in line, in its old place, as this run's file, with
        one more attempt counted when a working server refused it."""
        claimed = self._claimed_path(entry)
        entry.attempts += int(attempted)
        entry.run = spool_runs.this_run()
        entry.name = f"{entry.created_ns:020d}-{entry.run}-{entry.seq}-{entry.attempts}{_SUFFIX}"
        entry.content = b""
        with self._lock:
            self._claimed.pop(str(claimed), None)
            try:
                os.replace(claimed, self.directory / entry.name)
            except OSError:
                self._bytes -= entry.size
                return
            self._bytes -= entry.size  # _add counts it again
            self._add(entry)

    def _claimed_path(self, entry: SpoolEntry) -> Path:
        return self.directory / f"{entry.name}{_CLAIMED}{spool_runs.this_run()}"

    def _finish(self, claimed: Path, entry: SpoolEntry) -> None:
        with self._lock:
            if self._claimed.pop(str(claimed), None) is not None:
                self._bytes -= entry.size
        with contextlib.suppress(OSError):
            claimed.unlink()
