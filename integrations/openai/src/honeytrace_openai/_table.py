"""The patch table: every OpenAI SDK method honeytrace traces, and how.

A target missing from the installed SDK is skipped, so one table serves every supported
version (``client.beta.chat.completions.parse``/``stream`` before they left beta, for one).
Helpers that the SDK builds on a traced method (``chat.completions.stream`` calls
``create(stream=True)``) only rename that call's event and end it with their ``with`` block.
"""

from __future__ import annotations

from honeytrace.instrumentation import Patch, call_wrapper, helper_wrapper

from . import _chat, _embeddings, _responses

__all__ = ["MIN_VERSION", "PATCHES"]

MIN_VERSION = (1, 26)
"""The v1 client with ``stream_options`` (usage in streams)."""

_CHAT = "openai.resources.chat.completions"
_BETA_CHAT = "openai.resources.beta.chat.completions"
_RESPONSES = "openai.resources.responses"
_EMBEDDINGS = "openai.resources.embeddings"

PATCHES = (
    Patch(_CHAT, "Completions.create", call_wrapper(_chat.CREATE, is_async=False)),
    Patch(_CHAT, "AsyncCompletions.create", call_wrapper(_chat.CREATE, is_async=True)),
    Patch(_CHAT, "Completions.parse", call_wrapper(_chat.PARSE, is_async=False)),
    Patch(_CHAT, "AsyncCompletions.parse", call_wrapper(_chat.PARSE, is_async=True)),
    Patch(_CHAT, "Completions.stream", helper_wrapper("openai.chat.completions.stream")),
    Patch(_CHAT, "AsyncCompletions.stream", helper_wrapper("openai.chat.completions.stream")),
    Patch(_BETA_CHAT, "Completions.parse", call_wrapper(_chat.PARSE, is_async=False)),
    Patch(_BETA_CHAT, "AsyncCompletions.parse", call_wrapper(_chat.PARSE, is_async=True)),
    Patch(_BETA_CHAT, "Completions.stream", helper_wrapper("openai.chat.completions.stream")),
    Patch(_BETA_CHAT, "AsyncCompletions.stream", helper_wrapper("openai.chat.completions.stream")),
    Patch(_RESPONSES, "Responses.create", call_wrapper(_responses.CREATE, is_async=False)),
    Patch(_RESPONSES, "AsyncResponses.create", call_wrapper(_responses.CREATE, is_async=True)),
    Patch(_RESPONSES, "Responses.parse", call_wrapper(_responses.PARSE, is_async=False)),
    Patch(_RESPONSES, "AsyncResponses.parse", call_wrapper(_responses.PARSE, is_async=True)),
    Patch(_RESPONSES, "Responses.stream", helper_wrapper("openai.responses.stream")),
    Patch(_RESPONSES, "AsyncResponses.stream", helper_wrapper("openai.responses.stream")),
    Patch(_EMBEDDINGS, "Embeddings.create", call_wrapper(_embeddings.CREATE, is_async=False)),
    Patch(_EMBEDDINGS, "AsyncEmbeddings.create", call_wrapper(_embeddings.CREATE, is_async=True)),
)
