"""Running the collector: :func:`listen` claims the address (so that a port in use is one clear
line before anything else is printed), :func:`serve` starts uvicorn on the app and returns once it
has shut down cleanly (Ctrl-C or SIGTERM)."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

import uvicorn

from honeytrace.local.collector.app import create_app
from honeytrace.local.collector.connections import DEFAULT_HEADER_TIMEOUT, uvicorn_options
from honeytrace.local.collector.errorlog import log_to_console
from honeytrace.local.collector.guard import DEFAULT_MAX_BODY_BYTES
from honeytrace.local.collector.workers import (
    STARTUP_FAILED,
    can_fork,
    default_workers,
    run_workers,
)

__all__ = ["ListenError", "is_loopback", "listen", "serve"]


_LISTEN_QUEUE = 2048  # connections waiting to be accepted (uvicorn's default backlog)


class ListenError(Exception):
    """The address cannot be listened on; the message is one line for the user."""


def listen(host: str, port: int) -> list[socket.socket]:
    """Bound, listening sockets for every address ``host`` resolves to (``localhost`` is
    often both ``127.0.0.1`` and ``::1``); port 0 picks one free port for all of them.
    Raises :class:`ListenError` saying what is wrong: an unknown host, a port in use, ..."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (socket.gaierror, UnicodeError) as exc:
        message = f"cannot listen on {host!r}: not a known host name or address ({exc})"
        raise ListenError(message) from None
    sockets: list[socket.socket] = []
    seen: set[tuple[int, object]] = set()
    try:
        for family, kind, proto, _, resolved in infos:
            address = resolved
            if (family, address[0]) in seen:
                continue
            seen.add((family, address[0]))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            if os.name != "nt":  # on Windows SO_REUSEADDR would let two servers share a port
                # A port left in TIME_WAIT by the last run is free; one in LISTEN still fails.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(_LISTEN_QUEUE)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ListenError(_why_not(host, port, exc)) from None
    return sockets


def _why_not(host: str, port: int, exc: OSError) -> str:
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return f"cannot listen on {where}: the port is already in use (choose another --port)"
    if exc.errno == errno.EACCES:
        return f"cannot listen on {where}: permission denied (ports below 1024 need privileges)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where}: {host} is not an address of this machine"
    return f"cannot listen on {where}: {exc.strerror or exc}"


def is_loopback(sock: socket.socket) -> bool:
    """Whether ``sock`` is bound to a loopback address (reachable from this machine only)."""
    try:
        return ipaddress.ip_address(sock.getsockname()[0]).is_loopback
    except ValueError:
        return False


def serve(
    db_path: str,
    host: str = "127.0.0.1",
    port: int = 8787,
    api_key: str | None = None,
    sockets: Sequence[socket.socket] | None = None,
    *,
    allowed_hosts: Iterable[str] = (),
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    workers: int | None = None,
) -> None:
    """Serve the collector over the store at ``db_path`` until SIGINT or SIGTERM.

    ``sockets`` from :func:`listen`, when given, are served instead of binding ``host`` and
    ``port``. Requests must name ``host``, a loopback name or one of ``allowed_hosts`` in their
    ``Host`` header; a request head must arrive within ``header_timeout`` seconds.

    ``workers`` processes serve the same sockets (see :mod:`.workers`); by default one per core
    (at most 4) on Linux, else 1. With more than one, the address is bound here first.

    On either signal uvicorn stops accepting connections, lets the requests in flight finish
    (each write is committed before it is answered) and closes the store; then this returns
    normally, so the process exits 0 rather than dying of the signal.
    """
    log_to_console()  # every 4xx/5xx answer, with its message
    # The address bound is a name clients may use; 0.0.0.0 and :: are not.
    hosts = [*allowed_hosts, *([] if host in ("0.0.0.0", "::", "") else [host])]
    count = default_workers() if workers is None else max(1, int(workers))
    if count > 1 and (not can_fork() or db_path == ":memory:"):
        count = 1  # an in-memory store is one per process: workers would not share it

    def run(sockets: Sequence[socket.socket] | None, write_lock: str | None) -> bool:
        app = create_app(
            db_path,
            api_key=api_key,
            allowed_hosts=hosts,
            max_body_bytes=max_body_bytes,
            write_lock=write_lock,
        )
        options = uvicorn_options(header_timeout)
        if write_lock is not None:
            # One of several workers: accept one connection per wake-up (asyncio accepts up
            # to ``backlog`` at once, so the first worker to wake took every connection of a
            # burst, and the other worker idled); _Worker restores the listen queue.
            options["backlog"] = 1
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="info",
            # Only our own log lines: uvicorn's access log would print every batch.
            access_log=False,
            **options,
        )
        server = (_Worker if write_lock is not None else _Server)(config)
        with _signals_end_quietly() as early:
            server.early_signals = early
            server.run(sockets=list(sockets) if sockets is not None else None)
        return bool(server.started)

    if count == 1:
        run(sockets, None)
        return
    bound = list(sockets) if sockets is not None else listen(host, port)
    lock = f"{db_path}.serve-lock"
    try:
        # A worker that cannot start (an unusable store) stops them all, and this exits as
        # one process whose start failed does (uvicorn has logged why).
        failed = run_workers(count, lambda: 0 if run(bound, lock) else STARTUP_FAILED)
    finally:
        if sockets is None:
            for sock in bound:
                sock.close()
        with contextlib.suppress(OSError):
            os.remove(lock)
    if failed:
        sys.exit(STARTUP_FAILED)


class _Server(uvicorn.Server):
    """uvicorn's server, stopping at once when SIGINT or SIGTERM came while it was starting,
    before uvicorn listened for them (``early_signals``, from :func:`_signals_end_quietly`):
    such a signal was lost, and a worker that got the supervisor's SIGTERM then served on."""

    early_signals: list[int] = []  # noqa: RUF012 -- replaced per instance before run()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start-up; then, after an early signal, the stop it asked for."""
        await super().startup(sockets)
        if self.early_signals:
            self.should_exit = True


class _Worker(_Server):
    """uvicorn's server in one of several worker processes (see :func:`serve`)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start serving, then give the shared sockets their full listen queue again
        (asyncio's start set it to the one-connection accept batch)."""
        await super().startup(sockets)
        for sock in sockets or ():
            with contextlib.suppress(OSError):
                sock.listen(_LISTEN_QUEUE)


@contextmanager
def _signals_end_quietly() -> Iterator[list[int]]:
    """uvicorn re-raises the signal that stopped it once it has shut down, so that the default
    action (death by SIGTERM, KeyboardInterrupt) happens after all. Our handlers in place
    beforehand receive that re-raise instead: the shutdown was already clean. They also
    receive a signal that comes before uvicorn has put its own handlers in place (while the
    app and the event loop are made): the list yielded collects those, for :class:`_Server`
    to stop at once."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received  # signals belong to the main thread; uvicorn skips them too
        return

    def keep(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, keep)
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
