"""The HTTP exporter: the HoneyHive API through the transport, with an optional disk spool.

Without a spool, a request that is still failing when its retry deadline passes raises
:class:`RetryableError` and the flusher counts its events as dropped (``retry_exhausted``).

With a spool (``spool_dir``), that request is written to disk instead. Order matters only
within a session (its create before its batches), so a new request goes to the spool when
requests of its own session wait there, or while the server is down; any other goes straight
to the server, and a backlog never holds back a fresh session. Each flusher cycle calls
:meth:`HttpExporter.replay`, which sends a bounded share of the spool (:data:`REPLAY_BUDGET`
seconds), oldest first, one attempt per file:

- a file a working server refuses (5xx while others go through) is set aside with a growing
  delay, and the rest of the spool goes on past it (its own session's files wait behind it);
  each such refusal counts an attempt, and a file past ``max_attempts`` or ``max_age`` is
  dropped and counted (``spool_expired``), with the rest of its session if it was the create;
- while the server does not answer at all, the spool is probed with a growing delay.

A spool that cannot be used (an unusable directory, a disk error other than "full") is given
up with one error line: delivery goes on without it.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from pydantic_core import to_json

from honeytrace._deliver import spool_runs
from honeytrace._deliver.exporters import (
    AuthError,
    Body,
    RejectedError,
    RetryableError,
    Spooled,
)
from honeytrace._deliver.spool import Spool, SpoolEntry
from honeytrace._deliver.transport import Transport, backoff_delay
from honeytrace._errors import log_once

__all__ = ["HttpExporter", "ReplayResult", "open_spool"]

logger = logging.getLogger("honeytrace")

_MAX_PROBE_DELAY = 30.0
REPLAY_BUDGET = 1.0
"""Seconds of replay per flusher cycle at most: new sessions go right after."""
_DOWN_AFTER = 3  # refusals in one pass, with no success, that mean the server is failing
_DEAD_GROUPS = 4096  # sessions remembered as undeliverable (their create was dropped)


@dataclass
class _Pass:
    """What one replay pass has seen so far."""

    start: float
    blocked: set[str] = field(default_factory=set)  # sessions with a file left waiting
    dead: dict[str, str] = field(default_factory=dict)  # sessions whose create was dropped
    skipped: bool = False  # some file was left waiting: barriers stay behind it
    succeeded: bool = False
    failed: list[tuple[SpoolEntry, RetryableError]] = field(default_factory=list)


@dataclass
class ReplayResult:
    """What one replay pass did, in events (for the flusher's counters)."""

    sent: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    adopted: int = 0  # events of files left by a run that ended, claimed by this process

    def drop(self, reason: str, events: int) -> None:
        """Count ``events`` dropped under ``reason``."""
        if events:
            self.dropped[reason] = self.dropped.get(reason, 0) + events


def open_spool(
    directory: str | None,
    max_bytes: int,
    *,
    server_url: str,
    api_key: str | None,
    max_age: float,
    max_attempts: int,
) -> Spool | None:
    """The spool in ``directory``, or None (with one error line) when it cannot be used."""
    if not directory:
        return None
    try:
        return Spool(
            directory,
            max_bytes,
            server_url=server_url,
            api_key=api_key,
            max_age=max_age,
            max_attempts=max_attempts,
        )
    except Exception as exc:  # a file in the way, no permission, a read-only disk, ...
        logger.error(
            "honeytrace: spool_dir %s cannot be used (%s: %s); sending without a spool",
            directory,
            type(exc).__name__,
            exc,
        )
        return None


class HttpExporter:
    """Sends to the HoneyHive API (or anything that speaks it, like ``honeytrace serve``)."""

    concurrent = True
    """Requests of different sessions may overlap (the client's pool is thread-safe)."""

    def __init__(self, transport: Transport, spool: Spool | None = None) -> None:
        self.transport = transport
        self.spool = spool
        self._down = False  # the server failed everything lately: new requests to the spool
        self._probe_failures = 0
        self._next_probe = 0.0
        self._last_ok_ns = 0  # time.time_ns() of the last request the server accepted
        self._dead: OrderedDict[str, str] = OrderedDict()  # session -> why it cannot go

    # -- the Exporter protocol ------------------------------------------------------------

    def create_session(self, body: Body, *, events: int = 0) -> None:
        """``POST /v1/sessions``."""
        group = str(body.get("session_id") or "")
        self._send("POST", "/v1/sessions", to_json(body), events, group, is_create=True)

    def send_events(
        self, session_id: str, events: list[Body], raw: list[bytes] | None = None
    ) -> None:
        """``POST /v1/sessions/{session_id}/events/batch``, from pre-encoded events if given."""
        self.send_raw(session_id, raw if raw is not None else [to_json(e) for e in events])

    def send_raw(self, session_id: str, raw: list[bytes]) -> None:
        """:meth:`send_events` from the events' JSON alone."""
        content = b'{"events":[' + b",".join(raw) + b"]}"
        path = f"/v1/sessions/{session_id}/events/batch"
        self._send("POST", path, content, len(raw), session_id)

    def create_events(self, events: list[Body], raw: list[bytes] | None = None) -> None:
        """``POST /v1/events/batch``: events of several sessions at once, each carrying its
        ``session_id``, a session's own event before its children (see the flusher).

        It creates sessions, so a refusal counts as a create's (a bad key). Its spool group is
        the session of its first event: a batch that continues a session spooled before it
        waits behind it.
        """
        parts = raw if raw is not None else [to_json(event) for event in events]
        group = str(events[0].get("session_id") or "") if events else ""
        self.create_raw(parts, group)

    def create_raw(self, raw: list[bytes], group: str) -> None:
        """:meth:`create_events` from the events' JSON alone; ``group``: the session of the
        first."""
        content = b'{"events":[' + b",".join(raw) + b"]}"
        self._send("POST", "/v1/events/batch", content, len(raw), group, is_create=True)

    def update_event(self, event_id: str, body: Body, *, events: int = 0) -> None:
        """``PUT /v1/events/{event_id}``."""
        # A session's own end carries its event; an update of any other event may concern
        # one whose batch still waits in the spool: it never overtakes anything there.
        self._send(
            "PUT", f"/v1/events/{event_id}", to_json(body), events, event_id, barrier=not events
        )

    def close(self) -> None:
        """Close the connection pool (the spool stays on disk for the next process)."""
        self.transport.close()

    # -- sending --------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        content: bytes,
        events: int,
        group: str,
        *,
        is_create: bool = False,
        barrier: bool = False,
    ) -> None:
        why = self._dead.get(group)
        if why is not None:
            raise RejectedError(f"{method} {path}: its session was not delivered", reason=why)
        spool = self.spool
        if spool is not None:
            barrier = barrier and not spool.pending(group)
            if self._down or spool.pending(group) or (barrier and spool.has_work()):
                accepted = self._put(method, path, content, events, group, barrier)
                if accepted is not None:
                    raise Spooled(accepted)
        try:
            self.transport.request(method, path, content, is_create=is_create)
        except RetryableError:
            if self.spool is None:
                raise
            accepted = self._put(method, path, content, events, group, barrier)
            if accepted is None:
                raise
            if accepted:
                self._down = True
                self._schedule_probe(failed=True)
            raise Spooled(accepted) from None
        self._accepted()

    def _put(
        self, method: str, path: str, content: bytes, events: int, group: str, barrier: bool
    ) -> bool | None:
        """Write to the spool: whether it fit, or None when the spool broke (and is gone)."""
        spool = self.spool
        if spool is None:
            return None
        try:
            return spool.put(method, path, content, events, group, barrier=barrier)
        except Exception as exc:
            self._give_up_spool(exc)
            return None

    def _give_up_spool(self, exc: BaseException) -> None:
        logger.error(
            "honeytrace: the spool in %s failed (%s: %s); sending without a spool from now on "
            "(its files stay on disk for the next process)",
            self.spool.directory if self.spool is not None else "?",
            type(exc).__name__,
            exc,
        )
        self.spool = None
        self._down = False

    def _accepted(self) -> None:
        self._last_ok_ns = time.time_ns()
        if self._down or self._probe_failures:
            self._down = False
            self._schedule_probe(failed=False)

    def _schedule_probe(self, failed: bool) -> None:
        if failed:
            self._probe_failures += 1
            delay = min(_MAX_PROBE_DELAY, backoff_delay(self._probe_failures))
            self._next_probe = time.monotonic() + delay
        else:
            self._probe_failures = 0
            self._next_probe = 0.0

    def _mark_dead(self, group: str, reason: str) -> None:
        self._dead[group] = reason
        while len(self._dead) > _DEAD_GROUPS:
            self._dead.popitem(last=False)

    # -- the spool ------------------------------------------------------------------------

    def replay(self, force: bool = False) -> ReplayResult:
        """Send a bounded share of what waits in the spool, oldest first.

        While the server is down, a pass runs only when the probe delay has passed (or on
        ``force``). :class:`AuthError` propagates: the files stay for a process with a valid
        key. Any other failure of the spool gives it up (one error line): never raised.
        """
        result = ReplayResult()
        spool = self.spool
        if spool is None or (self._down and not force and time.monotonic() < self._next_probe):
            return result
        try:
            self._replay_pass(spool, result)
        except AuthError:
            raise
        except Exception as exc:
            self._give_up_spool(exc)
        return result

    def _replay_pass(self, spool: Spool, result: ReplayResult) -> None:
        state = _Pass(time.monotonic())
        try:
            for entry in spool.replayable():
                if self._settled_unsent(spool, entry, state, result):
                    continue
                if time.monotonic() - state.start > REPLAY_BUDGET:
                    break
                status = spool.claim(entry)
                if entry.adopted and status != "gone":
                    result.adopted += entry.events
                if status == "unreadable":
                    result.drop("spool_corrupt", entry.events)
                if status != "claimed":
                    continue
                if not self._send_entry(spool, entry, state, result):
                    break  # the server is down, or failing everything: probe later
        finally:
            self._after_pass(spool, state.failed, state.succeeded)

    def _settled_unsent(
        self, spool: Spool, entry: SpoolEntry, state: _Pass, result: ReplayResult
    ) -> bool:
        """Drop ``entry`` if it cannot go any more, or leave it waiting: True when it is not
        to be sent in this pass."""
        why = state.dead.get(entry.group) or self._dead.get(entry.group)
        if why is None and spool.expired(entry):
            why = "spool_expired"
            log_once(
                "spool-expired",
                logging.WARNING,
                "honeytrace: a spooled %s %s passed its deadline or was refused %d times; "
                "dropped (stats().dropped['spool_expired'])",
                entry.method,
                entry.url_path,
                entry.attempts,
            )
        if why is not None:
            spool.drop(entry)
            if entry.run != spool_runs.this_run():  # a dead run's file: counted here, then lost
                result.adopted += entry.events
            result.drop(why, entry.events)
            if entry.is_create:  # its batches cannot go without it
                state.dead[entry.group] = why
                self._mark_dead(entry.group, why)
            return True
        if entry.group in state.blocked or (entry.barrier and state.skipped):
            state.skipped = True
            return True
        if entry.next_try > time.monotonic():
            state.blocked.add(entry.group)
            state.skipped = True
            return True
        return False

    def _send_entry(
        self, spool: Spool, entry: SpoolEntry, state: _Pass, result: ReplayResult
    ) -> bool:
        """One attempt at a claimed file; False when the pass should stop."""
        try:
            self.transport.request(
                entry.method, entry.url_path, entry.content, is_create=entry.is_create, attempts=1
            )
        except RetryableError as exc:
            state.failed.append((entry, exc))
            state.blocked.add(entry.group)
            state.skipped = True
            return exc.answered and (len(state.failed) < _DOWN_AFTER or state.succeeded)
        except RejectedError as exc:
            spool.done(entry)
            result.drop(exc.reason, entry.events)
            log_once(
                f"spool-{exc.reason}",
                logging.ERROR,
                "honeytrace: a spooled request was refused: %s",
                exc,
            )
            if entry.is_create:
                state.dead[entry.group] = exc.reason
                self._mark_dead(entry.group, exc.reason)
            return True
        except BaseException:
            spool.give_back(entry, attempted=False)
            raise
        spool.done(entry)
        result.sent += entry.events
        state.succeeded = True
        self._accepted()
        return True

    def _after_pass(
        self, spool: Spool, failed: list[tuple[SpoolEntry, RetryableError]], succeeded: bool
    ) -> None:
        """Put the files that failed back in line. A refusal counts against a file only when
        the server has taken other requests since the file was spooled: a refusal of
        everything (an outage, a maintenance page) is not the file's fault."""
        now = time.monotonic()
        for entry, exc in failed:
            counted = exc.answered and (succeeded or self._last_ok_ns > entry.created_ns)
            if exc.answered:  # its own backoff; an outage is paced by the probes instead
                entry.tries += 1
                delay = (
                    exc.retry_after if exc.retry_after is not None else backoff_delay(entry.tries)
                )
                entry.next_try = now + min(_MAX_PROBE_DELAY, delay)
            spool.give_back(entry, attempted=counted)
        unanswered = any(not exc.answered for _, exc in failed)
        if not succeeded and (unanswered or len(failed) >= _DOWN_AFTER):
            self._down = True  # new requests wait in the spool; probes find when it is back
            self._schedule_probe(failed=True)

    @property
    def backlog(self) -> bool:
        """Whether requests wait in the spool."""
        spool = self.spool
        return spool is not None and spool.has_work()
