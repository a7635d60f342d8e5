"""Process-wide state: the configuration, the flusher's life, flush/shutdown/stats, exit, fork.

The hot path reads two plain module globals from here (``enabled`` and, through
:mod:`honeytrace._record.buffer`, the queue bound); everything else runs on rare paths: opening a
session, configuring, flushing, exiting, forking.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from honeytrace._config import Config, env_enabled, resolve
from honeytrace._errors import internal_error_count
from honeytrace._record import buffer as _buffer
from honeytrace._record import state
from honeytrace._record.buffer import QUEUE, UPDATES, FlushRequest, Stats
from honeytrace._record.context import install_thread_propagation

if TYPE_CHECKING:
    from honeytrace._deliver.exporters import Exporter, MemoryExporter
    from honeytrace._deliver.flusher import Flusher

__all__ = [
    "configure",
    "flush",
    "get_config",
    "shutdown",
    "stats",
]

_config: Config | None = None
_flusher: Flusher | None = None
_lock = threading.RLock()
# (pid, thread) starting the flusher now: a traced call that a signal handler makes on that
# thread meanwhile (say, while the flusher's modules are being imported) must not start it
# again, which would wait forever on the import lock of the module being imported; its event
# is queued and the start in progress delivers it.
_starting: tuple[int, int] | None = None
_pid = os.getpid()
_exit_registered = False
_exit_deadline = 0.0  # when the exit budget (exit_timeout) runs out, once exit began


# -- configuration --------------------------------------------------------------------------


def configure(**options: Any) -> None:
    """Resolve and apply a configuration; see :func:`honeytrace.configure`."""
    _apply(resolve(options))


def get_config() -> Config:
    """The current configuration, resolved from the environment at first use."""
    config = _config
    if config is None:
        with _lock:
            if _config is None:
                _apply(resolve({}))
            config = _config
    assert config is not None
    return config


def _apply(config: Config) -> None:
    global _config
    with _lock:
        _config = config
        state.enabled = config.enabled
        counters = _buffer.counters
        with counters.lock:
            _buffer.set_limits(
                max(0, config.max_queue - max(0, counters.in_flight)),
                config.batch_size,
                sessions=max(1_000, config.max_queue // 4),
                bytes_=config.max_queue_bytes,
                updates=max(1_000, config.max_queue // 10),
            )
        install_thread_propagation(config.propagate_threads)
        # The OpenTelemetry bridge is imported only when asked for (or already in use).
        if config.otel or "honeytrace.otel.bridge" in sys.modules:
            from honeytrace.otel import bridge as _otel_bridge

            _otel_bridge.set_mirroring(config.otel)
        if _flusher is not None:
            _flusher.reconfigure(config)


def _environ_reader() -> tuple[Callable[[Any], Any], Any]:
    """A cheap way to read ``HONEYTRACE_ENABLED`` as ``os.environ`` holds it now.

    ``os.environ.get`` encodes the key and decodes the value on every read (about 0.4 µs, more
    than a whole disabled call); the mapping behind it (``os.environ._data``, keyed by the
    encoded name) answers the same question with one dict lookup, and sees every change made
    through ``os.environ`` (``monkeypatch.setenv`` included), as ``os.environ.get`` does.
    Where that mapping is missing (another Python), the public ``get`` is used."""
    data = getattr(os.environ, "_data", None)
    encodekey = getattr(os.environ, "encodekey", None)
    if isinstance(data, dict) and callable(encodekey):
        try:
            return data.get, encodekey("HONEYTRACE_ENABLED")
        except Exception:  # an unexpected encodekey: the public way is always right
            pass
    return os.environ.get, "HONEYTRACE_ENABLED"


_env_get, _ENV_KEY = _environ_reader()
_env_raw: Any = None  # HONEYTRACE_ENABLED as last read (raw), and what it meant
_env_value = True


def enabled_at_root() -> bool:
    """Whether a call outside any session is traced: ``configure(enabled=...)`` when it was
    given, else ``HONEYTRACE_ENABLED`` as it is at this call (one dict lookup per call; the
    value is parsed, and a bad one warned about, only when it changes)."""
    global _env_raw, _env_value
    config = _config if _config is not None else get_config()
    if "enabled" not in config.explicit:
        raw = _env_get(_ENV_KEY)
        if raw != _env_raw:
            _env_raw, _env_value = raw, env_enabled()
        state.enabled = _env_value
    return state.enabled


# -- what the recording layer sees -----------------------------------------------------------


class _Host:
    """The runtime as :mod:`honeytrace._record.state` sees it (installed below, at import)."""

    config = staticmethod(get_config)
    enabled_at_root = staticmethod(enabled_at_root)

    def session_opened(self) -> None:
        """A session began: make sure the flusher runs."""
        if (_flusher is None or _pid != os.getpid()) and _starting != (
            os.getpid(),
            threading.get_ident(),
        ):
            _ensure_flusher()

    def flush(self, timeout: float) -> bool:
        return flush(timeout)

    def flush_now(self) -> bool:
        return flush_now()

    async def flush_async(self) -> bool:
        return await flush_async()

    def deliver_late(self) -> None:
        _deliver_late()


# -- the flusher ----------------------------------------------------------------------------


def _make_exporter(config: Config, flusher: Flusher) -> Exporter:
    from honeytrace._deliver import exporters as _exporters

    if config.exporter == "http":
        from honeytrace._deliver.transport import Transport

        transport = Transport(
            config.server_url,
            config.api_key,
            timeout=config.timeout,
            retry_deadline=config.retry_deadline,
            verify=config.verify_tls,
            interrupt=flusher.interrupt,
            on_retry=lambda: _buffer.counters.add("retried"),
        )
        transport.hard_deadline = flusher.hard_deadline
        flusher.transport = transport
        from honeytrace._deliver.http_exporter import HttpExporter, open_spool

        spool = open_spool(  # None, with one error line, when the directory cannot be used
            config.spool_dir,
            config.max_spool_bytes,
            server_url=config.server_url,
            api_key=config.api_key,
            max_age=config.spool_max_age,
            max_attempts=config.spool_max_attempts,
        )
        return HttpExporter(transport, spool)
    if config.exporter == "local":
        from honeytrace.local.exporter import LocalExporter

        if "local_path" in config.explicit:
            option = "local_path"
        elif os.environ.get("HONEYTRACE_LOCAL_PATH", "").strip():
            option = "HONEYTRACE_LOCAL_PATH"
        else:
            option = "the default local_path"
        return LocalExporter(config.local_path, option, announce=not config.url_refused)
    if config.exporter == "memory":
        return memory_exporter()
    return _exporters.NoneExporter()


_memory: MemoryExporter | None = None


def memory_exporter() -> MemoryExporter:
    """The process's MemoryExporter (one, so that tests can read what was sent)."""
    global _memory
    if _memory is None:
        from honeytrace._deliver.exporters import MemoryExporter

        _memory = MemoryExporter()
    return _memory


def _ensure_flusher() -> Flusher:
    global _flusher, _exit_registered, _starting
    with _lock:
        if _pid != os.getpid():
            _after_fork_in_child()
        if _flusher is None:
            _starting = (os.getpid(), threading.get_ident())
            try:
                from honeytrace._deliver.flusher import Flusher

                flusher = Flusher(get_config(), _make_exporter)
                if state.exiting:
                    flusher.inline = True  # after our exit hook: the exiting thread delivers
                else:
                    _buffer.wake = flusher.wake
                    _buffer.woken()  # a wake-up requested of no flusher must not mute this one
                    flusher.start()  # when no thread can start, it runs inline too
                _flusher = flusher
            finally:
                _starting = None
            if not _exit_registered:
                from honeytrace._lifecycle import install_sigterm_handler

                atexit.register(_at_exit)
                install_sigterm_handler(_at_exit)
                _exit_registered = True
        return _flusher


def flush(timeout: float = 10.0) -> bool:
    """Deliver everything recorded before the call; see :func:`honeytrace.flush`."""
    request = _request_flush()
    if request is None:
        return True
    if isinstance(request, bool):
        return request
    flusher = _flusher
    if flusher is not None and flusher.inline:
        return flusher.deliver_inline(request, time.monotonic() + max(0.0, timeout))
    return request.wait(max(0.0, timeout))


def _request_flush(
    on_done: Callable[[bool], None] | None = None,
) -> FlushRequest | bool | None:
    """A queued flush request; None when there is nothing to flush, False when this thread
    is the flusher's (a redact hook: waiting on ourselves would deadlock)."""
    flusher = _flusher
    if flusher is None or _pid != os.getpid():
        if not QUEUE and not UPDATES:
            return None
        flusher = _ensure_flusher()
    if threading.current_thread() is flusher.thread:
        return False
    request = FlushRequest(on_done)
    _buffer.request_flush(request)
    return request


def flush_now() -> bool:
    """The flush of ``@trace_session(flush=True)``: bounded by ``exit_timeout``."""
    return flush(get_config().exit_timeout)


async def flush_async() -> bool:
    """:func:`flush_now` without blocking the event loop, and without a thread: the flusher
    wakes the loop when done. Cancelling the awaiting task (``asyncio.wait_for``) raises at
    once; the flush itself goes on in the background."""
    import asyncio

    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()

    def settle(delivered: bool) -> None:
        if not done.done():
            done.set_result(delivered)

    def wake_loop(delivered: bool) -> None:  # on the flusher thread
        # RuntimeError: the loop closed meanwhile, and nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, delivered)

    request = _request_flush(wake_loop)
    if request is None:
        return True
    if isinstance(request, bool):
        return request
    flusher = _flusher
    timeout = get_config().exit_timeout
    if flusher is not None and flusher.inline:
        return flusher.deliver_inline(request, time.monotonic() + timeout)
    timer = loop.call_later(timeout, settle, False)
    try:
        return await done
    finally:
        timer.cancel()


def shutdown(timeout: float = 10.0) -> bool:
    """Deliver what is pending, then stop the flusher; see :func:`honeytrace.shutdown`."""
    deadline = time.monotonic() + max(0.0, timeout)
    lock = _lock  # another thread's shutdown (or start) holds it: wait no longer than timeout
    if not lock.acquire(timeout=max(0.0, timeout)):
        return False
    try:
        return _shutdown(deadline)
    finally:
        lock.release()


def _shutdown(deadline: float) -> bool:
    global _flusher
    flusher = _flusher
    if flusher is None or _pid != os.getpid():
        return not QUEUE
    # One deadline for all of it: the lock, the flush, the flusher's last cycle, the join.
    flusher.hard_deadline = deadline
    transport = getattr(flusher, "transport", None)
    if transport is not None:
        transport.hard_deadline = deadline
    flusher.interrupt.set()  # a retry sleeping its backoff tries again now, by the deadline
    delivered = flush(max(0.0, deadline - time.monotonic()))
    flusher.stop()
    if flusher.thread.is_alive():
        flusher.thread.join(max(0.0, deadline - time.monotonic()))
    flusher.interrupt.set()  # past the deadline now: whatever still retries gives up
    if flusher.thread.is_alive():
        flusher.retire()  # still in a request: it must not take what is recorded next
    _flusher = None
    _buffer.wake = _noop
    return delivered and not QUEUE


def _noop() -> None:
    pass


def stats() -> Stats:
    """A snapshot of the counters; see :func:`honeytrace.stats`."""
    counters = _buffer.counters
    # No lock on the application's side: the lock is reentrant, and only the flusher, which
    # never runs application code while holding it, competes for it.
    with counters.lock:
        queued = len(QUEUE)
        at_entry = counters.entry_drops()
        dropped = counters.all_dropped()
        return Stats(
            recorded=counters.taken + queued + sum(at_entry.values()),
            sent=counters.sent,
            pending=queued + counters.in_flight,
            retried=counters.retried,
            spooled=counters.spooled,
            dropped=dropped,
            internal_errors=internal_error_count(),
            updates_dropped=_buffer.count_value(counters.updates_dropped) + counters.updates_lost,
        )


# -- exit and fork --------------------------------------------------------------------------


def _at_exit() -> None:
    """Close what is still open (marked incomplete) and deliver, all within ``exit_timeout``.
    What is recorded after this (an ``atexit`` hook registered before ours runs after it) is
    delivered by the thread that ends its session, within what is left of the same budget."""
    global _exit_deadline
    if _pid != os.getpid() or state.exiting:
        return
    from honeytrace._lifecycle import close_open_events

    timeout = get_config().exit_timeout
    _exit_deadline = time.monotonic() + timeout
    close_open_events(time.monotonic() + timeout / 2)  # the walk gets half the budget at most
    shutdown(max(0.0, _exit_deadline - time.monotonic()))
    state.exiting = True


def _deliver_late() -> None:
    """A session ended after our exit hook: deliver it on this thread (no new thread)."""
    remaining = _exit_deadline - time.monotonic()
    if remaining > 0:
        flush(remaining)


def _after_fork_in_child() -> None:
    """The child starts with no flusher and an empty buffer; the parent sends its own events.

    Locks another thread of the parent held at the fork (a ``shutdown()`` in progress, an id
    being assigned) stay held forever in the child: they are made anew."""
    global _flusher, _pid, _lock
    _lock = threading.RLock()
    _flusher = None
    _pid = os.getpid()
    _buffer.reset_after_fork()
    _buffer.wake = _noop
    from honeytrace import _errors
    from honeytrace._record import span

    span._id_lock = threading.RLock()
    _errors.reset_lock_after_fork()


def _before_fork() -> None:
    """Finish the flusher's lazy imports before forking: a child forked while the flusher
    thread is half-way through importing a module would inherit it half-initialized."""
    flusher = _flusher
    if flusher is not None and flusher.thread.is_alive():
        flusher.ready.wait(5.0)


state.install(_Host())

if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
