"""honeytrace-google-genai: every Gemini call made with the ``google-genai`` SDK becomes a
honeytrace ``model`` event.

::

    import honeytrace_google_genai

    honeytrace_google_genai.instrument()

``client.models.generate_content`` and ``generate_content_stream``, their async variants under
``client.aio.models``, and chats (``client.chats.create(...).send_message`` /
``send_message_stream``, sync and async) are traced: ``inputs`` are the messages, ``config``
the model and its parameters, ``outputs`` the answer with its function calls, ``metrics`` the
token usage with thinking and cached tokens (and the time to first token of a stream). An API
error sets the event's ``error`` and is raised unchanged. Calls made inside a honeytrace
session nest in it; others open a session of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from honeytrace.instrumentation import Instrumentation, Instrumentor

from ._table import MIN_VERSION, PATCHES

__all__ = ["Instrumentation", "Options", "__version__", "instrument", "uninstrument"]

__version__ = "0.1.0"


@dataclass
class Options:
    """Options of :func:`honeytrace_google_genai.instrument` (none yet)."""


_instrumentor: Instrumentor[Options] = Instrumentor("google-genai", MIN_VERSION, PATCHES)


def instrument() -> Instrumentation[Options]:
    """Trace every ``google.genai.Client``; returns the handle that undoes it.

    Idempotent: the SDK is patched once, and calling again returns the same handle. A
    google-genai that is missing or older than 1.0 is logged once and left alone (the handle is
    inactive).
    """
    return _instrumentor.instrument(None, Options())


def uninstrument() -> None:
    """Stop tracing and unpatch the SDK."""
    _instrumentor.uninstrument(None)
