"""Process-wide state: the configuration, the flusher's life, flush/shutdown/stats, exit, fork.

The hot path reads two plain module globals from here (``enabled`` and, through
:mod:`hivetrace._buffer`, the queue bound); everything else runs on rare paths: opening a
session, configuring, flushing, exiting, forking.
"""

from __future__ import annotations

import atexit
import functools
import os
import random
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from hivetrace import _buffer
from hivetrace._buffer import QUEUE, FlushRequest, Stats, Update
from hivetrace._config import Config, env_enabled, resolve
from hivetrace._context import install_thread_propagation
from hivetrace._errors import internal_error_count

if TYPE_CHECKING:
    from hivetrace._exporters import Exporter, MemoryExporter
    from hivetrace._flusher import Flusher
    from hivetrace._signature import Spec
    from hivetrace._span import Event, Session

__all__ = [
    "configure",
    "enabled",
    "flush",
    "get_config",
    "shutdown",
    "stats",
]

enabled = True
"""Read by every decorated call; False makes decorators pass through."""

_config: Config | None = None
_flusher: Flusher | None = None
_lock = threading.RLock()
_pid = os.getpid()
_exit_registered = False


# -- configuration --------------------------------------------------------------------------


def configure(**options: Any) -> None:
    """Resolve and apply a configuration; see :func:`hivetrace.configure`."""
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
    global _config, enabled
    with _lock:
        _config = config
        enabled = config.enabled
        counters = _buffer.counters
        with counters.lock:
            _buffer.set_limits(max(0, config.max_queue - counters.in_flight), config.batch_size)
        install_thread_propagation(config.propagate_threads)
        # The OpenTelemetry bridge is imported only when asked for (or already in use).
        if config.otel or "hivetrace._otel_bridge" in sys.modules:
            from hivetrace import _otel_bridge

            _otel_bridge.set_mirroring(config.otel)
        if _flusher is not None:
            _flusher.reconfigure(config)


_env_raw: str | None = None  # HIVETRACE_ENABLED as last read, and what it meant
_env_value = True


def enabled_at_root() -> bool:
    """Whether a call outside any session is traced, re-reading ``HIVETRACE_ENABLED`` unless
    ``configure(enabled=...)`` decided it (so the variable is honoured at call time)."""
    global enabled, _env_raw, _env_value
    config = _config if _config is not None else get_config()
    if "enabled" not in config.explicit:
        raw = os.environ.get("HIVETRACE_ENABLED")
        if raw != _env_raw:  # parse (and warn about a bad value) only when it changes
            _env_raw, _env_value = raw, env_enabled()
        enabled = _env_value
    return enabled


# -- sessions -------------------------------------------------------------------------------


def new_session(spec: Spec, session_id: str | None = None, source: str | None = None) -> Session:
    """A session object, sampled according to ``sample_rate``."""
    rate = (_config if _config is not None else get_config()).sample_rate
    # A disabled tracer still hands out working session objects; they just record nothing.
    sampled = enabled_at_root() and (rate >= 1.0 or random.random() < rate)
    return _session_class()(spec, session_id=session_id, source=source, sampled=sampled)


@functools.cache
def _session_class() -> type[Session]:
    from hivetrace._span import Session  # _span imports this module: resolved at first use

    return Session


def implicit_session(name: str) -> Session:
    """The session opened around a traced call made outside any session."""
    from hivetrace._signature import Spec

    return new_session(Spec(name, "session"))


def session_opened(session: Session) -> None:
    """A session began: make sure the flusher runs."""
    if _flusher is None or _pid != os.getpid():
        _ensure_flusher()


def session_closed(session: Session) -> None:
    """A session ended: it is now an event to deliver."""
    if session.sampled:
        _buffer.record(session)


def record(span: Event) -> None:
    """Hand a finished span to the flusher (spans of unsampled sessions are not kept)."""
    if span.session.sampled:
        _buffer.record(span)


def record_update(span: Event, fields: dict[str, Any]) -> None:
    """Send fields set on an event after it ended as an update."""
    if span.session.sampled:
        _buffer.record_update(Update(span, fields))


# -- the flusher ----------------------------------------------------------------------------


def _make_exporter(config: Config, flusher: Flusher) -> Exporter:
    from hivetrace import _exporters

    if config.exporter == "http":
        from hivetrace._transport import Transport

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
        from hivetrace._http_exporter import HttpExporter
        from hivetrace._spool import Spool

        spool = Spool(config.spool_dir, config.max_spool_bytes) if config.spool_dir else None
        return HttpExporter(transport, spool)
    if config.exporter == "local":
        return _exporters.LocalExporter(config.local_path)
    if config.exporter == "memory":
        return memory_exporter()
    return _exporters.NoneExporter()


_memory: MemoryExporter | None = None


def memory_exporter() -> MemoryExporter:
    """The process's MemoryExporter (one, so that tests can read what was sent)."""
    global _memory
    if _memory is None:
        from hivetrace._exporters import MemoryExporter

        _memory = MemoryExporter()
    return _memory


def _ensure_flusher() -> Flusher:
    global _flusher, _exit_registered
    with _lock:
        if _pid != os.getpid():
            _after_fork_in_child()
        if _flusher is None:
            from hivetrace._flusher import Flusher

            flusher = Flusher(get_config(), _make_exporter)
            _buffer.wake = flusher.wake
            flusher.start()
            _flusher = flusher
            if not _exit_registered:
                from hivetrace._lifecycle import install_sigterm_handler

                atexit.register(_at_exit)
                install_sigterm_handler(_at_exit)
                _exit_registered = True
        return _flusher


def flush(timeout: float = 10.0) -> bool:
    """Deliver everything recorded before the call; see :func:`hivetrace.flush`."""
    flusher = _flusher
    if flusher is None or _pid != os.getpid():
        if not QUEUE and not _buffer.CONTROL:
            return True
        flusher = _ensure_flusher()
    if threading.current_thread() is flusher.thread:
        return False  # called from a redact hook: waiting on ourselves would deadlock
    request = FlushRequest()
    _buffer.record_update(request)
    return request.wait(max(0.0, timeout))


def flush_now() -> bool:
    """The flush of ``@trace_session(flush=True)``: bounded by ``exit_timeout``."""
    return flush(get_config().exit_timeout)


async def flush_async() -> bool:
    """:func:`flush_now` without blocking the event loop."""
    import asyncio

    return await asyncio.get_running_loop().run_in_executor(None, flush_now)


def shutdown(timeout: float = 10.0) -> bool:
    """Deliver what is pending, then stop the flusher; see :func:`hivetrace.shutdown`."""
    global _flusher
    with _lock:
        flusher = _flusher
        if flusher is None or _pid != os.getpid():
            return not QUEUE
        deadline = time.monotonic() + max(0.0, timeout)
        flusher.hard_deadline = deadline
        transport = getattr(flusher, "transport", None)
        if transport is not None:
            transport.hard_deadline = deadline
        flusher.interrupt.set()  # a retry sleeping its backoff tries again now, by the deadline
        delivered = flush(timeout)
        flusher.stop()
        flusher.thread.join(max(0.0, deadline - time.monotonic()))
        flusher.interrupt.set()  # past the deadline now: whatever still retries gives up
        if flusher.thread.is_alive():
            flusher.thread.join(0.5)
        if flusher.thread.is_alive():
            flusher.retire()  # still in a request: it must not take what is recorded next
        _flusher = None
        _buffer.wake = _noop
        return delivered and not QUEUE


def _noop() -> None:
    pass


def stats() -> Stats:
    """A snapshot of the counters; see :func:`hivetrace.stats`."""
    counters = _buffer.counters
    with counters.lock:
        queued = len(QUEUE)
        dropped = dict(counters.dropped)
        return Stats(
            recorded=counters.taken + queued + dropped.get("queue_full", 0),
            sent=counters.sent,
            pending=queued + counters.in_flight,
            retried=counters.retried,
            spooled=counters.spooled,
            dropped=dropped,
            internal_errors=internal_error_count(),
        )


# -- exit and fork --------------------------------------------------------------------------


def _at_exit() -> None:
    """Close what is still open (marked incomplete) and deliver, within ``exit_timeout``."""
    if _pid != os.getpid():
        return
    from hivetrace._lifecycle import close_open_events

    close_open_events()
    shutdown(get_config().exit_timeout)


def _after_fork_in_child() -> None:
    """The child starts with no flusher and an empty buffer; the parent sends its own events."""
    global _flusher, _pid
    _flusher = None
    _pid = os.getpid()
    _buffer.reset_after_fork()
    _buffer.wake = _noop


def _before_fork() -> None:
    """Finish the flusher's lazy imports before forking: a child forked while the flusher
    thread is half-way through importing a module would inherit it half-initialized."""
    flusher = _flusher
    if flusher is not None and flusher.thread.is_alive():
        flusher.ready.wait(5.0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
