"""Running the collector: :func:`serve` starts uvicorn on the app and returns once it has shut
down cleanly (Ctrl-C or SIGTERM)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import uvicorn

from honeytrace.local.collector.app import create_app
from honeytrace.local.collector.connections import DEFAULT_HEADER_TIMEOUT, uvicorn_options
from honeytrace.local.collector.guard import DEFAULT_MAX_BODY_BYTES

__all__ = ["serve"]


def serve(
    db_path: str,
    host: str = "127.0.0.1",
    port: int = 8787,
    api_key: str | None = None,
    *,
    allowed_hosts: Iterable[str] = (),
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
) -> None:
    """Serve the collector over the store at ``db_path`` until SIGINT or SIGTERM.

    Requests must name ``host``, a loopback name or one of ``allowed_hosts`` in their
    ``Host`` header; a request head must arrive within ``header_timeout`` seconds.

    On either signal uvicorn stops accepting connections, lets the requests in flight finish
    (each write is committed before it is answered) and closes the store; then this returns
    normally, so the process exits 0 rather than dying of the signal.
    """
    # The address bound is a name clients may use; 0.0.0.0 and :: are not.
    hosts = [*allowed_hosts, *([] if host in ("0.0.0.0", "::", "") else [host])]
    config = uvicorn.Config(
        create_app(db_path, api_key=api_key, allowed_hosts=hosts, max_body_bytes=max_body_bytes),
        host=host,
        port=port,
        log_level="info",
        # Only our own log lines: uvicorn's access log would print every batch.
        access_log=False,
        **uvicorn_options(header_timeout),
    )
    with _signals_end_quietly():
        uvicorn.Server(config).run()


@contextmanager
def _signals_end_quietly() -> Iterator[None]:
    """uvicorn re-raises the signal that stopped it once it has shut down, so that the default
    action (death by SIGTERM, KeyboardInterrupt) happens after all. Our handlers in place
    beforehand receive that re-raise instead: the shutdown was already clean."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals belong to the main thread; uvicorn skips them too
        return

    def ignore(signum: int, frame: FrameType | None) -> None:
        pass

    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, ignore)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
