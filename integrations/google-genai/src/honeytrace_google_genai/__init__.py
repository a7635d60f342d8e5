"""honeytrace-google-genai: every ``google-genai`` generate call becomes a honeytrace
``model`` event.

::

    import honeytrace_google_genai

    honeytrace_google_genai.instrument()

``client.models.generate_content`` and ``generate_content_stream``, their ``client.aio``
versions, and chats (which call them) are traced: ``inputs`` the contents, ``config`` the model
and its settings, ``outputs`` the text, thoughts and function calls, ``metrics`` the usage
(thinking and cached tokens included), the time to first token of a stream, and its cost.
"""

from __future__ import annotations

from honeytrace.instrumentation import Instrumentation, Instrumentor, Patch, call_wrapper

from . import _generate

__all__ = ["Instrumentation", "__version__", "instrument", "uninstrument"]

__version__ = "0.1.0"

_MODELS = "google.genai.models"
PATCHES = (
    Patch(_MODELS, "Models.generate_content", call_wrapper(_generate.GENERATE, is_async=False)),
    Patch(_MODELS, "AsyncModels.generate_content", call_wrapper(_generate.GENERATE, is_async=True)),
    Patch(
        _MODELS,
        "Models.generate_content_stream",
        call_wrapper(_generate.GENERATE_STREAM, is_async=False),
    ),
    Patch(
        _MODELS,
        "AsyncModels.generate_content_stream",
        call_wrapper(_generate.GENERATE_STREAM, is_async=True),
    ),
)

_instrumentor: Instrumentor[None] = Instrumentor("google-genai", (1, 0), PATCHES)


def instrument() -> Instrumentation[None]:
    """Trace the google-genai SDK (every client); returns the handle that undoes it.
    Idempotent. The SDK missing or older than 1.0: logged, nothing patched."""
    return _instrumentor.instrument(None, None)


def uninstrument() -> None:
    """Stop tracing and unpatch the SDK."""
    _instrumentor.uninstrument(None)
