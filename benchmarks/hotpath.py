"""Hot-path cases: what one traced call costs the calling thread, next to the floor and
OpenTelemetry, with delivery on as in a real app.

honeytrace sends to the strict fake API (a local process) with its default flush settings, so
its flusher wakes, encodes and sends while samples run (and competes for the GIL as it would in
an app); between samples, untimed, ``flush()`` delivers what the sample recorded. The
OpenTelemetry SDK exports over OTLP/HTTP to the minimal local sink, force-flushed between
samples the same way. Every span gets the same two inputs as honeytrace records. The other
peers (Logfire, Langfuse, LangSmith, the honeyhive SDK) install process-wide state, so they are
timed in processes of their own (:mod:`benchmarks.peers`).

``python -m benchmarks.hotpath [samples]`` times these cases alone, as ``python -m benchmarks``
does, and prints goal 4's budgets (a minute instead of the whole run).
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import wrapt

import honeytrace

from .timing import Case

FLOOR = "floor: ContextVar set/reset + 2 clocks + append"
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
    """Deliver what the sample recorded (untimed), so that nothing piles up across samples."""
    honeytrace.flush(120)
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


_options: dict[str, object] = {}


def _configure_honeytrace(**extra: object) -> None:
    honeytrace.configure(**{**_options, **extra})


def _disabled_by_configure() -> None:
    _configure_honeytrace(enabled=False)


def _disabled_by_env() -> None:
    os.environ["HONEYTRACE_ENABLED"] = "false"  # read at call time, for calls outside a session


def _enable_again() -> None:
    os.environ.pop("HONEYTRACE_ENABLED", None)
    _configure_honeytrace()
    _floor_buffer.clear()


def honeytrace_cases(url: str, api_key: str) -> list[Case]:
    """Baselines and honeytrace's own wrappers, delivering to ``url`` (the strict fake API)."""
    _options.update(api_key=api_key, server_url=url)
    _configure_honeytrace()
    return [
        Case("bare call", _loop(bare), reset=_drain),
        Case(FLOOR, _loop(floor), reset=_drain),
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
        Case(
            "honeytrace disabled by configure(enabled=False)",
            _loop(traced),
            before=_disabled_by_configure,
            reset=_enable_again,
        ),
        Case(
            "honeytrace disabled by HONEYTRACE_ENABLED=false",
            _loop(traced),
            before=_disabled_by_env,
            reset=_enable_again,
        ),
    ]


def otel_cases(url: str) -> list[Case]:
    """The OpenTelemetry SDK: a span per call carrying the same two inputs as attributes,
    BatchSpanProcessor, OTLP/HTTP to the local sink at ``url``; and the SDK switched off
    (``OTEL_SDK_DISABLED=true``: its tracers are no-ops)."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        return []
    import logging

    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)
    provider = TracerProvider()
    exporter = OTLPSpanExporter(endpoint=url + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=100_000))
    os.environ["OTEL_SDK_DISABLED"] = "true"
    try:
        disabled = TracerProvider()  # reads the switch when made
    finally:
        del os.environ["OTEL_SDK_DISABLED"]

    def case(name: str, tracer_provider: Any) -> Case:
        tracer = tracer_provider.get_tracer("bench")

        def otel_traced(a: int, b: int) -> int:
            with tracer.start_as_current_span("tool", attributes={"a": a, "b": b}):
                return a + b

        def run(n: int) -> None:
            with tracer.start_as_current_span("parent"):
                _loop(otel_traced)(n)

        return Case(name, run, group="peers", reset=lambda: provider.force_flush(120_000))

    return [
        case("OpenTelemetry SDK span, 2 attributes", provider),
        case("OpenTelemetry SDK disabled (OTEL_SDK_DISABLED)", disabled),
    ]


def main(argv: list[str] | None = None) -> int:
    """Goal 4 alone: the honeytrace cases, timed as ``python -m benchmarks`` times them."""
    import statistics
    import sys

    from . import sinks
    from .report import hot_path_checks
    from .timing import measure

    args = sys.argv[1:] if argv is None else argv
    samples = int(args[0]) if args else 21
    with sinks.strict_sink() as (url, count_url):
        cases = honeytrace_cases(url, sinks.STRICT_KEY)
        measure(cases, 5_000, samples)
        strict = sinks.stats(count_url)
    results = {"hot_path": {case.name: {"samples_ns": case.samples_ns} for case in cases}}
    for case in cases:
        print(f"{case.name:52} {statistics.median(case.samples_ns) / 1000:8.2f}µs")
    failed = strict["refused"] + strict["violation_count"]
    for what, value, limit, op in hot_path_checks(results):
        ok = value <= limit if op == "<=" else value >= limit
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} {what}: {value:.3f} (limit {op} {limit})")
    print(f"strict sink: {strict['refused']} refused, {strict['violation_count']} violations")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
