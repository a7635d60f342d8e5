"""The patch table: every Anthropic SDK method honeytrace traces, and how.

``messages.stream`` makes its request itself when its ``with`` block is entered, and wraps
the raw SSE stream in a ``MessageStream``: the helper's event opens at ``__enter__``, and the
stream object's constructor is patched to receive a traced raw stream, so that every way of
reading it (iteration, ``text_stream``, ``get_final_message()``, ``until_done()``) is seen,
and closing it ends the event. A target missing from the installed SDK is skipped.
"""

from __future__ import annotations

from honeytrace.instrumentation import (
    Patch,
    adopting_wrapper,
    call_wrapper,
    deferred_stream_wrapper,
)

from . import _messages

__all__ = ["MIN_VERSION", "PATCHES"]

MIN_VERSION = (0, 30)
"""Messages with streaming helpers and tool use."""

_MESSAGES = "anthropic.resources.messages"
_BETA = "anthropic.resources.beta.messages"
_STREAMING = "anthropic.lib.streaming"

PATCHES = (
    Patch(_MESSAGES, "Messages.create", call_wrapper(_messages.CREATE, is_async=False)),
    Patch(_MESSAGES, "AsyncMessages.create", call_wrapper(_messages.CREATE, is_async=True)),
    Patch(_MESSAGES, "Messages.parse", call_wrapper(_messages.PARSE, is_async=False)),
    Patch(_MESSAGES, "AsyncMessages.parse", call_wrapper(_messages.PARSE, is_async=True)),
    Patch(_MESSAGES, "Messages.stream", deferred_stream_wrapper(_messages.STREAM)),
    Patch(_MESSAGES, "AsyncMessages.stream", deferred_stream_wrapper(_messages.STREAM)),
    Patch(_BETA, "Messages.create", call_wrapper(_messages.BETA_CREATE, is_async=False)),
    Patch(_BETA, "AsyncMessages.create", call_wrapper(_messages.BETA_CREATE, is_async=True)),
    Patch(_BETA, "Messages.parse", call_wrapper(_messages.BETA_PARSE, is_async=False)),
    Patch(_BETA, "AsyncMessages.parse", call_wrapper(_messages.BETA_PARSE, is_async=True)),
    Patch(_BETA, "Messages.stream", deferred_stream_wrapper(_messages.BETA_STREAM)),
    Patch(_BETA, "AsyncMessages.stream", deferred_stream_wrapper(_messages.BETA_STREAM)),
    Patch(_STREAMING, "MessageStream.__init__", adopting_wrapper("raw_stream")),
    Patch(_STREAMING, "AsyncMessageStream.__init__", adopting_wrapper("raw_stream")),
    Patch(_STREAMING, "BetaMessageStream.__init__", adopting_wrapper("raw_stream")),
    Patch(_STREAMING, "BetaAsyncMessageStream.__init__", adopting_wrapper("raw_stream")),
)
