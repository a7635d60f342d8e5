"""The HTTP transport's decisions: retry or not, how long to wait, what to raise."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest

from hivetrace._exporters import AuthError, RejectedError, RetryableError
from hivetrace._transport import Transport, backoff_delay, parse_retry_after


def make(
    handler: Callable[[httpx.Request], httpx.Response], deadline: float = 30.0, **kwargs: object
) -> tuple[Transport, list[float]]:
    waits: list[float] = []

    class RecordingEvent(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            return False

    client = httpx.Client(base_url="http://api.test", transport=httpx.MockTransport(handler))
    transport = Transport(
        "http://api.test",
        "secret-key",
        timeout=5.0,
        retry_deadline=deadline,
        interrupt=RecordingEvent(),
        client=client,
        **kwargs,  # type: ignore[arg-type]
    )
    return transport, waits


def test_headers_carry_auth_content_type_and_user_agent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"success": True})

    transport, _ = make(handler)
    assert transport.request("POST", "/v1/sessions", b"{}") == {"success": True}
    (request,) = seen
    assert request.headers["authorization"] == "Bearer secret-key"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("hivetrace/")
    assert "secret-key" not in repr(transport)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_until_success(status: int) -> None:
    answers = [status, status, 200]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(answers.pop(0), json={"success": True})

    retries: list[int] = []
    transport, waits = make(handler, on_retry=lambda: retries.append(1))
    transport.request("POST", "/x", b"{}")
    assert answers == []
    assert len(waits) == 2 and len(retries) == 2
    assert waits[1] > 0


def test_connection_errors_and_timeouts_are_retried() -> None:
    failures: list[Exception] = [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("reset"),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        if failures:
            raise failures.pop(0)
        return httpx.Response(200)

    transport, waits = make(handler)
    transport.request("POST", "/x", b"{}")
    assert failures == [] and len(waits) == 3


def test_retry_after_seconds_is_honoured() -> None:
    answers = [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200)]
    transport, waits = make(lambda request: answers.pop(0))
    transport.request("POST", "/x", b"{}")
    assert waits == [7.0]


def test_retry_after_beyond_the_deadline_gives_up_at_once() -> None:
    transport, waits = make(
        lambda request: httpx.Response(503, headers={"Retry-After": "120"}), deadline=10
    )
    with pytest.raises(RetryableError) as caught:
        transport.request("POST", "/x", b"{}")
    assert waits == []
    assert caught.value.retry_after == 120


def test_deadline_bounds_the_retries() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(500)

    transport, waits = make(handler, deadline=2.0)
    with pytest.raises(RetryableError):
        transport.request("POST", "/x", b"{}")
    # The waits are recorded, not slept: it gives up as soon as the next backoff delay would
    # reach past the deadline, so only a few attempts are made.
    assert 2 <= len(calls) <= 6
    assert len(waits) == len(calls) - 1


@pytest.mark.parametrize("status", [400, 422, 409, 413])
def test_client_errors_are_rejected_without_retry(status: int) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status, json={"statusCode": status, "message": "field x unknown"})

    transport, waits = make(handler)
    with pytest.raises(RejectedError, match="field x unknown"):
        transport.request("POST", "/x", b"{}")
    assert calls == [1] and waits == []


@pytest.mark.parametrize(("status", "is_create"), [(401, False), (403, False), (404, True)])
def test_bad_key_statuses_raise_auth_error(status: int, is_create: bool) -> None:
    transport, _ = make(lambda request: httpx.Response(status, text="<html>no</html>"))
    with pytest.raises(AuthError) as caught:
        transport.request("POST", "/v1/sessions", b"{}", is_create=is_create)
    assert "secret-key" not in str(caught.value)


def test_404_on_a_batch_is_a_rejection_not_a_bad_key() -> None:
    transport, _ = make(lambda request: httpx.Response(404, json={"message": "no session"}))
    with pytest.raises(RejectedError):
        transport.request("POST", "/v1/sessions/x/events/batch", b"{}")


def test_interrupt_cuts_the_backoff_short() -> None:
    transport, _ = make(lambda request: httpx.Response(503))
    transport.interrupt = threading.Event()
    transport.interrupt.set()
    with pytest.raises(RetryableError):
        transport.request("POST", "/x", b"{}")


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
