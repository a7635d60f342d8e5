"""honeytrace-openai: every OpenAI API call becomes a honeytrace ``model`` event.

::

    import honeytrace_openai

    honeytrace_openai.instrument()          # every OpenAI / AsyncOpenAI client
    honeytrace_openai.instrument(client)    # or: this client object only

Chat Completions (``create``, ``parse``, ``stream``), the Responses API (``create``,
``parse``, ``stream``) and Embeddings are traced, sync and async, streamed or not: ``inputs``
are the messages, ``config`` the model and its parameters, ``outputs`` the assistant message
with its tool calls, ``metrics`` the token usage (and the time to first token of a stream). An
API error sets the event's ``error`` and is raised unchanged. Calls made inside a honeytrace
session nest in it; others open a session of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from honeytrace.instrumentation import Instrumentation, Instrumentor

from ._chat import Options
from ._table import MIN_VERSION, PATCHES

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI

__all__ = ["Instrumentation", "Options", "__version__", "instrument", "uninstrument"]

__version__ = "0.1.0"

_instrumentor: Instrumentor[Options] = Instrumentor("openai", MIN_VERSION, PATCHES)


def instrument(
    client: OpenAI | AsyncOpenAI | None = None, *, stream_usage: bool = True
) -> Instrumentation[Options]:
    """Trace the OpenAI SDK: every client, or only ``client``; returns the handle that undoes it.

    Idempotent: the SDK is patched once, and instrumenting the same scope again returns the
    same handle (with the new options). ``stream_usage=False`` stops asking Chat Completions
    streams for their token usage. An OpenAI SDK that is missing or older than 1.26 is logged
    and left alone (the handle is inactive).
    """
    return _instrumentor.instrument(client, Options(stream_usage=stream_usage))


def uninstrument(client: OpenAI | AsyncOpenAI | Any = None) -> None:
    """Stop tracing ``client``, or, with no argument, everything, and unpatch the SDK."""
    _instrumentor.uninstrument(client)
