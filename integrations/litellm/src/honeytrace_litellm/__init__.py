"""honeytrace-litellm: every LiteLLM call becomes a honeytrace ``model`` event.

::

    import honeytrace_litellm

    honeytrace_litellm.instrument()     # adds the callback to litellm.callbacks

``completion``, ``acompletion`` (streamed or not) and ``embedding`` calls are recorded with
their messages, provider, model and parameters, output, token usage, time to first token, and
the cost LiteLLM computed. Calls made inside a honeytrace session nest in it; others open a
session of their own. For the LiteLLM proxy, name ``honeytrace_litellm.proxy_handler_instance``
in ``litellm_settings.callbacks``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._logger import HoneytraceLogger

__all__ = [
    "HoneytraceLogger",
    "__version__",
    "instrument",
    "proxy_handler_instance",
    "uninstrument",
]

__version__ = "0.1.0"

logger = logging.getLogger("honeytrace")
_handler: HoneytraceLogger | None = None


def instrument() -> HoneytraceLogger | None:
    """Add honeytrace's callback to ``litellm.callbacks`` (once; idempotent) and return it.
    Without LiteLLM installed: a log line, and None."""
    try:
        import litellm
    except ImportError:
        logger.info("honeytrace: litellm is not installed; LiteLLM is not traced")
        return None
    handler = _get_handler()
    handler.active = True
    callbacks = litellm.callbacks if isinstance(litellm.callbacks, list) else []
    if not any(callback is handler for callback in callbacks):
        litellm.callbacks = [*callbacks, handler]
    return handler


def uninstrument() -> None:
    """Take honeytrace's callback out of ``litellm.callbacks``."""
    try:
        import litellm
    except ImportError:
        return
    if _handler is not None:
        _handler.active = False
        if isinstance(litellm.callbacks, list):
            litellm.callbacks = [c for c in litellm.callbacks if c is not _handler]


def _get_handler() -> HoneytraceLogger:
    global _handler
    if _handler is None:
        from ._logger import HoneytraceLogger

        _handler = HoneytraceLogger()
    return _handler


def __getattr__(name: str) -> Any:
    # The logger class imports LiteLLM (slow): only when asked for.
    if name == "HoneytraceLogger":
        from ._logger import HoneytraceLogger

        return HoneytraceLogger
    if name == "proxy_handler_instance":
        return _get_handler()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
