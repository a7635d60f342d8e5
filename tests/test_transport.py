"""The HTTP transport's decisions, against a real server: retry or not, how long to wait, what
to raise, and the connections under it."""

from __future__ import annotations

import ssl
import threading
import uuid

import pytest

from honeytrace._deliver.connection import Connections
from honeytrace._deliver.exporters import AuthError, RejectedError, RetryableError
from honeytrace._deliver.transport import Transport, backoff_delay, parse_retry_after
from tests.support.fake_api import FakeApi, fake_api_fixture

fake_api = fake_api_fixture
SESSION = b'{"session_name": "t"}'


class RecordingEvent(threading.Event):
    """Stands in for the interrupt: records each backoff instead of sleeping it."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        return False


def make(
    api: FakeApi, deadline: float = 30.0, key: str = "test-key", **kwargs: object
) -> Transport:
    return Transport(
        api.url,
        key,
        timeout=5.0,
        retry_deadline=deadline,
        interrupt=RecordingEvent(),
        **kwargs,  # type: ignore[arg-type]
    )


def waits(transport: Transport) -> list[float]:
    assert isinstance(transport.interrupt, RecordingEvent)
    return transport.interrupt.waits


def test_headers_carry_auth_content_type_and_user_agent(fake_api: FakeApi) -> None:
    transport = make(fake_api)
    answer = transport.request("POST", "/v1/sessions", SESSION, is_create=True)
    assert answer["session_name"] == "t"
    (request,) = fake_api.requests
    assert request.headers["authorization"] == "Bearer test-key"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("honeytrace/")
    assert "test-key" not in repr(transport)
    assert fake_api.violations == []


def test_connections_are_kept_alive(fake_api: FakeApi) -> None:
    transport = make(fake_api)
    for _ in range(5):
        transport.request("POST", "/v1/sessions", SESSION, is_create=True)
    assert fake_api.connection_count == 1


def test_a_connection_the_server_closed_while_idle_is_replaced(fake_api: FakeApi) -> None:
    transport = make(fake_api)
    transport.request("POST", "/v1/sessions", SESSION, is_create=True)
    fake_api.stop()  # cuts the kept-alive connection
    fake_api.start()
    transport.request("POST", "/v1/sessions", SESSION, is_create=True)
    assert waits(transport) == []  # no retry was needed: the stale connection was reopened


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_until_success(fake_api: FakeApi, status: int) -> None:
    retries: list[int] = []
    transport = make(fake_api, on_retry=lambda: retries.append(1))
    fake_api.fail_next(2, status=status)
    transport.request("POST", "/v1/sessions", SESSION, is_create=True)
    assert len(waits(transport)) == 2 and len(retries) == 2
    assert [r.status for r in fake_api.requests] == [status, status, 200]


def test_resets_refusals_and_timeouts_are_retried(fake_api: FakeApi) -> None:
    transport = make(fake_api)
    transport.timeout = 0.5
    fake_api.reset_next(2)
    transport.request("POST", "/v1/sessions", SESSION, is_create=True)
    assert len(waits(transport)) == 2
    fake_api.slow(2.0)
    with pytest.raises(RetryableError, match="timed out"):
        make(fake_api, deadline=0.4).request("POST", "/v1/sessions", SESSION)
    fake_api.slow(0)
    fake_api.stop()
    refused = make(fake_api, deadline=2.0)
    with pytest.raises(RetryableError):
        refused.request("POST", "/v1/sessions", SESSION)
    assert len(waits(refused)) >= 1


def test_retry_after_seconds_is_honoured(fake_api: FakeApi) -> None:
    transport = make(fake_api)
    fake_api.fail_next(1, status=429, retry_after=7)
    transport.request("POST", "/v1/sessions", SESSION, is_create=True)
    assert waits(transport) == [7.0]


def test_retry_after_beyond_the_deadline_gives_up_at_once(fake_api: FakeApi) -> None:
    transport = make(fake_api, deadline=10)
    fake_api.fail_next(1, status=503, retry_after=120)
    with pytest.raises(RetryableError) as caught:
        transport.request("POST", "/v1/sessions", SESSION)
    assert waits(transport) == []
    assert caught.value.retry_after == 120


def test_deadline_bounds_the_retries(fake_api: FakeApi) -> None:
    transport = make(fake_api, deadline=2.0)
    fake_api.fail_next(100, status=500)
    with pytest.raises(RetryableError):
        transport.request("POST", "/v1/sessions", SESSION)
    # The waits are recorded, not slept: it gives up as soon as the next backoff delay would
    # reach past the deadline, so only a few attempts are made.
    assert 2 <= len(fake_api.requests) <= 6
    assert len(waits(transport)) == len(fake_api.requests) - 1


@pytest.mark.parametrize("status", [400, 422, 409, 413])
def test_client_errors_are_rejected_without_retry(fake_api: FakeApi, status: int) -> None:
    transport = make(fake_api)
    fake_api.fail_next(1, status=status, body={"statusCode": status, "message": "field x unknown"})
    with pytest.raises(RejectedError, match="field x unknown"):
        transport.request("POST", "/v1/sessions", SESSION)
    assert len(fake_api.requests) == 1 and waits(transport) == []


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_create_refused_twice_means_a_bad_key(fake_api: FakeApi, status: int) -> None:
    transport = make(fake_api, key="wrong-key")
    fake_api.fail_next(2, status=status, body="<html>no</html>")
    with pytest.raises(AuthError) as caught:
        transport.request("POST", "/v1/sessions", SESSION, is_create=True)
    assert "wrong-key" not in str(caught.value)
    assert len(fake_api.requests) == 2  # the create, and one repeat to be sure


def test_a_create_refused_once_is_not_a_bad_key(fake_api: FakeApi) -> None:
    transport = make(fake_api)
    fake_api.fail_next(1, status=403, body="<html>WAF</html>")
    transport.request("POST", "/v1/sessions", SESSION, is_create=True)
    assert [r.status for r in fake_api.requests] == [403, 200]


@pytest.mark.parametrize("status", [401, 403])
def test_a_refusal_of_anything_but_a_create_concerns_that_request_only(
    fake_api: FakeApi, status: int
) -> None:
    transport = make(fake_api)
    fake_api.fail_next(1, status=status, route="update", body="<html>blocked</html>")
    with pytest.raises(RejectedError) as caught:
        transport.request("PUT", f"/v1/events/{uuid.uuid4()}", b"{}")
    assert caught.value.reason == "forbidden" and not caught.value.names_events
    assert waits(transport) == []


def test_404_on_a_batch_is_session_not_found_and_retried(fake_api: FakeApi) -> None:
    """Another service's session may be created an instant after its callee's batch."""
    transport = make(fake_api, deadline=2.0)
    path = "/v1/sessions/8b8e5b0e-8f0c-4f0a-9a5e-2b1f0c0d4e11/events/batch"
    with pytest.raises(RetryableError, match="not found"):
        transport.request("POST", path, b'{"events": []}')
    assert len(fake_api.requests) >= 2 and all(r.status == 404 for r in fake_api.requests)


def test_interrupt_cuts_the_backoff_short(fake_api: FakeApi) -> None:
    transport = make(fake_api)
    transport.interrupt = threading.Event()
    transport.interrupt.set()
    fake_api.fail_next(5, status=503)
    with pytest.raises(RetryableError):
        transport.request("POST", "/v1/sessions", SESSION)
    assert len(fake_api.requests) == 1


def test_tls_is_verified_unless_turned_off() -> None:
    assert Connections("https://api.honeyhive.ai").verify_mode == ssl.CERT_REQUIRED
    assert Connections("https://api.honeyhive.ai", verify=False).verify_mode == ssl.CERT_NONE
    assert Connections("http://127.0.0.1:1").verify_mode is None


def test_proxies_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert Connections._proxy_for("https://api.honeyhive.ai") == ("proxy.internal", 3128)
    assert Connections._proxy_for("http://127.0.0.1:8787") is None


def test_backoff_grows_and_is_jittered() -> None:
    low = [backoff_delay(attempt, rng=lambda: 0.0) for attempt in range(8)]
    high = [backoff_delay(attempt, rng=lambda: 1.0) for attempt in range(8)]
    assert low == sorted(low) and low[0] < low[3]
    assert all(h == 2 * lo for lo, h in zip(low, high))
    assert max(high) <= 15.0


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    when = parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0)
    assert when == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
