"""HTTP to the HoneyHive API: auth, keep-alive, timeouts, retries with backoff, error classes.

One :class:`Transport` per flusher, used from the flusher thread only. Every request runs
inside one overall deadline: 408, 429 and 5xx answers, timeouts and connection errors are
retried with exponential backoff and jitter (or after ``Retry-After``) until it passes; the
waits are ``Event.wait`` calls, so a shutdown cuts them short. The API key appears only in the
``Authorization`` header, never in a message, log line or ``repr``.

What is *not* retried, and why:
- 400/422 and other 4xx: the body itself is refused (``rejected``).
- 401/403 on anything but a session create: that request alone is refused (a WAF rule, a
  route the key may not use): ``forbidden``, never a verdict on the key.
- A refused key is declared only on session creates, repeated: a create answered 401/403/404
  is tried once more; refused again (or refused on 2 creates in a row), the key is bad
  (:class:`AuthError`). Once the key has worked in this process, it takes 3 creates refused
  in a row with no success between.
- A TLS certificate that does not verify (``tls``) and a 3xx (``redirect``, not followed: the
  key would go wherever it points) are permanent: one clear line, no retries.
- 404 on an event batch means "session not found": the session may have been created by
  another service an instant ago (propagation), so it is retried within the deadline.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from honeytrace._deliver.connection import (
    CertificateFailed,
    ConnectionFailed,
    Connections,
    Reply,
    RequestTimedOut,
)
from honeytrace._deliver.exporters import AuthError, RejectedError, RetryableError
from honeytrace._deliver.mask import scrub_message
from honeytrace._version import __version__

__all__ = ["Transport", "backoff_delay", "parse_retry_after"]

_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504}) | frozenset(range(520, 530))
BASE_DELAY = 0.25
MAX_DELAY = 15.0
_SHUTDOWN_RETRY_DELAY = 0.2
_AUTH_STRIKES = 2  # create refusals in a row that mean a bad key (never worked yet)
_AUTH_STRIKES_PROVEN = 3  # the same once the key has worked in this process
_BATCH_PATH = re.compile(r"/v1/sessions/([^/]+)/events/batch")
# An answer names events when it points at one by position ("events.3.inputs", "events[3]")
# or by a UUID other than the session's own.
_EVENT_POSITION = re.compile(r"\bevents?\s*(?:\.|\[)\s*\d+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


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
        self._auth_lock = threading.Lock()
        self._auth_strikes = 0  # session creates refused in a row (401/403/404)
        self._key_worked = False  # some request was accepted with this key

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
        the deadline passed, :class:`RejectedError` when this request is refused for good
        (see the module's notes), and :class:`AuthError` when session creates are refused
        again and again (a bad key).
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
            except CertificateFailed as exc:
                raise RejectedError(
                    f"{self.server_url}: {exc}; nothing can be sent there until the server's "
                    "certificate is trusted (install its CA, or verify_tls=False on a network "
                    "you trust)",
                    reason="tls",
                ) from None
            except ConnectionFailed as exc:
                failure = RetryableError(f"{method} {path}: {exc}")
            else:
                if reply.status < 300:
                    self._accepted()
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

    def _accepted(self) -> None:
        if not self._key_worked or self._auth_strikes:
            with self._auth_lock:
                self._key_worked = True
                self._auth_strikes = 0

    def _classify(self, reply: Reply, method: str, path: str, is_create: bool) -> RetryableError:
        """The error for a failed answer: returned when it may be retried, raised when not."""
        status = reply.status
        message = _server_message(reply, self._api_key)
        where = f"{method} {path}: {status} {message}"
        if is_create and status in (401, 403, 404):
            return self._refused_create(status, where)
        if status in (401, 403):
            raise RejectedError(
                f"{where} (refused for this request only; other requests go on)",
                reason="forbidden",
            )
        if 300 <= status < 400:
            target = reply.headers.get("location") or "nowhere (no Location header)"
            raise RejectedError(
                f"the API at {self.server_url} answered {status} to {method} {path}, pointing "
                f"to {_without_credentials(target)}; not followed (the API key would go "
                "there): set HH_API_URL to the address the API really has",
                reason="redirect",
            )
        if status == 404 and (match := _BATCH_PATH.fullmatch(path)):
            # "Session not found": created by another service, or just now; worth a retry.
            return RetryableError(where, answered=True)
        if status in _RETRYABLE_STATUS:
            return RetryableError(
                where,
                retry_after=parse_retry_after(reply.headers.get("retry-after")),
                answered=True,
            )
        session_id = match.group(1) if (match := _BATCH_PATH.fullmatch(path)) else None
        raise RejectedError(where, names_events=_names_events(message, session_id))

    def _refused_create(self, status: int, where: str) -> RetryableError:
        """A session create refused as if the key were bad: only a repeat says it is."""
        with self._auth_lock:
            self._auth_strikes += 1
            strikes = self._auth_strikes
            limit = _AUTH_STRIKES_PROVEN if self._key_worked else _AUTH_STRIKES
        if strikes >= limit:
            raise AuthError(f"the API at {self.server_url} refused the API key ({where})")
        if self._key_worked:  # the key works: this create alone is refused
            raise RejectedError(f"{where} (session create refused)", reason="forbidden")
        # Never worked yet: once more, to tell a bad key from a passing refusal.
        return RetryableError(where, answered=True)

    def close(self) -> None:
        """Close the idle connections."""
        self.connections.close()


def _names_events(message: str, session_id: str | None) -> bool:
    if _EVENT_POSITION.search(message):
        return True
    return any(found.lower() != session_id for found in _UUID.findall(message))


def _without_credentials(url: str) -> str:
    head, at, tail = url.partition("@")
    if at and "://" in head and "/" not in head.split("://", 1)[1]:
        return f"{head.split('://', 1)[0]}://{tail}"
    return url[:300]


def _json_or_none(reply: Reply) -> Any:
    if not reply.body:
        return None
    try:
        return json.loads(reply.body)
    except ValueError:
        return None
