"""Fault injection: whatever the server does, the app is not slowed, nothing is lost silently,
and every wait ends by its deadline."""

from __future__ import annotations

import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import honeytrace
from tests.support.fake_api import FakeApi, fake_api_fixture

fake_api = fake_api_fixture


@honeytrace.trace_tool
def tool(i: int) -> int:
    return i


def point_at(api: FakeApi, **options: Any) -> None:
    options.setdefault("retry_deadline", 20.0)
    honeytrace.configure(api_key="test-key", server_url=api.url, **options)


def assert_accounted() -> None:
    stats = honeytrace.stats()
    assert stats.recorded == stats.sent + stats.dropped_total + stats.spooled + stats.pending


_io_threads: list[str] = []
_watching = threading.Event()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _watching.is_set() and event in ("socket.connect", "socket.sendto", "socket.getaddrinfo"):
        _io_threads.append(threading.current_thread().name)


sys.addaudithook(_audit)


@pytest.mark.parametrize("fault", ["blackhole", "slow", "down", "errors"])
def test_the_calling_thread_never_does_network_io(fake_api: FakeApi, fault: str) -> None:
    point_at(fake_api, flush_interval=0.01, batch_size=5, timeout=2.0)
    if fault == "blackhole":
        fake_api.blackhole()
    elif fault == "slow":
        fake_api.slow(1.0)
    elif fault == "down":
        fake_api.stop()
    else:
        fake_api.fail_next(1000, status=503)
    _io_threads.clear()
    _watching.set()
    try:
        for n in range(20):
            with honeytrace.session(f"s{n}"):
                for i in range(5):
                    tool(i)
        # The hook does see network I/O: the flusher's. The calling thread's never shows.
        assert fake_api.wait_for(lambda: len(_io_threads) > 0, 10)
        assert {name.split("-")[0] for name in _io_threads} == {"honeytrace"}
        assert threading.current_thread().name not in _io_threads
    finally:
        _watching.clear()
        fake_api.clear_faults()
        if not fake_api.running:
            fake_api.start()
    assert honeytrace.flush(30)  # and once the server is fine, everything arrives
    assert fake_api.event_count == 100


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_each_transient_status_is_retried_to_delivery(fake_api: FakeApi, status: int) -> None:
    point_at(fake_api)
    fake_api.fail_next(2, status=status)
    with honeytrace.session("transient") as s:
        tool(1)
        tool(2)
    assert honeytrace.flush(30)
    assert len(fake_api.events_for(s.session_id)) == 2
    assert honeytrace.stats().retried >= 2
    assert fake_api.duplicate_event_ids == []
    assert_accounted()


def test_retry_after_as_an_http_date(fake_api: FakeApi) -> None:
    point_at(fake_api)
    when = datetime.now(timezone.utc) + timedelta(seconds=2)
    fake_api.fail_next(1, status=503, retry_after=when, route="events")
    with honeytrace.session("dated"):
        pass
    assert honeytrace.flush(30)
    first, second = fake_api.requests_for("events")
    assert second.received_at - first.received_at >= 0.5  # waited, not hammered


def test_connection_resets_and_read_timeouts_are_retried(fake_api: FakeApi) -> None:
    point_at(fake_api, timeout=0.5)
    fake_api.reset_next(2)
    with honeytrace.session("reset") as s:
        tool(1)
    assert honeytrace.flush(30)
    fake_api.slow(2.0, route="events")  # longer than the read timeout
    before = len(fake_api.requests_for("events"))
    with honeytrace.session("timeout") as t:
        tool(2)
    assert fake_api.wait_for_requests(before + 1, route="events", timeout=10)
    fake_api.slow(0, route="events")
    assert honeytrace.flush(30)
    assert len(fake_api.events_for(s.session_id)) == 1
    assert len(fake_api.events_for(t.session_id)) == 1
    assert fake_api.duplicate_event_ids == [] or fake_api.event_count == 2
    assert_accounted()


def test_retries_of_many_clients_are_spread(fake_api: FakeApi) -> None:
    from honeytrace._deliver.transport import backoff_delay

    delays = {round(backoff_delay(3), 6) for _ in range(50)}
    assert len(delays) > 40  # jitter: no two clients retry in lockstep


def test_a_long_outage_without_spool_is_bounded_and_counted(fake_api: FakeApi) -> None:
    point_at(fake_api, max_queue=50, retry_deadline=0.3, flush_interval=0.05)
    fake_api.stop()
    for n in range(40):
        with honeytrace.session(f"s{n}"):
            for i in range(9):
                tool(i)
    stats = honeytrace.stats()
    assert stats.pending <= 50 + 50  # the queue, and at most one drained batch in hand
    honeytrace.flush(2)
    stats = honeytrace.stats()
    assert stats.recorded == 400
    assert stats.dropped.get("queue_full", 0) > 0
    assert set(stats.dropped) <= {"queue_full", "retry_exhausted"}
    assert_accounted()


def test_flush_and_shutdown_return_by_their_deadline_whatever_the_server(
    fake_api: FakeApi,
) -> None:
    point_at(fake_api, timeout=30.0, retry_deadline=60.0)
    fake_api.blackhole()
    with honeytrace.session("hang"):
        tool(1)
    started = time.monotonic()
    assert honeytrace.flush(0.5) is False
    assert honeytrace.shutdown(1.0) is False
    # Generous bound: the point is that neither waits for the 30 s request timeout.
    assert time.monotonic() - started < 10
    assert_accounted()


def test_a_flusher_shutdown_gave_up_on_does_not_take_what_is_recorded_next(
    fake_api: FakeApi,
) -> None:
    from honeytrace import _runtime

    point_at(fake_api, timeout=30.0, retry_deadline=60.0)
    fake_api.blackhole()
    with honeytrace.session("stuck"):
        tool(1)
    assert honeytrace.flush(0.3) is False  # a request is now in flight, with a 30 s timeout
    stuck = _runtime._flusher
    assert stuck is not None
    assert honeytrace.shutdown(0.2) is False  # it hangs on: shutdown stops waiting for it
    assert stuck.thread.is_alive()
    # A new runtime whose flusher sleeps: only a stale flusher could take these events now.
    honeytrace.configure(exporter="memory", flush_interval=3600, batch_size=10_000)
    _runtime.memory_exporter().clear()
    with honeytrace.session("after"):
        tool(2)
    fake_api.release()  # the stuck request returns; that flusher must leave the queue alone
    stuck.thread.join(10)
    assert not stuck.thread.is_alive()
    assert honeytrace.flush(10)
    sessions = _runtime.memory_exporter().sessions
    assert [body["session_name"] for body in sessions] == ["after"]
    assert not [e for e in fake_api.events.values() if e["inputs"] == {"i": 2}]


def test_serverless_flush_true_delivers_before_returning(fake_api: FakeApi) -> None:
    point_at(fake_api, flush_interval=3600)

    @honeytrace.trace_session(flush=True)
    def handler(event: dict[str, int]) -> int:
        return tool(event["n"])

    @honeytrace.trace_session(flush=True)
    async def async_handler(n: int) -> int:
        return tool(n)

    assert handler({"n": 7}) == 7
    # Delivered already: no flush() call, no wait, the flusher sleeps for an hour.
    assert fake_api.event_count == 1
    import asyncio

    assert asyncio.run(async_handler(8)) == 8
    assert fake_api.event_count == 2


def test_the_api_key_never_shows(fake_api: FakeApi, caplog: pytest.LogCaptureFixture) -> None:
    honeytrace.configure(api_key="sk-super-secret", server_url=fake_api.url, retry_deadline=2.0)
    fake_api.fail_next(10, status=500, body="<html>proxy error</html>")
    with caplog.at_level("DEBUG", logger="honeytrace"), honeytrace.session("s"):
        tool(1)
    honeytrace.flush(5)
    assert "sk-super-secret" not in caplog.text
    assert "sk-super-secret" not in repr(honeytrace._runtime.get_config())
    assert any("proxy error" in record.getMessage() for record in caplog.records)


def test_tls_verification_is_on_by_default() -> None:
    import ssl

    from honeytrace._deliver.transport import Transport

    config = honeytrace._runtime.get_config()
    assert config.verify_tls is True
    transport = Transport("https://api.honeyhive.ai", "k", timeout=1, retry_deadline=1)
    assert transport.connections.verify_mode == ssl.CERT_REQUIRED
