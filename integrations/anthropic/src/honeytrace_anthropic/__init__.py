"""honeytrace-anthropic: every Anthropic Messages API call becomes a honeytrace ``model`` event.

::

    import honeytrace_anthropic

    honeytrace_anthropic.instrument()          # every Anthropic / AsyncAnthropic client
    honeytrace_anthropic.instrument(client)    # or: this client object only

``messages.create`` (streamed or not), ``messages.parse`` and ``messages.stream`` are traced,
sync and async (and their ``client.beta.messages`` versions): ``inputs`` are the messages and
the system prompt, ``config`` the model and its parameters, ``outputs`` the assistant's text
with its tool calls, ``metrics`` the token usage (and the time to first token of a stream). An
API error sets the event's ``error`` and is raised unchanged. Calls made inside a honeytrace
session nest in it; others open a session of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from honeytrace.instrumentation import Instrumentation, Instrumentor

from ._table import MIN_VERSION, PATCHES

if TYPE_CHECKING:
    from anthropic import Anthropic, AsyncAnthropic

__all__ = ["Instrumentation", "Options", "__version__", "instrument", "uninstrument"]

__version__ = "0.1.0"


@dataclass
class Options:
    """Options of :func:`instrument` (none yet; kept for symmetry with honeytrace-openai)."""


_instrumentor: Instrumentor[Options] = Instrumentor("anthropic", MIN_VERSION, PATCHES)


def instrument(client: Anthropic | AsyncAnthropic | None = None) -> Instrumentation[Options]:
    """Trace the Anthropic SDK: every client, or only ``client``; returns the handle that
    undoes it.

    Idempotent: the SDK is patched once, and instrumenting the same scope again returns the
    same handle. An Anthropic SDK that is missing or older than 0.30 is logged and left alone
    (the handle is inactive).
    """
    return _instrumentor.instrument(client, Options())


def uninstrument(client: Anthropic | AsyncAnthropic | Any = None) -> None:
    """Stop tracing ``client``, or, with no argument, everything, and unpatch the SDK."""
    _instrumentor.uninstrument(client)
