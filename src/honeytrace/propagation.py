"""W3C trace context and baggage across services: ``inject`` on the calling side, ``attach``
(or the ASGI ``HoneytraceMiddleware``) on the called side. The implementation lives in
:mod:`honeytrace.otel.propagation`; this is its public name."""

from honeytrace.otel.propagation import (
    BAGGAGE_PARENT_ID,
    BAGGAGE_SAMPLED,
    BAGGAGE_SESSION_ID,
    HoneytraceMiddleware,
    RemoteParent,
    RemoteSession,
    attach,
    extract,
    inject,
)

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
