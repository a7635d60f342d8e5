"""The patch table: the google-genai methods honeytrace traces.

Chats (``client.chats.create(...).send_message`` / ``send_message_stream``, sync and async)
call these same methods with the whole conversation, so each message is one event with the
history as its input; nothing else is patched for them, and nothing is recorded twice.
"""

from __future__ import annotations

from honeytrace.instrumentation import Patch, call_wrapper

from . import _generate

__all__ = ["MIN_VERSION", "PATCHES"]

MIN_VERSION = (1, 0)
"""The first stable release of the unified Gen AI SDK."""

_MODELS = "google.genai.models"

PATCHES = (
    Patch(_MODELS, "Models.generate_content", call_wrapper(_generate.GENERATE, is_async=False)),
    Patch(_MODELS, "AsyncModels.generate_content", call_wrapper(_generate.GENERATE, is_async=True)),
    Patch(
        _MODELS, "Models.generate_content_stream", call_wrapper(_generate.STREAM, is_async=False)
    ),
    Patch(
        _MODELS,
        "AsyncModels.generate_content_stream",
        call_wrapper(_generate.STREAM, is_async=True),
    ),
)
