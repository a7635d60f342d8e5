"""A fake HoneyHive data-plane API served over real HTTP, with fault injection.

:class:`FakeApi` listens on ``127.0.0.1`` (an ephemeral port, kept across :meth:`FakeApi.stop`
and :meth:`FakeApi.start`) and serves the four routes honeytrace sends to, as strictly as the real
server: ``POST /v1/sessions``, ``POST /v1/sessions/{session_id}/events/batch``,
``PUT /v1/events/{event_id}`` and ``POST /v1/events/batch`` (see ``fake_api_routes``).
Everything it receives is recorded, what
honeytrace promised but broke is listed in :attr:`FakeApi.violations`, and the test thread can
script faults at any time::

    with FakeApi() as api:                     # or the ``fake_api`` fixture
        api.fail_next(2, status=503, retry_after=1, route="batch")
        ...                                    # point honeytrace at api.url with key "test-key"
        assert api.wait_for_events(3)
        assert api.violations == []

A request goes through, in order: the blackhole (held until :meth:`release`), the slow-down, the
next one-shot fault (``fail_next``/``reset_next``/``partial_500_next``, first queued first), the
key check, then the route. So injected faults behave like a proxy in front of the server: they
answer whatever the key, and store nothing (except ``partial_500_next``, which is the server's).
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import pytest

from . import fake_api_routes as routes
from .fake_api_http import DROP, RESET, FakeHttpServer, Huge, Outcome, Trickle
from .fake_api_routes import Reply, error_reply

__all__ = ["ROUTES", "FakeApi", "RecordedRequest", "Route", "fake_api", "fake_api_fixture"]

Route = Literal["sessions", "batch", "update", "events"]
ROUTES: tuple[Route, ...] = ("sessions", "batch", "update", "events")
"""Route names for the ``route=`` filter of the faults (None there means every request)."""

JsonObject = dict[str, Any]
_BATCH_PATH = re.compile(r"/v1/sessions/([^/]+)/events/batch")
_UPDATE_PATH = re.compile(r"/v1/events/([^/]+)")


@dataclass
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str  # without the query string
    headers: dict[str, str]  # names lower-cased
    body: bytes
    json: Any  # the parsed body; None when empty or not JSON
    received_at: float  # time.monotonic() when the request was fully read
    route: Route | None  # None: not one of the four routes
    # The status answered, set just before it is written (a client that gave up may miss it);
    # None while pending, and after a reset or a drop.
    status: int | None = None
    fault: str | None = None  # "blackhole", "slow", "fail", "reset" or "partial_500"


@dataclass
class _Rule:
    """A one-shot fault for the next ``remaining`` requests of ``route``."""

    kind: Literal["fail", "reset", "partial_500", "trickle", "huge"]
    remaining: int
    route: Route | None
    reply: Reply | None = None
    interval: float = 0.0  # trickle: seconds between bytes
    size: int = 0  # huge: body bytes


def _classify(method: str, path: str) -> tuple[Route | None, str]:
    if method == "POST" and path == "/v1/sessions":
        return "sessions", ""
    if method == "POST" and (match := _BATCH_PATH.fullmatch(path)):
        return "batch", unquote(match.group(1))
    if method == "POST" and path == "/v1/events/batch":
        return "events", ""
    if method == "PUT" and (match := _UPDATE_PATH.fullmatch(path)):
        return "update", unquote(match.group(1))
    return None, ""


def _check_route(route: str | None) -> None:
    if route is not None and route not in ROUTES:
        raise ValueError(f"route must be None or one of {ROUTES}, not {route!r}")


class FakeApi:
    """The fake HoneyHive API: a context manager; :meth:`start` returns ``self``.

    ``api_key`` is the only key accepted (``Authorization: Bearer <key>``); a wrong or missing
    key is answered ``bad_key_status``: 401, or 404 as the hosted service now does. Both are
    plain attributes a test may change at any time. State and faults survive :meth:`stop`.
    """

    def __init__(
        self,
        api_key: str = "test-key",
        *,
        bad_key_status: int = 401,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.api_key = api_key
        self.tls = tls
        self.huge_answers: list[Huge] = []  # the huge answers given, with how much was written
        self.bad_key_status = bad_key_status
        # An RLock, so that a wait_for() predicate may read the public properties.
        self._cond = threading.Condition(threading.RLock())
        self._store = routes.Store()
        self._requests: list[RecordedRequest] = []
        self._rules: list[_Rule] = []
        self._holes: set[Route | None] = set()
        self._hold_limit = 60.0
        self._releases = 0
        self._delays: dict[Route | None, float] = {}
        self._poison: tuple[Callable[[RecordedRequest], bool], int] | None = None
        self._connections = 0
        self._port = 0
        self._server: FakeHttpServer | None = None
        self._life = threading.Lock()
        self._closed = False

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeApi:
        """Listen (again, on the same port after :meth:`stop`); a no-op when listening."""
        with self._life:
            if self._closed:
                raise RuntimeError("FakeApi was closed")
            if self._server is None:
                server = FakeHttpServer(self._port, self, self.tls)
                self._port = server.server_address[1]
                threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.02},  # bounds how long stop() waits for the loop
                    name=f"fake-api:{self._port}",
                    daemon=True,
                ).start()
                self._server = server
        return self

    def stop(self) -> None:
        """An outage: the port refuses connections, open ones are cut, and requests held by the
        blackhole or the slow-down are dropped unanswered. :meth:`start` brings it back."""
        with self._life:
            server, self._server = self._server, None
        if server is None:
            return
        server.halt()
        with self._cond:
            self._cond.notify_all()  # held requests see server.stopping and give up

    def close(self) -> None:
        """Stop for good; prompt even with requests held (every wait in here has a deadline)."""
        self.stop()
        with self._life:
            self._closed = True

    def __enter__(self) -> FakeApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        """The port, fixed by the first :meth:`start`."""
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (``https`` with TLS), the ``server_url`` to give
        honeytrace."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self._port}"

    @property
    def running(self) -> bool:
        """True while listening."""
        return self._server is not None

    # --- state (snapshots, safe to read from any thread) --------------------------------------

    @property
    def sessions(self) -> dict[str, JsonObject]:
        """Session events by ``session_id``, as the server answers them."""
        with self._cond:
            return {key: dict(value) for key, value in self._store.sessions.items()}

    @property
    def events(self) -> dict[str, JsonObject]:
        """Stored (non-session) events by ``event_id``, in arrival order, with ``session_id``."""
        with self._cond:
            return {key: dict(value) for key, value in self._store.events.items()}

    @property
    def event_count(self) -> int:
        """``len(events)`` without the copy."""
        with self._cond:
            return len(self._store.events)

    @property
    def duplicate_event_ids(self) -> list[str]:
        """Every ``event_id`` received again after it was stored (once per repeat)."""
        with self._cond:
            return list(self._store.duplicate_event_ids)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order (faulted ones included)."""
        with self._cond:
            return list(self._requests)

    @property
    def violations(self) -> list[str]:
        """Breaches of honeytrace's promises, each starting with a stable tag: ``batch before
        session create``, ``non-int time``, ``null field``, ``non-uuid session_id``, ``missing
        or non-uuid event_id``, ``missing parent_id``, ``session_id mismatch``, ``update
        extras``, ``update of unknown event``, ``content-type``, ``user-agent``, ``unknown
        route``, and ``fake api error`` (an exception in the fake or in a test's predicate)."""
        with self._cond:
            return list(self._store.violations)

    @property
    def connection_count(self) -> int:
        """TCP connections accepted so far (keep-alive keeps this low)."""
        with self._cond:
            return self._connections

    def events_for(self, session_id: str) -> list[JsonObject]:
        """The stored events of one session, in arrival order."""
        with self._cond:
            return [dict(e) for e in self._store.events.values() if e["session_id"] == session_id]

    def requests_for(self, route: Route | None) -> list[RecordedRequest]:
        """The recorded requests of one route (None: those matching no route)."""
        with self._cond:
            return [request for request in self._requests if request.route == route]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait until ``predicate()`` is true; False after ``timeout`` seconds.

        It is re-checked (under the lock) whenever the server's state changes; also every 0.1 s,
        so that a predicate may look at client-side state too.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.1))
        return True

    def wait_for_events(self, n: int, timeout: float = 10.0) -> bool:
        """Wait until at least ``n`` events are stored."""
        return self.wait_for(lambda: len(self._store.events) >= n, timeout)

    def wait_for_requests(self, n: int, route: Route | None = None, timeout: float = 10.0) -> bool:
        """Wait until at least ``n`` requests (of ``route``, or of any route) have arrived."""
        _check_route(route)
        return self.wait_for(
            lambda: sum(route is None or r.route == route for r in self._requests) >= n, timeout
        )

    # --- faults (callable from any thread, at any time) ---------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        *,
        retry_after: float | str | datetime | None = None,
        route: Route | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``n`` matching requests with ``status``, storing nothing.

        ``retry_after``: seconds (an int is sent as is, a float as a decimal), an HTTP-date
        string, or an aware datetime. ``body``: None for the server's JSON error shape, a dict
        or list for another JSON body, a str or bytes sent as ``text/html`` (a proxy's page).
        ``headers``: more answer headers (``Location`` for a redirect, say).
        """
        _check_route(route)
        reply = routes.injected_reply(status, retry_after, body)
        reply.headers.update(headers or {})
        self._add_rule(_Rule("fail", n, route, reply))

    def trickle_next(
        self, n: int = 1, *, interval: float = 0.2, status: int = 200, route: Route | None = None
    ) -> None:
        """Answer the next ``n`` matching requests (storing nothing) one byte every
        ``interval`` seconds: each read gets a byte, so only a deadline on the whole request
        ends it."""
        _check_route(route)
        reply = routes.injected_reply(status, None, None)
        self._add_rule(_Rule("trickle", n, route, reply, interval=interval))

    def huge_next(
        self,
        n: int = 1,
        *,
        size: int = 1536 * 1024 * 1024,
        status: int = 500,
        route: Route | None = None,
    ) -> None:
        """Answer the next ``n`` matching requests with ``status`` and a ``size``-byte body
        (1.5 GB by default), written for as long as the client reads (:attr:`huge_answers`)."""
        _check_route(route)
        self._add_rule(_Rule("huge", n, route, Reply(status, b""), size=size))

    def reset_next(self, n: int = 1, route: Route | None = None) -> None:
        """Read the next ``n`` matching requests, then reset the connection (RST, no answer)."""
        _check_route(route)
        self._add_rule(_Rule("reset", n, route))

    def partial_500_next(self, n: int = 1, route: Route = "batch") -> None:
        """The next ``n`` batches (``route`` "batch" or "events") store their first half
        (rounded up), then answer 500: the yaml's "events partially added". Proves a retried
        batch does not duplicate."""
        self._add_rule(_Rule("partial_500", n, route))

    def blackhole(self, route: Route | None = None, *, hold_limit: float = 60.0) -> None:
        """Read matching requests and do not answer them.

        On :meth:`release` each held request goes on (slow-down, faults, key, route) and is
        answered normally, even if the client has given up by then: that is the "server did
        it but the client never heard" case a retry must not duplicate. On :meth:`stop` or
        :meth:`close`, or after ``hold_limit`` seconds, held requests are dropped unanswered.
        """
        _check_route(route)
        with self._cond:
            self._holes.add(route)
            self._hold_limit = hold_limit

    def release(self) -> None:
        """End every blackhole and let the held requests through."""
        with self._cond:
            self._holes.clear()
            self._releases += 1
            self._cond.notify_all()

    def slow(self, seconds: float, route: Route | None = None) -> None:
        """Delay every later answer (of ``route``; None: all) by ``seconds``; 0 ends it. A
        route's own delay wins over the all-routes one. The request is applied after the delay;
        :meth:`stop` drops a delayed request unanswered."""
        _check_route(route)
        with self._cond:
            if seconds > 0:
                self._delays[route] = seconds
            else:
                self._delays.pop(route, None)

    def fail_where(
        self, predicate: Callable[[RecordedRequest], bool] | None, status: int = 500
    ) -> None:
        """Answer ``status`` to every request for which ``predicate`` is true (after the
        one-shot faults), storing nothing: a request the server can never take. None ends it."""
        with self._cond:
            self._poison = None if predicate is None else (predicate, status)

    def reject_events_where(self, predicate: Callable[[JsonObject], bool] | None) -> None:
        """Answer 400 to a whole batch holding an event (the raw dict) for which ``predicate``
        is true, naming the event ids, and store none of it, as the real server does; None ends
        it."""
        with self._cond:
            self._store.reject_event = predicate

    def clear_faults(self) -> None:
        """Forget every pending fault and release the blackhole."""
        with self._cond:
            self._rules.clear()
            self._delays.clear()
            self._store.reject_event = None
            self._poison = None
        self.release()

    def _add_rule(self, rule: _Rule) -> None:
        if rule.remaining > 0:
            with self._cond:
                self._rules.append(rule)

    # --- the App protocol of fake_api_http ----------------------------------------------------

    def connected(self) -> None:
        """Count a new connection (see :attr:`connection_count`)."""
        with self._cond:
            self._connections += 1
            self._cond.notify_all()

    def serve(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        stopping: threading.Event,
    ) -> Outcome:
        """Record the request, decide its outcome, and record the status before it is written
        (so a client that has its answer always finds it in :attr:`requests`)."""
        path = urlsplit(target).path
        route, path_id = _classify(method, path)
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        record = RecordedRequest(
            method=method,
            path=path,
            headers={name.lower(): value for name, value in headers.items()},
            body=body,
            json=payload,
            received_at=time.monotonic(),
            route=route,
        )
        with self._cond:
            self._requests.append(record)
            routes.check_headers(self._store, method, path, record.headers)
            self._cond.notify_all()
            try:
                outcome = self._decide(record, path_id, stopping)
            except Exception as exc:  # a bug here, or in a test's predicate: make it loud
                self._store.violation(f"fake api error: {record.method} {path}: {exc!r}")
                outcome = error_reply(500, f"fake api error: {exc!r}")
            record.status = outcome.status if isinstance(outcome, Reply) else None
            self._cond.notify_all()
        return outcome

    def _decide(self, record: RecordedRequest, path_id: str, stopping: threading.Event) -> Outcome:
        """Blackhole, slow-down, one-shot fault, key, route: in that order (lock held)."""
        if not self._pass_blackhole(record, stopping) or not self._pass_delay(record, stopping):
            return DROP
        rule = next((r for r in self._rules if r.route in (None, record.route)), None)
        if rule is not None:
            rule.remaining -= 1
            if rule.remaining == 0:
                self._rules.remove(rule)
            record.fault = rule.kind
            if rule.kind == "reset":
                return RESET
            if rule.kind == "trickle" and rule.reply is not None:
                return Trickle(rule.reply, rule.interval)
            if rule.kind == "huge":
                huge = Huge(500 if rule.reply is None else rule.reply.status, rule.size)
                self.huge_answers.append(huge)
                return huge
            if rule.reply is not None:
                return rule.reply
        if self._poison is not None and self._poison[0](record):
            record.fault = "fail"
            return error_reply(self._poison[1], "injected: this request always fails")
        if record.headers.get("authorization") != f"Bearer {self.api_key}":
            return error_reply(self.bad_key_status, "invalid or missing API key")
        return self._dispatch(record, path_id, partial=rule is not None)

    def _pass_blackhole(self, record: RecordedRequest, stopping: threading.Event) -> bool:
        """Hold the request while its route is blackholed; False when it is to be dropped."""
        if not self._holes & {None, record.route}:
            return True
        record.fault = "blackhole"
        releases = self._releases
        released = self._cond.wait_for(
            lambda: self._releases != releases or stopping.is_set(), self._hold_limit
        )
        return released and not stopping.is_set()

    def _pass_delay(self, record: RecordedRequest, stopping: threading.Event) -> bool:
        """Wait out the slow-down (the lock is released meanwhile); False if stopped."""
        delay = self._delays.get(record.route) or self._delays.get(None)
        if not delay:
            return True
        record.fault = "slow"
        return not self._cond.wait_for(stopping.is_set, delay)

    def _dispatch(self, record: RecordedRequest, path_id: str, *, partial: bool) -> Reply:
        if record.route is None:
            self._store.violation(f"unknown route: {record.method} {record.path}")
            return error_reply(404, f"Cannot {record.method} {record.path}")
        if record.json is None:
            return error_reply(400, "request body must be a JSON object")
        if record.route == "sessions":
            return routes.create_session(self._store, record.json)
        if record.route == "batch":
            return routes.add_batch(self._store, path_id, record.json, partial=partial)
        if record.route == "events":
            return routes.add_event_batch(self._store, record.json, partial=partial)
        return routes.update_event(self._store, path_id, record.json)


@pytest.fixture(name="fake_api")
def fake_api_fixture() -> Iterator[FakeApi]:
    """The ``fake_api`` fixture: a started :class:`FakeApi` (key ``test-key``), closed after the
    test. Import ``fake_api_fixture`` (or its alias ``fake_api``) into a conftest or test module
    to use it; the first name keeps ruff's F811 quiet where a test takes ``fake_api``."""
    with FakeApi() as api:
        yield api


fake_api = fake_api_fixture
