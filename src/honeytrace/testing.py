"""Test what your app traces: :func:`capture` and the ``honeytrace_capture`` pytest fixture.

Inside ``with honeytrace.testing.capture() as traces:`` everything goes through the real flusher
and encoder into memory, exactly as it would be sent (validated against the wire models), and
internal errors raise instead of being swallowed::

    def test_agent(honeytrace_capture):
        run_agent("hi")
        assert honeytrace_capture.event("search")["inputs"] == {"query": "hi"}
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from honeytrace import _runtime
from honeytrace._deliver.exporters import MemoryExporter
from honeytrace._errors import reset_for_tests, set_raise_internal_errors

__all__ = ["Capture", "accounting_errors", "capture", "honeytrace_capture"]

Body = dict[str, Any]


class Capture:
    """What was delivered while capturing; reading flushes first."""

    def __init__(self, exporter: MemoryExporter, timeout: float = 10.0) -> None:
        self._exporter = exporter
        self.timeout = timeout

    def flush(self) -> None:
        """Wait until everything recorded so far is delivered (AssertionError if it is not)."""
        if not _runtime.flush(self.timeout):
            raise AssertionError(f"honeytrace did not deliver everything: {_runtime.stats()}")

    @property
    def events(self) -> list[Body]:
        """Every event sent in a batch, in order (sessions are in :attr:`sessions`)."""
        self.flush()
        return list(self._exporter.events)

    @property
    def sessions(self) -> list[Body]:
        """Every session: its create body merged with the updates that followed."""
        self.flush()
        merged: dict[str, Body] = {}
        for body in self._exporter.sessions:
            merged.setdefault(body["session_id"], {}).update(body)
        for event_id, update in self._exporter.updates:
            target = merged.get(event_id)
            if target is None:
                continue
            for key, value in update.items():
                if key in ("metadata", "metrics", "feedback", "config", "user_properties"):
                    target[key] = {**target.get(key, {}), **value}
                else:
                    target[key] = value
        return list(merged.values())

    @property
    def updates(self) -> list[tuple[str, Body]]:
        """Every ``PUT /v1/events/{id}`` as ``(id, body)``."""
        self.flush()
        return list(self._exporter.updates)

    def event(self, name: str) -> Body:
        """The first event named ``name``."""
        for event in self.events:
            if event.get("event_name") == name:
                return event
        names = sorted({str(event.get("event_name")) for event in self.events})
        raise AssertionError(f"no event named {name!r}; events: {names}")

    def session(self, name: str | None = None) -> Body:
        """The session named ``name`` (or the only one)."""
        sessions = self.sessions
        if name is None:
            if len(sessions) != 1:
                raise AssertionError(f"expected one session, found {len(sessions)}")
            return sessions[0]
        for found in sessions:
            if found.get("session_name") == name:
                return found
        raise AssertionError(f"no session named {name!r}")

    def children(self, parent_id: str) -> list[Body]:
        """Events whose parent is ``parent_id``, in the order they were sent."""
        return [event for event in self.events if event.get("parent_id") == parent_id]

    def clear(self) -> None:
        """Forget what was captured so far."""
        self.flush()
        self._exporter.clear()


def accounting_errors(timeout: float = 5.0) -> list[str]:
    """What is wrong with :func:`honeytrace.stats` at a quiet moment (empty when nothing):
    ``recorded == sent + dropped + spooled + pending``, no count below zero, and the queue's
    room no larger than ``max_queue``. Waits up to ``timeout`` for the flusher to be between
    two steps (a snapshot taken mid-step is retried)."""
    import time

    from honeytrace._record import buffer

    deadline = time.monotonic() + timeout
    while True:
        stats = _runtime.stats()
        errors = []
        total = stats.sent + stats.dropped_total + stats.spooled + stats.pending
        if stats.recorded != total:
            errors.append(f"recorded {stats.recorded} != sent+dropped+spooled+pending {total}")
        counts = {"sent": stats.sent, "pending": stats.pending, "spooled": stats.spooled}
        counts.update({f"dropped[{k}]": v for k, v in stats.dropped.items()})
        errors += [f"{name} = {value} < 0" for name, value in counts.items() if value < 0]
        room = _runtime.get_config().max_queue
        if buffer.limit > room:
            errors.append(f"the queue's room {buffer.limit} > max_queue {room}")
        if not errors or time.monotonic() > deadline:
            return [f"{error}: {stats}" for error in errors]
        time.sleep(0.01)


@contextmanager
def capture(**options: Any) -> Iterator[Capture]:
    """Send everything to memory while the block runs; other options as ``configure()``.

    The previous configuration is restored afterwards.
    """
    previous = _runtime.get_config()
    raising = set_raise_internal_errors(True)
    # Messages logged "once" are logged again inside each capture: each test sees its own.
    reset_for_tests()
    exporter = _runtime.memory_exporter()
    _runtime.flush(10.0)
    exporter.clear()
    _runtime.configure(**{"exporter": "memory", **options})
    try:
        yield Capture(exporter)
        _runtime.flush(10.0)
        errors = accounting_errors()
        if errors:  # every event recorded is sent, dropped, spooled or pending: never lost
            raise AssertionError("honeytrace's accounting: " + "; ".join(errors))
    finally:
        _runtime.flush(10.0)
        _runtime._apply(previous)
        set_raise_internal_errors(raising)


def _capture_fixture() -> Iterator[Capture]:
    """A :class:`Capture` for the test's duration."""
    with capture() as captured:
        yield captured


try:  # the fixture exists only where pytest does; capture() works everywhere
    import pytest
except ImportError:  # pragma: no cover
    pass
else:
    honeytrace_capture = pytest.fixture(name="honeytrace_capture")(_capture_fixture)
