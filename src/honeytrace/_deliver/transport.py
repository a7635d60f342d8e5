"""HTTP to the HoneyHive API: auth, keep-alive, timeouts, retries with backoff, error classes.

One :class:`Transport` per flusher, used from the flusher thread only. Every request runs
inside one overall deadline: 408, 429 and 5xx answers, timeouts and connection errors are
retried with exponential backoff and jitter (or after ``Retry-After``) until it passes; the
waits are ``Event.wait`` calls, so a shutdown cuts them short. The API key appears only in the
``Authorization`` header, never in a message, log line or ``repr``.
"""

from __future__ import annotations

import email.utils
import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from honeytrace._deliver.connection import ConnectionFailed, Connections, Reply, RequestTimedOut
from honeytrace._deliver.exporters import AuthError, RejectedError, RetryableError
from honeytrace._deliver.mask import scrub_message
from honeytrace._version import __version__

__all__ = ["Transport", "backoff_delay", "parse_retry_after"]

_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504}) | frozenset(range(520, 530))
BASE_DELAY = 0.25
MAX_DELAY = 15.0
_SHUTDOWN_RETRY_DELAY = 0.2


def backoff_delay(attempt: int, rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, so that retries
    of many clients spread out yet each one keeps backing off."""
    ceiling = min(MAX_DELAY, BASE_DELAY * (2**attempt))
    return float(ceiling / 2 + rng() * ceiling / 2)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _server_message(reply: Reply, api_key: str | None = None) -> str:
    # A server (or a proxy) may echo the request's key, or another key, in its error: what
    # goes into our log line has the configured key and key-shaped values masked (before it
    # is cut, so that no half key survives at the cut).
    text, limit = _message_text(reply)
    return scrub_message(text[:4096], api_key)[:limit]


def _message_text(reply: Reply) -> tuple[str, int]:
    try:
        body = json.loads(reply.body)
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"]), 500
    text = reply.body.decode("utf-8", "replace").strip().replace("\n", " ")
    return text or reply.reason, 200


class Transport:
    """Sends JSON bodies to the API with retries inside a deadline."""

    def __init__(
        self,
        server_url: str,
        api_key: str | None,
        *,
        timeout: float,
        retry_deadline: float,
        verify: bool = True,
        interrupt: threading.Event | None = None,
        on_retry: Callable[[], None] | None = None,
    ) -> None:
        self._headers = {
            "Content-Type": "application/json",
            "User-Agent": f"honeytrace/{__version__}",
        }
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._api_key = api_key  # only to mask it in server messages (never in repr)
        self.server_url = server_url
        self.retry_deadline = retry_deadline
        self.timeout = timeout
        self.interrupt = interrupt or threading.Event()
        self.hard_deadline: float | None = None
        self._on_retry = on_retry
        self.connections = Connections(server_url, verify=verify)

    def __repr__(self) -> str:
        return f"Transport({self.server_url!r})"

    def request(
        self,
        method: str,
        path: str,
        content: bytes,
        *,
        is_create: bool = False,
        attempts: int | None = None,
    ) -> Any:
        """Send one request, retrying transient failures until the deadline (or ``attempts``).

        Returns the decoded JSON answer (or ``None``). Raises :class:`RetryableError` when
        the deadline passed, :class:`RejectedError` for 400/422 (and other 4xx), and
        :class:`AuthError` for 401/403 or a 404 on a create.
        """
        deadline = time.monotonic() + self.retry_deadline
        if self.hard_deadline is not None:
            deadline = min(deadline, self.hard_deadline)
        attempt = 0
        while True:
            if self.hard_deadline is not None:  # a shutdown began meanwhile: its deadline rules
                deadline = min(deadline, self.hard_deadline)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RetryableError(f"{method} {path}: out of time before sending")
            try:
                reply = self.connections.request(
                    method,
                    path,
                    content,
                    self._headers,
                    timeout=min(self.timeout, max(remaining, 0.05)),
                )
            except RequestTimedOut as exc:
                failure = RetryableError(f"{method} {path}: timed out ({exc})")
            except ConnectionFailed as exc:
                failure = RetryableError(f"{method} {path}: {exc}")
            else:
                if reply.status < 300:
                    return _json_or_none(reply)
                failure = self._classify(reply, method, path, is_create)
            delay = (
                failure.retry_after if failure.retry_after is not None else backoff_delay(attempt)
            )
            if self.hard_deadline is not None:
                delay = min(delay, _SHUTDOWN_RETRY_DELAY)  # shutting down: short, quick tries
            if time.monotonic() + delay >= deadline or (
                attempts is not None and attempt + 1 >= attempts
            ):
                raise failure
            if self.interrupt.wait(delay):
                # Woken by a shutdown: try again at once while its deadline allows, else stop.
                if self.hard_deadline is None or time.monotonic() >= self.hard_deadline:
                    raise failure
                self.interrupt.clear()
            attempt += 1
            if self._on_retry is not None:
                self._on_retry()

    def _classify(self, reply: Reply, method: str, path: str, is_create: bool) -> RetryableError:
        status = reply.status
        if status in (401, 403) or (status == 404 and is_create):
            raise AuthError(
                f"the API at {self.server_url} refused the API key ({status} on {method} "
                f"{path}: {_server_message(reply, self._api_key)})"
            )
        if status in _RETRYABLE_STATUS:
            return RetryableError(
                f"{method} {path}: {status} {_server_message(reply, self._api_key)}",
                retry_after=parse_retry_after(reply.headers.get("retry-after")),
            )
        raise RejectedError(f"{method} {path}: {status} {_server_message(reply, self._api_key)}")

    def close(self) -> None:
        """Close the idle connections."""
        self.connections.close()


def _json_or_none(reply: Reply) -> Any:
    if not reply.body:
        return None
    try:
        return json.loads(reply.body)
    except ValueError:
        return None
