"""honeytrace-langchain: LangChain and LangGraph runs as honeytrace events.

::

    import honeytrace_langchain

    honeytrace_langchain.instrument()       # every LangChain / LangGraph run in this process

or, for one call only, ``chain.invoke(..., config={"callbacks": [CallbackHandler()]})``.

Chains, runnables and LangGraph graphs and nodes become ``chain`` events, chat models and LLMs
``model`` events (messages, model, parameters, token usage, streams included), tools and
retrievers ``tool`` events, nested as LangChain ran them. Calls made inside a honeytrace
session nest in it; others open a session of their own (a LangGraph ``thread_id`` names it,
so an interrupted graph resumed later continues the same session).
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._handler import CallbackHandler

__all__ = ["CallbackHandler", "__version__", "instrument", "uninstrument"]

__version__ = "0.1.0"

MIN_VERSION = (0, 3)
logger = logging.getLogger("honeytrace")

_handler: CallbackHandler | None = None
_hook: ContextVar[Any] | None = None


def instrument() -> CallbackHandler | None:
    """Add a :class:`CallbackHandler` to every LangChain run in this process, through
    LangChain's configure hook (runs that already carry one are left as they are); returns
    it. Idempotent. A ``langchain-core`` missing or older than 0.3 is logged and left alone
    (returns None)."""
    global _handler, _hook
    version = _langchain_version()
    if version is None:
        logger.info("honeytrace: langchain-core is not installed; LangChain is not traced")
        return None
    if version < MIN_VERSION:
        logger.warning(
            "honeytrace: langchain-core %s is older than 0.3; LangChain is not traced",
            ".".join(map(str, version)),
        )
        return None
    if _handler is None:
        from langchain_core.tracers.context import register_configure_hook

        from ._handler import CallbackHandler

        _handler = CallbackHandler()
        # A ContextVar whose default is the handler: every thread and task sees it, with no
        # set() that another context would miss. LangChain adds it to each run's callbacks
        # unless a CallbackHandler is there already.
        _hook = ContextVar("honeytrace_langchain_handler", default=_handler)
        register_configure_hook(_hook, True, CallbackHandler)
    _handler.active = True
    return _handler


def uninstrument() -> None:
    """Stop recording through the global handler (a handler passed in ``callbacks`` by hand
    goes on recording). LangChain has no way to remove a configure hook: ours stays, inert."""
    if _handler is not None:
        _handler.active = False


def _langchain_version() -> tuple[int, ...] | None:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return None
    try:
        text = version("langchain-core")
    except PackageNotFoundError:
        return None
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def __getattr__(name: str) -> Any:
    # The handler class subclasses LangChain's: importing this package must work without it.
    if name == "CallbackHandler":
        from ._handler import CallbackHandler

        return CallbackHandler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
