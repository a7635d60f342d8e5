"""honeytrace never changes what the application sees, whatever goes wrong inside it."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import pytest

import honeytrace
from honeytrace import _errors
from honeytrace._deliver import encode as _encode
from honeytrace._record import state as _state
from honeytrace._record import wrappers as _wrappers
from honeytrace.testing import Capture


@honeytrace.trace_tool
def double(x: int) -> int:
    return x * 2


def test_internal_error_on_the_hot_path_is_swallowed_and_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("bug in honeytrace")

    _errors.set_raise_internal_errors(False)
    monkeypatch.setattr(_wrappers, "new_event", broken)
    before = honeytrace.stats().internal_errors
    with caplog.at_level(logging.ERROR, logger="honeytrace"), honeytrace.session("s"):
        assert double(2) == 4
        assert double(3) == 6
    assert honeytrace.stats().internal_errors == before + 2
    assert caplog.text.count("internal error in starting a span") == 1


def test_internal_errors_raise_in_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("bug in honeytrace")

    monkeypatch.setattr(_wrappers, "new_event", broken)
    with honeytrace.session("s"), pytest.raises(RuntimeError, match="bug in honeytrace"):
        double(2)


def test_user_exception_wins_over_a_broken_recorder(monkeypatch: pytest.MonkeyPatch) -> None:
    _errors.set_raise_internal_errors(False)

    def broken_record(span: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(_state, "record", broken_record)

    @honeytrace.trace_tool
    def fails() -> None:
        raise KeyError("user's own")

    with honeytrace.session("s"), pytest.raises(KeyError, match="user's own"):
        fails()


def test_a_flusher_bug_drops_counted_events_and_keeps_running(
    honeytrace_capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    _errors.set_raise_internal_errors(False)
    original = _encode.Encoder.event
    calls = []

    def flaky(self: _encode.Encoder, span: Any, children: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("encoder bug")
        return original(self, span, children)

    monkeypatch.setattr(_encode.Encoder, "event", flaky)
    with honeytrace.session("s"):
        double(1)
    assert not honeytrace.flush(5)
    with honeytrace.session("s2"):
        double(2)
    assert honeytrace.flush(5)
    stats = honeytrace.stats()
    # The event only: its session had already been delivered (counting it again as dropped
    # made pending negative, issue 12 item 17).
    assert stats.dropped == {"internal_error": 1}
    assert stats.pending == 0
    assert stats.recorded == stats.sent + stats.dropped_total + stats.pending


def test_redact_hook_changes_events_before_they_leave(honeytrace_capture: Capture) -> None:
    def redact(event: dict[str, Any]) -> dict[str, Any] | None:
        if event.get("event_name") == "drop-me":
            return None
        event["inputs"] = {key: "[hidden]" for key in event.get("inputs", {})}
        return event

    honeytrace.configure(exporter="memory", redact=redact)

    @honeytrace.trace_tool(name="drop-me")
    def dropped() -> None:
        pass

    with honeytrace.session("s"):
        double(21)
        dropped()
    (event,) = honeytrace_capture.events
    assert event["inputs"] == {"x": "[hidden]"}
    assert honeytrace.stats().dropped == {"redacted": 1}


def test_a_raising_redact_hook_drops_rather_than_leaks(honeytrace_capture: Capture) -> None:
    def redact(event: dict[str, Any]) -> dict[str, Any]:
        if event.get("event_name") == "double":
            raise ValueError("hook bug")
        return event

    honeytrace.configure(exporter="memory", redact=redact)
    with honeytrace.session("s"):
        double(1)
    assert not honeytrace.flush(5)
    assert honeytrace_capture._exporter.events == []
    assert honeytrace.stats().dropped == {"redact_error": 1}


def test_a_redact_hook_that_breaks_the_contract_is_caught(honeytrace_capture: Capture) -> None:
    def redact(event: dict[str, Any]) -> dict[str, Any]:
        event["unknown_field"] = 1
        return event

    honeytrace.configure(exporter="memory", redact=redact)
    with honeytrace.session("s"):
        double(1)
    honeytrace.flush(5)
    assert honeytrace.stats().dropped.get("invalid") == 2


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_signals_go_to_the_applications_threads_not_honeytraces() -> None:
    # Python runs handlers in the main thread only: a SIGTERM or Ctrl-C taken by the flusher
    # while the main thread sleeps would wait for the sleep to end.
    masks: dict[str, set[int]] = {}

    def note_mask(event: dict[str, Any]) -> dict[str, Any]:
        name = threading.current_thread().name
        masks[name] = set(signal.pthread_sigmask(signal.SIG_BLOCK, []))
        return event

    honeytrace.configure(exporter="memory", redact=note_mask)
    with honeytrace.session("s"):
        double(1)
    assert honeytrace.flush(10)
    assert masks and all(name.startswith("honeytrace-") for name in masks)
    assert all({signal.SIGINT, signal.SIGTERM} <= mask for mask in masks.values())
    assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # ours untouched
