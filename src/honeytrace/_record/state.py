"""What the recording layer needs from the process around it, handed in by the runtime.

The hot path reads one plain module global here (``enabled``). The rest is the narrow door to
the runtime: whether a call outside any session is traced, the sample rate, "a session began"
(start the flusher) and "flush now". :mod:`honeytrace._runtime` installs its :class:`Host` at
import, so this layer never imports the runtime or the delivery side (arrows point one way).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Protocol

from honeytrace._record import buffer
from honeytrace._record.buffer import Update

if TYPE_CHECKING:
    from honeytrace._config import Config
    from honeytrace._record.signature import Spec
    from honeytrace._record.span import Event, Session

__all__ = [
    "Host",
    "enabled",
    "implicit_session",
    "install",
    "new_session",
    "record",
    "record_update",
    "session_closed",
]

enabled = True
"""Read by every decorated call; False makes decorators pass through."""

exiting = False
"""Set once honeytrace's own exit hook has delivered: what is recorded after it (an ``atexit``
hook registered before honeytrace's runs after it) is delivered as each session ends."""


class Host(Protocol):
    """The runtime, as the recording layer sees it."""

    def config(self) -> Config:
        """The current configuration (resolved at first use)."""

    def enabled_at_root(self) -> bool:
        """Whether a call outside any session is traced now."""

    def session_opened(self) -> None:
        """A session began: the flusher must run."""

    def flush(self, timeout: float) -> bool:
        """Deliver everything recorded so far, within ``timeout`` seconds."""

    def flush_now(self) -> bool:
        """The flush of ``@trace_session(flush=True)``, bounded by ``exit_timeout``."""

    async def flush_async(self) -> bool:
        """:meth:`flush_now` without blocking the event loop."""

    def deliver_late(self) -> None:
        """A session ended after honeytrace's exit hook ran: deliver it now, on this thread,
        within what is left of ``exit_timeout``."""


host: Host
"""Set by :func:`install` when :mod:`honeytrace._runtime` is imported (``import honeytrace``)."""


def install(runtime: Host) -> None:
    """Hand the recording layer its runtime."""
    global host
    host = runtime


def new_session(spec: Spec, session_id: str | None = None, source: str | None = None) -> Session:
    """A session object, sampled according to ``sample_rate``."""
    from honeytrace._record.span import Session  # span imports this module

    rate = host.config().sample_rate
    # A disabled tracer still hands out working session objects; they just record nothing.
    sampled = host.enabled_at_root() and (rate >= 1.0 or random.random() < rate)
    return Session(spec, session_id=session_id, source=source, sampled=sampled)


def implicit_session(name: str) -> Session:
    """The session opened around a traced call made outside any session."""
    from honeytrace._record.signature import Spec

    return new_session(Spec(name, "session"))


def session_closed(session: Session) -> None:
    """A session ended: it is now an event to deliver."""
    if session.sampled:
        buffer.record_session(session)
        if exiting:
            host.deliver_late()


def record(span: Event) -> None:
    """Hand a finished span to the flusher (spans of unsampled sessions are not kept)."""
    if span.session.sampled:
        buffer.record(span)


def record_update(span: Event, fields: dict[str, Any]) -> None:
    """Send fields set on an event after it ended as an update."""
    if span.session.sampled:
        buffer.record_update(Update(span, fields))
