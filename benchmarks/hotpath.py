"""Hot-path cases: what one traced call costs the calling thread, next to the floor and peers.

Every tracer is measured inside an open parent (a honeytrace session, an OTel/LangSmith/Langfuse
parent span), with a background exporter that never reaches a network: honeytrace's buffer is
drained between samples (the flusher's own cost is measured end to end elsewhere); OTel uses a
BatchSpanProcessor over an exporter that drops; LangSmith and Langfuse point at a dead local
port (their background threads fail quietly; the calling thread does what it always does).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import wrapt

import honeytrace
from honeytrace._record import buffer as _buffer

from .timing import Case

DEAD_URL = "http://127.0.0.1:9"
MESSAGES = [
    {"role": "user" if i % 2 else "assistant", "content": f"message number {i} " * 5}
    for i in range(10)
]


def bare(a: int, b: int) -> int:
    return a + b


_floor_var: contextvars.ContextVar[object] = contextvars.ContextVar("floor", default=None)
_floor_buffer: list[tuple[int, int]] = []


def floor(a: int, b: int) -> int:
    """The least any tracer recording timing and nesting must do."""
    token = _floor_var.set(1)
    start = time.perf_counter_ns()
    result = bare(a, b)
    end = time.perf_counter_ns()
    _floor_var.reset(token)
    _floor_buffer.append((start, end))
    return result


@wrapt.decorator
def _passthrough(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    return wrapped(*args, **kwargs)


@_passthrough
def wrapt_bare(a: int, b: int) -> int:
    return a + b


@honeytrace.trace_tool
def traced(a: int, b: int) -> int:
    return a + b


@honeytrace.trace_model
def traced_chat(messages: list[dict[str, str]], model: str) -> str:
    return "ok"


@honeytrace.trace_tool
async def traced_async(a: int, b: int) -> int:
    return a + b


async def bare_async(a: int, b: int) -> int:
    return a + b


@honeytrace.trace_tool
def traced_gen(a: int, b: int) -> Iterator[int]:
    yield a + b


def bare_gen(a: int, b: int) -> Iterator[int]:
    yield a + b


def _loop(fn: Callable[[int, int], Any]) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            fn(1, 2)

    return run


def _in_session(run: Callable[[int], None]) -> Callable[[int], None]:
    def wrapped(n: int) -> None:
        with honeytrace.session("bench"):
            run(n)

    return wrapped


def _drain() -> None:
    _buffer.QUEUE.clear()
    _floor_buffer.clear()


def _async_loop(fn: Callable[[int, int], Any]) -> Callable[[int], None]:
    async def many(n: int) -> None:
        for _ in range(n):
            await fn(1, 2)

    def run(n: int) -> None:
        async def main() -> None:
            async with honeytrace.session("bench"):
                await many(n)

        asyncio.run(main())

    return run


def _gen_loop(fn: Callable[[int, int], Iterator[int]]) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            for _item in fn(1, 2):
                pass

    return run


def _disabled(n: int) -> None:
    honeytrace.configure(exporter="none", enabled=False)
    try:
        _loop(traced)(n)
    finally:
        _configure_honeytrace()


def _configure_honeytrace() -> None:
    # The flusher stays asleep during samples: nothing wakes it but the batch threshold, which
    # the drained buffer never reaches.
    honeytrace.configure(
        exporter="none", flush_interval=3600, batch_size=100_000, max_queue=10_000_000
    )


def honeytrace_cases() -> list[Case]:
    """Baselines and honeytrace's own wrappers."""
    _configure_honeytrace()
    return [
        Case("bare call", _loop(bare), reset=_drain),
        Case("floor: ContextVar set/reset + 2 clocks + append", _loop(floor), reset=_drain),
        Case("wrapt pass-through", _loop(wrapt_bare), reset=_drain),
        Case("honeytrace sync, 2 args", _in_session(_loop(traced)), reset=_drain),
        Case(
            "honeytrace sync, 10-message chat",
            _in_session(_loop(lambda a, b: traced_chat(MESSAGES, "gpt-4o"))),
            reset=_drain,
        ),
        Case("bare async", _async_loop(bare_async), reset=_drain),
        Case("honeytrace async", _async_loop(traced_async), reset=_drain),
        Case("bare generator", _gen_loop(bare_gen), reset=_drain),
        Case("honeytrace generator", _in_session(_gen_loop(traced_gen)), reset=_drain),
        Case("honeytrace disabled", _disabled, reset=_drain),
    ]


def otel_case() -> Case | None:
    """The OpenTelemetry SDK: a span per call, BatchSpanProcessor, an exporter that drops."""
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )
    except ImportError:
        return None

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=100_000))
    tracer = provider.get_tracer("bench")

    @tracer.start_as_current_span("tool")
    def otel_traced(a: int, b: int) -> int:
        return a + b

    def run(n: int) -> None:
        with tracer.start_as_current_span("parent"):
            _loop(otel_traced)(n)

    return Case("OpenTelemetry SDK span", run, group="peers")


def langsmith_case() -> Case | None:
    """LangSmith's ``@traceable``, tracing on, endpoint a dead local port."""
    os.environ.update(
        LANGSMITH_TRACING="true", LANGSMITH_ENDPOINT=DEAD_URL, LANGSMITH_API_KEY="lsv2-bench"
    )
    try:
        from langsmith import traceable
    except ImportError:
        return None
    logging.getLogger("langsmith").setLevel(logging.CRITICAL)

    @traceable(run_type="tool")
    def ls_traced(a: int, b: int) -> int:
        return a + b

    @traceable(run_type="chain")
    def parent(n: int) -> None:
        _loop(ls_traced)(n)

    return Case("LangSmith @traceable", parent, group="peers")


def langfuse_case() -> Case | None:
    """Langfuse's ``@observe``, keys set, host a dead local port."""
    os.environ.update(
        LANGFUSE_PUBLIC_KEY="pk-bench", LANGFUSE_SECRET_KEY="sk-bench", LANGFUSE_HOST=DEAD_URL
    )
    try:
        from langfuse import observe
    except ImportError:
        return None
    # Langfuse exports through the OpenTelemetry OTLP exporter, which logs every failed retry.
    for name in ("langfuse", "opentelemetry.exporter", "opentelemetry.sdk"):
        logging.getLogger(name).setLevel(logging.CRITICAL)

    @observe()
    def lf_traced(a: int, b: int) -> int:
        return a + b

    @observe()
    def parent(n: int) -> None:
        _loop(lf_traced)(n)

    return Case("Langfuse @observe", parent, group="peers")
