"""The documented entry points of the runtime: configure, flush, shutdown, stats.

Thin, typed, documented functions over :mod:`honeytrace._runtime`, so that the package's public
face stays apart from the machinery.
"""

from __future__ import annotations

from typing import Any

from honeytrace import _runtime
from honeytrace._record.buffer import Stats

__all__ = ["configure", "flush", "shutdown", "stats"]


def configure(**options: Any) -> None:
    """Set options (see the README's configuration table); unset ones come from the
    environment, then defaults. Raises :class:`honeytrace.ConfigError` naming a bad option.

    Optional: with no call, the environment alone configures honeytrace at first use.
    """
    _runtime.configure(**options)


def flush(timeout: float = 10.0) -> bool:
    """Deliver everything recorded before this call; True when all of it was delivered within
    ``timeout`` seconds. Blocks the caller (it exists to be waited on)."""
    return _runtime.flush(timeout)


def shutdown(timeout: float = 10.0) -> bool:
    """Flush, then stop the background thread (it restarts if tracing continues). Returns
    whether everything was delivered within ``timeout`` seconds."""
    return _runtime.shutdown(timeout)


def stats() -> Stats:
    """Counts of events: ``recorded``, ``sent``, ``pending``, ``retried``, ``spooled`` and
    ``dropped`` by reason. At a quiet moment, recorded == sent + dropped + spooled + pending."""
    return _runtime.stats()
