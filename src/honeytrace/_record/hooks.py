"""Observers of events opening and closing: how the OpenTelemetry bridge (``otel=True``) rides
along without costing anything when it is off.

The wrappers read :data:`active` once per call; when it is ``None`` (the default) nothing else
happens. An observer's :meth:`Observer.enter` runs when an event opens or resumes (each step of a
generator), in the thread and context where the event's code runs, and returns a token;
:meth:`Observer.leave` gets it back when that code stops running, with ``done`` true when the
event has ended (its ``end``, ``result`` and ``error`` are set by then). Observer errors are
internal errors: logged once, never raised into the application.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from honeytrace._errors import internal_error

if TYPE_CHECKING:
    from honeytrace._record.span import Event

__all__ = ["Observer", "active", "enter", "install", "leave"]


class Observer(Protocol):
    """What an observer implements."""

    def enter(self, event: Event) -> Any:
        """The event's code starts or resumes running here; returns a token for leave()."""

    def leave(self, event: Event, token: Any, done: bool) -> None:
        """The event's code stops running here (``done``: the event ended)."""


active: Observer | None = None
"""The installed observer, or None."""


def install(observer: Observer | None) -> Observer | None:
    """Install an observer (None removes it); returns the previous one."""
    global active
    previous, active = active, observer
    return previous


def enter(observer: Observer, event: Event) -> Any:
    """Call ``observer.enter`` under the internal-error guard."""
    try:
        return observer.enter(event)
    except Exception:
        internal_error("observer enter")
        return None


def leave(observer: Observer, event: Event, token: Any, done: bool) -> None:
    """Call ``observer.leave`` under the internal-error guard."""
    try:
        observer.leave(event, token, done)
    except Exception:
        internal_error("observer leave")
