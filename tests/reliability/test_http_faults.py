"""What a hostile or broken server (or whatever stands in front of it) does to delivery: a WAF
refusing one request, an answer trickled a byte at a time, a 1.5 GB answer, a self-signed
certificate, a redirect, a proxy's blanket 400. Each is one request's problem, bounded by one
deadline, and said once, clearly."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import honeytrace
from honeytrace._deliver.exporters import RetryableError
from honeytrace._deliver.transport import Transport
from tests.support.fake_api import FakeApi, fake_api_fixture
from tests.support.fake_api_tls import self_signed_context

fake_api = fake_api_fixture
SESSION = b'{"session_name": "t"}'


@honeytrace.trace_tool
def tool(i: int) -> int:
    return i


def point_at(api: FakeApi, **options: Any) -> None:
    options.setdefault("retry_deadline", 20.0)
    honeytrace.configure(api_key="test-key", server_url=api.url, **options)


def record_session(name: str, events: int) -> str:
    with honeytrace.session(name) as session:
        for i in range(events):
            tool(i)
    return session.session_id


def assert_accounted() -> None:
    stats = honeytrace.stats()
    assert stats.recorded == stats.sent + stats.dropped_total + stats.spooled + stats.pending


# -- item 12: a 403 is one request's problem, a bad key is a repeated refusal of creates ------


def test_a_waf_403_on_one_batch_drops_that_batch_only(
    fake_api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    point_at(fake_api)
    # The key has worked: a 403 now is this request's alone (sessions go whole, so the
    # request is the one that creates them; a key never seen working would be tried again).
    record_session("first", 1)
    assert honeytrace.flush(10)
    fake_api.fail_next(1, status=403, route="events", body="<html>Request blocked</html>")
    with caplog.at_level(logging.ERROR, logger="honeytrace"):
        blocked = record_session("blocked", 3)
        assert honeytrace.flush(10) is False
        later = [record_session(f"later-{n}", 2) for n in range(3)]
        assert honeytrace.flush(10)
    assert fake_api.events_for(blocked) == [] and blocked not in fake_api.sessions
    assert all(len(fake_api.events_for(session_id)) == 2 for session_id in later)
    assert honeytrace.stats().dropped == {"forbidden": 4}  # the session and its 3 events
    assert "Check HH_API_KEY" not in caplog.text
    assert_accounted()


def test_a_bad_key_is_still_found_and_stops_sending(fake_api: FakeApi) -> None:
    honeytrace.configure(api_key="wrong-key", server_url=fake_api.url, retry_deadline=20.0)
    for n in range(3):
        record_session(f"s{n}", 1)
    honeytrace.flush(10)
    assert honeytrace.stats().dropped == {"auth": 6}
    # Creates only (the sessions go whole, together: refused, repeated once), then nothing.
    assert {r.route for r in fake_api.requests} == {"events"}
    assert len(fake_api.requests) <= 4


# -- item 19: one deadline per request; the answer read only as far as needed -------------------


def test_a_trickled_answer_is_cut_at_the_request_deadline(fake_api: FakeApi) -> None:
    # ~200 bytes at one byte per 0.1 s: every read gets a byte well inside a 0.5 s timeout, so
    # only a deadline on the whole request ends it before the 20 s the answer takes.
    fake_api.trickle_next(10, interval=0.1)
    transport = Transport(fake_api.url, "test-key", timeout=0.5, retry_deadline=0.5)
    with pytest.raises(RetryableError, match="timed out"):
        transport.request("POST", "/v1/sessions", SESSION, is_create=True)


def test_a_trickling_server_does_not_hold_the_flusher(fake_api: FakeApi) -> None:
    point_at(fake_api, timeout=0.5, retry_deadline=1.0)
    fake_api.trickle_next(1000, interval=0.1)
    record_session("trickled", 2)
    # Retries inside the 1 s deadline, each cut at 0.5 s: dropped long before the answer ends.
    assert fake_api.wait_for(lambda: honeytrace.stats().dropped.get("retry_exhausted") == 3, 10)
    fake_api.clear_faults()
    session_id = record_session("after", 1)
    assert honeytrace.flush(20)
    assert len(fake_api.events_for(session_id)) == 1


def test_a_huge_answer_is_not_read_whole(fake_api: FakeApi) -> None:
    fake_api.huge_next(1, size=256 * 1024 * 1024, status=500)
    transport = Transport(fake_api.url, "test-key", timeout=5.0, retry_deadline=0.1)
    with pytest.raises(RetryableError) as caught:
        transport.request("POST", "/v1/sessions", SESSION, is_create=True)
    assert len(str(caught.value)) < 1000
    (huge,) = fake_api.huge_answers
    # The client read 64 KiB and closed: only what the socket buffers took went out.
    assert fake_api.wait_for(lambda: huge.written < huge.size, 10)
    assert huge.written < 32 * 1024 * 1024
    assert transport.request("POST", "/v1/sessions", SESSION, is_create=True) is not None


# -- item 20: permanent answers are said once, clearly, and not retried -------------------------


def test_a_self_signed_certificate_is_one_clear_line_and_no_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeApi(tls=self_signed_context(tmp_path)) as api:
        assert api.url.startswith("https://")
        honeytrace.configure(api_key="test-key", server_url=api.url, retry_deadline=20.0)
        with caplog.at_level(logging.WARNING, logger="honeytrace"):
            for n in range(3):
                record_session(f"s{n}", 2)
            assert honeytrace.flush(10) is False
        stats = honeytrace.stats()
        assert stats.dropped == {"tls": 9} and stats.retried == 0
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 1 and "certificate" in lines[0] and "verify_tls" in lines[0]
        assert api.requests == []  # the key never went to a server we could not verify


def test_the_same_server_is_reached_once_its_certificate_is_trusted(tmp_path: Path) -> None:
    with FakeApi(tls=self_signed_context(tmp_path)) as api:
        honeytrace.configure(api_key="test-key", server_url=api.url, verify_tls=False)
        session_id = record_session("trusted", 1)
        assert honeytrace.flush(10)
        assert len(api.events_for(session_id)) == 1


def test_a_redirect_says_where_it_pointed_and_is_not_followed(
    fake_api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    point_at(fake_api)
    target = "https://elsewhere.example/v1/sessions"
    fake_api.fail_next(1, status=308, route="events", headers={"Location": target})
    with caplog.at_level(logging.ERROR, logger="honeytrace"):
        record_session("moved", 2)
        assert honeytrace.flush(10) is False
    assert honeytrace.stats().dropped == {"redirect": 3}
    assert target in caplog.text and "rejected: POST" not in caplog.text
    assert "test-key" not in caplog.text
    assert len(fake_api.requests) == 1


def test_a_blanket_400_is_not_bisected(fake_api: FakeApi) -> None:
    point_at(fake_api)
    fake_api.fail_next(100, status=400, route="events", body="<html>400 Bad Request</html>")
    record_session("proxied", 8)
    honeytrace.flush(10)
    assert len(fake_api.requests_for("events")) == 1
    assert honeytrace.stats().dropped == {"rejected": 9}  # the session and its 8 events
    assert_accounted()


def test_a_400_naming_an_event_is_still_bisected(fake_api: FakeApi) -> None:
    point_at(fake_api)
    fake_api.reject_events_where(lambda event: event["inputs"].get("i") == 5)
    session_id = record_session("one-bad", 8)
    honeytrace.flush(10)
    assert sorted(e["inputs"]["i"] for e in fake_api.events_for(session_id)) == [
        0,
        1,
        2,
        3,
        4,
        6,
        7,
    ]
    assert honeytrace.stats().dropped == {"rejected": 1}
