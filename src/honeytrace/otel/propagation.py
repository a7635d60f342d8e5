"""Sessions across services: carry the session and the parent event over HTTP.

The caller adds headers to its request; the service it calls attaches them around the
request's handling, and the events it records there join the caller's session, under the
caller's event::

    # the caller (an httpx event hook does it for every request)
    headers = honeytrace.otel.propagation.inject({})
    httpx.post(url, json=body, headers=headers)

    # the service called (or use HoneytraceMiddleware on any ASGI app)
    with honeytrace.otel.propagation.attach(request.headers):
        handle(request)

On the wire this is W3C Trace Context and Baggage: ``traceparent`` (the current OpenTelemetry
span when there is one, so OTel traces continue too; otherwise made from the session and event
ids) and ``baggage`` entries ``honeytrace.session_id`` and ``honeytrace.parent_id`` (plus
``honeytrace.sampled=0`` for a session that sampling dropped, so the callee drops its part too).
A request without those baggage entries is not joined to anything.

The service called never creates, ends or updates the caller's session or event: it only sends
its own events, into the caller's session. Attach only headers of callers you trust: whoever
can send them can add events to a session whose id they know.

Both sides in one process (a service calling itself, a worker thread handed the headers): the
session injected is live here, so :func:`attach` joins that very session and event, and the
attached side's events go out with it, after its create. For a session another service owns,
a batch answered "session not found" (its create is on its way) is retried within the
deadline, not dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from contextvars import Token
from types import TracebackType
from typing import Any
from urllib.parse import unquote

from honeytrace._errors import guarded, log_once
from honeytrace._record import state
from honeytrace._record.context import current, reset_current, set_current
from honeytrace._record.signature import Spec
from honeytrace._record.span import Event, Session

__all__ = [
    "BAGGAGE_PARENT_ID",
    "BAGGAGE_SAMPLED",
    "BAGGAGE_SESSION_ID",
    "HoneytraceMiddleware",
    "RemoteParent",
    "RemoteSession",
    "attach",
    "extract",
    "inject",
]

BAGGAGE_SESSION_ID = "honeytrace.session_id"
BAGGAGE_PARENT_ID = "honeytrace.parent_id"
BAGGAGE_SAMPLED = "honeytrace.sampled"
_OURS = (BAGGAGE_SESSION_ID, BAGGAGE_PARENT_ID, BAGGAGE_SAMPLED)

_LOCAL_LIMIT = 256
_injected: dict[str, Event] = {}
"""Events of this process whose ids went into headers, by event id, oldest first, while their
session is open (bounded): what attach() joins in this process. No lock (inject runs on the
app's threads, maybe in a signal handler): single dict operations are atomic in CPython, and
a race at worst forgets an entry, which attach then treats as another service's."""

Headers = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]
"""A mapping (``request.headers``, a dict) or ASGI-style ``(name, value)`` pairs."""


class RemoteSession(Session):
    """The caller's session, seen from a service it called: this service's events join it.

    It is never created, ended or updated from here (the caller does that), so it has no
    effect of its own: enriching it is ignored with a warning.
    """

    __slots__ = ()
    remote = True

    def __init__(self, session_id: str, *, sampled: bool = True) -> None:
        super().__init__(Spec("remote session", "session"), session_id=session_id, sampled=sampled)
        self.end = self.start  # not open here: nothing at exit may close it

    def begin(self, parent: Event | None = None) -> None:
        """Nothing: the caller opened this session."""

    def finish(self, error: BaseException | str | None = None) -> None:
        """Nothing: the caller ends this session."""

    def enrich(self, *args: Any, **kwargs: Any) -> None:
        """Ignored (logged once): enrich the session in the service that owns it."""
        _not_here()

    def set_outputs(self, value: Any) -> None:
        """Ignored (logged once)."""
        _not_here()

    def set_error(self, error: BaseException | str) -> None:
        """Ignored (logged once)."""
        _not_here()


class RemoteParent(Event):
    """The caller's event, seen from a service it called: the parent of the events this
    service records at the top of a request. Its id is the caller's, exactly as sent."""

    __slots__ = ("_remote_id",)
    remote = True

    def __init__(self, session: RemoteSession, event_id: str) -> None:
        super().__init__(Spec("remote parent", "chain"), None)
        self.session = session
        self._remote_id = event_id
        self._id = uuid.UUID(event_id).int
        self.end = self.start  # not open here: nothing at exit may close or send it

    @property
    def event_id(self) -> str:
        """The caller's event id, unchanged."""
        return self._remote_id

    def enrich(self, *args: Any, **kwargs: Any) -> None:
        """Ignored (logged once): enrich the event in the service that owns it."""
        _not_here()

    def set_outputs(self, value: Any) -> None:
        """Ignored (logged once)."""
        _not_here()

    def set_error(self, error: BaseException | str) -> None:
        """Ignored (logged once)."""
        _not_here()


def _not_here() -> None:
    log_once(
        "remote-enrich",
        30,
        "honeytrace: the session and event of a calling service cannot be changed from the "
        "service it called; enrich your own events, or enrich them in the caller",
    )


# -- the caller's side -----------------------------------------------------------------------


def inject(headers: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Add ``traceparent`` and ``baggage`` for the current event to ``headers`` (a new dict
    when None) and return them; outside any session they are returned unchanged."""
    if headers is None:
        headers = {}
    _inject(headers)
    return headers


@guarded
def _inject(headers: MutableMapping[str, str]) -> None:
    event = current()
    if event is None:
        return
    session = event.session
    from opentelemetry import trace

    if trace.get_current_span().get_span_context().is_valid:
        from opentelemetry import propagate  # the application's propagators (tracestate, ...)

        propagate.inject(headers)
    else:
        from honeytrace.otel.export_attributes import otel_span_id, otel_trace_id

        trace_id, span_id = otel_trace_id(session.session_id), otel_span_id(event.event_id)
        flags = "01" if session.sampled else "00"
        _set(headers, "traceparent", f"00-{trace_id}-{span_id}-{flags}")
    entries = [
        f"{BAGGAGE_SESSION_ID}={session.session_id}",
        f"{BAGGAGE_PARENT_ID}={event.event_id}",
    ]
    if not session.sampled:
        entries.append(f"{BAGGAGE_SAMPLED}=0")
    if not session.remote:
        _remember(event)
    kept = [
        entry
        for entry in (_get(headers, "baggage") or "").split(",")
        if entry.strip() and entry.split("=", 1)[0].strip() not in _OURS
    ]
    _set(headers, "baggage", ",".join([*kept, *entries]))


def _remember(event: Event) -> None:
    _injected.pop(event.event_id, None)
    _injected[event.event_id] = event  # the newest last
    if len(_injected) > _LOCAL_LIMIT // 2:
        for key, known in list(_injected.items()):
            if known.session.end:  # its session ended: attaching to it would send nothing
                _injected.pop(key, None)
    while len(_injected) > _LOCAL_LIMIT:
        try:
            _injected.pop(next(iter(_injected)), None)
        except (StopIteration, RuntimeError):  # emptied or changed by another thread
            break


def _live_here(parent: RemoteParent) -> Event | None:
    """The event of this process that ``parent`` names, while its session is open here."""
    event = _injected.get(parent.event_id)
    if event is None or event.session.end:
        return None
    return event if event.session.session_id == parent.session.session_id else None


# -- the called side -------------------------------------------------------------------------


def extract(headers: Headers) -> RemoteParent | None:
    """The caller's event described by ``headers``, or None when they carry no honeytrace
    baggage (or a malformed one)."""
    return _extract(_lowered(headers))


def _extract(headers: Mapping[str, str]) -> RemoteParent | None:
    entries = _baggage(headers.get("baggage", ""))
    session_id = entries.get(BAGGAGE_SESSION_ID)
    if not session_id:
        return None
    parent_id = entries.get(BAGGAGE_PARENT_ID) or session_id
    try:
        session_id, parent_id = str(uuid.UUID(session_id)), str(uuid.UUID(parent_id))
    except ValueError:
        log_once("bad-baggage", 30, "honeytrace: ignoring malformed honeytrace baggage")
        return None
    sampled = entries.get(BAGGAGE_SAMPLED, "1") != "0" and state.host.enabled_at_root()
    return RemoteParent(RemoteSession(session_id, sampled=sampled), parent_id)


class attach:
    """Run a block as part of the caller's session described by ``headers``: events recorded
    inside are children of the caller's event. Works as ``with`` and ``async with``; the
    value bound by ``as`` is the :class:`RemoteParent` (None when the headers carry no
    honeytrace baggage, and the block then runs as usual). When the caller's session is open
    in this very process, the block joins that session and event themselves.

    When no OpenTelemetry span is current (no server instrumentation), the caller's
    ``traceparent`` is attached too, so OTel spans made inside continue the caller's trace.
    """

    def __init__(self, headers: Headers) -> None:
        self._headers = headers
        self._token: Token[Event | None] | None = None
        self._otel_token: Any = None
        self.parent: RemoteParent | None = None

    def __enter__(self) -> RemoteParent | None:
        self._open()
        return self.parent

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()

    async def __aenter__(self) -> RemoteParent | None:
        self._open()
        return self.parent

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()

    @guarded
    def _open(self) -> None:
        headers = _lowered(self._headers)
        self.parent = _extract(headers)
        if self.parent is not None:
            # The caller's own session, live here: join it, so that its create goes first.
            self._token = set_current(_live_here(self.parent) or self.parent)
        if "traceparent" in headers:
            from opentelemetry import baggage, context, propagate, trace

            if not trace.get_current_span().get_span_context().is_valid:
                extracted = propagate.extract(headers)
                for key in _OURS:  # stale past this hop: inject() writes the current ones
                    extracted = baggage.remove_baggage(key, extracted)
                self._otel_token = context.attach(extracted)

    @guarded
    def _close(self) -> None:
        if self._otel_token is not None:
            from opentelemetry import context

            token, self._otel_token = self._otel_token, None
            context.detach(token)
        if self._token is not None:
            token, self._token = self._token, None
            reset_current(token, None)


class HoneytraceMiddleware:
    """ASGI middleware (Starlette, FastAPI, any ASGI app): each HTTP or WebSocket request from a
    trusted caller runs inside :func:`attach` of its headers::

        middleware = [Middleware(HoneytraceMiddleware, trust_incoming=True)]
        app = Starlette(routes=..., middleware=middleware)
        app.add_middleware(HoneytraceMiddleware, trust_incoming=["10.0.0.0/8"])  # FastAPI

    Incoming context is ignored unless ``trust_incoming`` says the caller is trusted: whoever
    sends the headers chooses the session their events join (any session whose id they know)
    and can turn tracing off for their own requests (``honeytrace.sampled=0``), so a public
    endpoint must not obey them. ``trust_incoming`` is

    - ``False`` (the default): no caller; each request is traced as usual, in its own session;
    - ``True``: every caller (a service reachable only by your own services);
    - client addresses or networks (``["10.0.0.0/8", "127.0.0.1"]``), matched against the
      ASGI ``client`` address: the direct peer, so a proxy in front makes every request its own;
    - a function of the ASGI scope returning True for a trusted request (check a header that
      only your gateway sets, an mTLS identity, ...). If it raises, the request is untrusted.

    A request whose honeytrace baggage is ignored is logged once. At the end of the app's
    lifespan the middleware also delivers what is pending (within ``exit_timeout``): uvicorn
    ends on SIGTERM by re-raising it with the default handler, which skips ``atexit``.
    """

    def __init__(
        self,
        app: Any,
        *,
        trust_incoming: bool | Iterable[str] | Callable[[Mapping[str, Any]], bool] = False,
    ) -> None:
        self.app = app
        self._trusted = _trust_rule(trust_incoming)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Handle one ASGI call."""
        kind = scope.get("type")
        if kind == "lifespan":
            await self.app(scope, receive, _flushing_at_shutdown(send))
        elif kind in ("http", "websocket"):
            headers = scope.get("headers") or ()
            if self._trusted(scope):
                with attach(headers):
                    await self.app(scope, receive, send)
            else:
                _note_ignored(scope, headers)
                await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _trust_rule(
    trust: bool | Iterable[str] | Callable[[Mapping[str, Any]], bool],
) -> Callable[[Mapping[str, Any]], bool]:
    """``trust_incoming`` as a predicate on the ASGI scope; a bad value is a ConfigError."""
    import ipaddress

    from honeytrace._config import ConfigError

    if isinstance(trust, bool):
        return (lambda scope: True) if trust else (lambda scope: False)
    if callable(trust):
        decide = trust

        def trusted(scope: Mapping[str, Any]) -> bool:
            try:
                return bool(decide(scope))
            except Exception:
                log_once("trust-raised", 30, "honeytrace: the trust_incoming function raised")
                return False

        return trusted
    if isinstance(trust, str):
        trust = [trust]  # one network given alone
    try:
        networks = [ipaddress.ip_network(str(entry), strict=False) for entry in trust]
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"trust_incoming: expected True/False, client networks such as ['10.0.0.0/8'] "
            f"or a function of the ASGI scope ({exc})"
        ) from None

    def from_network(scope: Mapping[str, Any]) -> bool:
        client = scope.get("client")
        if not client:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:  # a unix socket path, a test client's name
            return False
        return any(address in network for network in networks)

    return from_network


def _note_ignored(scope: Mapping[str, Any], headers: Iterable[tuple[Any, Any]]) -> None:
    for name, value in headers:
        if name.lower() in (b"baggage", "baggage") and b"honeytrace." in (
            value if isinstance(value, bytes) else str(value).encode("latin-1", "replace")
        ):
            client = (scope.get("client") or ("an unknown address",))[0]
            log_once(
                "baggage-untrusted",
                30,
                "honeytrace: HoneytraceMiddleware ignored the honeytrace baggage of a request "
                "from %s: incoming context is obeyed only from trusted callers "
                "(HoneytraceMiddleware(app, trust_incoming=...))",
                client,
            )
            return


def _flushing_at_shutdown(send: Any) -> Any:
    async def send_after_flush(message: Any) -> None:
        if message.get("type") == "lifespan.shutdown.complete":
            await state.host.flush_async()
        await send(message)

    return send_after_flush


# -- headers --------------------------------------------------------------------------------


def _lowered(headers: Headers) -> dict[str, str]:
    pairs: Iterable[tuple[Any, Any]] = headers.items() if isinstance(headers, Mapping) else headers
    lowered: dict[str, str] = {}
    for name, value in pairs:
        key = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        key = key.lower()
        # Repeated baggage headers are one list (RFC 9110 field combination).
        lowered[key] = f"{lowered[key]},{text}" if key in lowered else text
    return lowered


def _baggage(header: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    for entry in header.split(","):
        name, sep, value = entry.partition("=")
        if sep:
            entries[name.strip()] = unquote(value.split(";", 1)[0].strip())
    return entries


def _get(headers: MutableMapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    for key, found in headers.items():  # a plain dict with other capitalisation
        if key.lower() == name:
            return found
    return None


def _set(headers: MutableMapping[str, str], name: str, value: str) -> None:
    for key in [key for key in headers if key.lower() == name and key != name]:
        del headers[key]
    headers[name] = value
