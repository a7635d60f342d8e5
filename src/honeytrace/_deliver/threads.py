"""The flusher's threads: started with SIGINT/SIGTERM blocked, a fan-out that needs no pool (and
no new thread at interpreter exit), and OpenTelemetry kept out of our own HTTP calls."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable, Sized
from typing import TypeVar

from honeytrace._errors import log_once

__all__ = ["fan_out", "start_without_signals", "suppress_otel_instrumentation"]

_T = TypeVar("_T")


def suppress_otel_instrumentation() -> None:
    """Keep the exporter's own HTTP calls out of any OpenTelemetry instrumentation."""
    try:
        from opentelemetry import context

        quiet = context.set_value(context._SUPPRESS_INSTRUMENTATION_KEY, True)
        # Instrumentations of older releases look the flag up by its plain name.
        context.attach(context.set_value("suppress_instrumentation", True, quiet))
    except Exception:  # an API too old or too new: tracing our own calls is only noise
        log_once("otel-suppress", logging.DEBUG, "honeytrace: cannot suppress OTel in flusher")


_SIGNALS = frozenset(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name)
)


def start_without_signals(thread: threading.Thread) -> None:
    """Start one of honeytrace's threads with SIGINT and SIGTERM blocked in it, so that the
    kernel hands those signals to the application's threads. Python runs signal handlers in the
    main thread only; a signal that lands on a background thread while the main thread sleeps
    or waits (``time.sleep``, a queue) would wait with it, and Ctrl-C or a SIGTERM handler
    would not act until that call returns."""
    block = getattr(signal, "pthread_sigmask", None)
    if block is None:  # no POSIX signal masks here (Windows): nothing to hand over
        thread.start()
        return
    previous = block(signal.SIG_BLOCK, _SIGNALS)  # the new thread inherits this mask
    try:
        thread.start()
    finally:
        block(signal.SIG_SETMASK, previous)


def fan_out(
    items: Iterable[_T], work: Callable[[_T], None], workers: int, count: int | None = None
) -> None:
    """Run ``work`` on every item with the calling thread and up to ``workers - 1`` short-lived
    daemon threads (not a pool: at interpreter exit concurrent.futures refuses new work). When
    no thread can start (interpreter exit, from 3.12 on), the calling thread, which already
    runs, does all of it: exit is when delivery matters most. The first exception is raised
    here once every item is done.

    ``items`` may be a generator: it is advanced under a lock by whichever thread is free, so
    the work of making the next item overlaps the others' requests. ``count`` says how many
    items there are when ``items`` has no length (no more threads than items)."""
    pending = iter(items)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def run() -> None:
        while True:
            with lock:
                try:
                    item = next(pending, None)
                except BaseException as exc:  # made by a generator: handed over below
                    errors.append(exc)
                    return
            if item is None:
                return
            try:
                work(item)
            except BaseException as exc:  # handed to the flusher thread below
                errors.append(exc)
                return

    def helper() -> None:
        suppress_otel_instrumentation()
        run()

    threads = []
    if count is None:
        count = len(items) if isinstance(items, Sized) else workers
    for _ in range(min(workers, count) - 1):
        thread = threading.Thread(target=helper, name="honeytrace-sender", daemon=True)
        try:
            start_without_signals(thread)
        except RuntimeError:  # "can't create new thread at interpreter shutdown"
            break
        threads.append(thread)
    run()
    for thread in threads:
        thread.join()  # each request inside is bounded by the transport's deadlines
    if errors:
        raise errors[0]
