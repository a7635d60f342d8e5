"""One tracer in a fresh process, delivering to a local sink: ``python -m benchmarks.sides
TRACER MODE URL [options as JSON]``; prints one line of JSON.

Each tracer gets its own process, because Logfire, Langfuse and the ``honeyhive`` SDK install
process-wide state (a global OpenTelemetry provider, a singleton client) that would disturb the
others, and so that every process counts only its own threads' CPU.

TRACER: honeytrace, opentelemetry, logfire, langfuse, langsmith, honeyhive.
MODE: ``on`` (tracing on, exporting to URL), ``off`` (the tracer's documented off switch), or
``off-env`` (honeytrace only: ``HONEYTRACE_ENABLED=false`` instead of ``configure``).
Options: ``{"events": N, "per_session": K}`` for the end-to-end measurement (N traced calls in
sessions of K calls each, each session a root with K children; key ``all_in`` of the answer),
and ``{"hot": calls, "samples": S}`` for the calling-thread timing (S samples of ``calls``
traced calls, interleaved with samples of the bare call and the floor, medians reported; key
``hot``). With both, the timing runs first, then the end-to-end run, in the same process.

Every traced call records the same two inputs (``i`` and ``text``): honeytrace and the SDKs that
record arguments do so by themselves; OpenTelemetry spans get them as two attributes.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import json
import logging
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

Step = Callable[[int, str], int]
Sessions = Callable[[int], contextlib.AbstractContextManager[Any]]


def _cpu() -> float:
    """CPU seconds of every thread of the process, including threads that already ended."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _quiet(*names: str) -> None:
    for name in names:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def honeytrace_side(url: str, on: bool) -> tuple[Step, Sessions, Callable[[], object]]:
    import honeytrace

    if on:
        honeytrace.configure(api_key=os.environ.get("BENCH_KEY", "bench"), server_url=url)
    elif os.environ.get("HONEYTRACE_ENABLED") is None:
        honeytrace.configure(enabled=False)

    @honeytrace.trace_tool
    def step(i: int, text: str) -> int:
        return i

    def session(n: int) -> contextlib.AbstractContextManager[Any]:
        return honeytrace.session("root", inputs={"root": n})

    return step, session, lambda: honeytrace.flush(300)


def _otel_step(tracer: Any) -> Step:
    def step(i: int, text: str) -> int:
        with tracer.start_as_current_span("step", attributes={"i": i, "text": text}):
            return i

    return step


def opentelemetry_side(url: str, on: bool) -> tuple[Step, Sessions, Callable[[], object]]:
    if not on:
        os.environ["OTEL_SDK_DISABLED"] = "true"  # the SDK's switch: no-op tracers
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=url + "/v1/traces"), max_queue_size=2_000_000)
    )
    tracer = provider.get_tracer("bench")

    def session(n: int) -> contextlib.AbstractContextManager[Any]:
        return tracer.start_as_current_span("root", attributes={"root": n})

    return _otel_step(tracer), session, lambda: provider.force_flush(300_000)


def logfire_side(url: str, on: bool) -> tuple[Step, Sessions, Callable[[], object]]:
    import logfire
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # send_to_logfire=False: nothing goes to logfire.dev; "on" exports over OTLP to the sink,
    # "off" exports nowhere (Logfire has no switch that skips making spans).
    processors = [BatchSpanProcessor(OTLPSpanExporter(endpoint=url + "/v1/traces"))] if on else []
    logfire.configure(
        send_to_logfire=False,
        console=False,
        metrics=False,
        service_name="bench",
        service_version="0",
        inspect_arguments=False,
        additional_span_processors=processors,
    )

    @logfire.instrument("step")
    def step(i: int, text: str) -> int:
        return i

    def session(n: int) -> contextlib.AbstractContextManager[Any]:
        return logfire.span("root", root=n)

    return step, session, lambda: logfire.force_flush(300_000)


def langfuse_side(url: str, on: bool) -> tuple[Step, Sessions, Callable[[], object]]:
    os.environ.update(
        LANGFUSE_PUBLIC_KEY="pk-bench",
        LANGFUSE_SECRET_KEY="sk-bench",
        LANGFUSE_BASE_URL=url,
        LANGFUSE_HOST=url,
        LANGFUSE_TRACING_ENABLED="true" if on else "false",
    )
    _quiet("langfuse", "opentelemetry.exporter", "opentelemetry.sdk")
    from langfuse import get_client, observe

    client = get_client()

    @observe()
    def step(i: int, text: str) -> int:
        return i

    def session(n: int) -> contextlib.AbstractContextManager[Any]:
        return client.start_as_current_observation(name="root", input={"root": n})

    return step, session, client.flush


def langsmith_side(url: str, on: bool) -> tuple[Step, Sessions, Callable[[], object]]:
    os.environ.update(
        LANGSMITH_TRACING="true" if on else "false",
        LANGSMITH_ENDPOINT=url,
        LANGSMITH_API_KEY="lsv2-bench",
    )
    _quiet("langsmith")
    import langsmith
    from langsmith.run_trees import get_cached_client

    @langsmith.traceable(run_type="tool")
    def step(i: int, text: str) -> int:
        return i

    def session(n: int) -> contextlib.AbstractContextManager[Any]:
        return langsmith.trace("root", run_type="chain", inputs={"root": n})

    def flush() -> object:
        get_cached_client().flush()
        return True

    return step, session, flush


def honeyhive_side(url: str, on: bool) -> tuple[Step, Sessions, Callable[[], object]]:
    import warnings

    warnings.simplefilter("ignore")
    _quiet("honeyhive", "opentelemetry.exporter", "opentelemetry.sdk")
    from honeyhive import HoneyHiveTracer, trace

    # test_mode is the SDK's way to run without a backend (no session calls, no export): the
    # nearest it has to an off switch (``disable_tracing`` exists in its config model, unread).
    tracer = HoneyHiveTracer.init(
        api_key="hh-bench", project="bench", server_url=url, test_mode=not on, verbose=False
    )

    @trace(tracer=tracer)
    def step(i: int, text: str) -> int:
        return i

    @contextlib.contextmanager
    def session(n: int) -> Iterator[None]:
        # A session per root, as an app serving requests does (create_session is the SDK's
        # per-request route; it calls the session-start API on the calling thread).
        if on:
            tracer.create_session(session_name="root", inputs={"root": n})
        yield

    return step, session, lambda: tracer.flush(300_000)


SIDES = {
    "honeytrace": honeytrace_side,
    "opentelemetry": opentelemetry_side,
    "logfire": logfire_side,
    "langfuse": langfuse_side,
    "langsmith": langsmith_side,
    "honeyhive": honeyhive_side,
}


def end_to_end(step: Step, session: Sessions, flush: Callable[[], object], options: Any) -> Any:
    """``events`` traced calls in sessions of ``per_session``, then flush: wall time, the
    calling thread's CPU and the whole process's CPU (all threads), from start to delivered."""
    events, per_session = int(options["events"]), int(options["per_session"])
    with session(-1):  # warm-up: imports, connections, lazily built state
        step(0, "x")
    flush()
    gc.collect()
    cpu0, main0 = _cpu(), time.thread_time()
    started = time.perf_counter()
    for n in range(events // per_session):
        with session(n):
            for i in range(per_session):
                step(i, "some text")
    recorded = time.perf_counter() - started
    delivered = flush()
    wall = time.perf_counter() - started
    main = time.thread_time() - main0
    total = _cpu() - cpu0
    calls = events // per_session * per_session
    return {
        "events": calls,
        "per_session": per_session,
        "wall_s": wall,
        "record_s": recorded,
        "delivered": delivered is not False,
        "main_cpu_s": main,
        "all_cpu_s": total,
        "wall_us_per_event": wall / calls * 1e6,
        "main_cpu_us_per_event": main / calls * 1e6,
        "all_cpu_us_per_event": total / calls * 1e6,
    }


_floor_var: contextvars.ContextVar[object] = contextvars.ContextVar("floor", default=None)
_floor_buffer: list[tuple[int, int]] = []


def _bare(i: int, text: str) -> int:
    return i


def _floor(i: int, text: str) -> int:
    token = _floor_var.set(1)
    start = time.perf_counter_ns()
    result = _bare(i, text)
    end = time.perf_counter_ns()
    _floor_var.reset(token)
    _floor_buffer.append((start, end))
    return result


def hot(step: Step, session: Sessions, flush: Callable[[], object], options: Any) -> Any:
    """Per-call nanoseconds on the calling thread, sender running (flushed between samples,
    untimed), next to the bare call and the floor timed in the same rounds."""
    calls, samples = int(options["hot"]), int(options.get("samples", 15))
    timings: dict[str, list[float]] = {"bare": [], "floor": [], "traced": []}

    def traced_run(n: int) -> None:
        with session(0):
            for i in range(n):
                step(i, "some text")

    def plain(fn: Step) -> Callable[[int], None]:
        def run(n: int) -> None:
            for i in range(n):
                fn(i, "some text")

        return run

    runs = {"bare": plain(_bare), "floor": plain(_floor), "traced": traced_run}
    for run in runs.values():
        run(min(calls, 200))
    flush()
    for _ in range(samples):
        for name, run in runs.items():
            gc.collect()
            started = time.perf_counter_ns()
            run(calls)
            timings[name].append((time.perf_counter_ns() - started) / calls)
        _floor_buffer.clear()
        flush()
    medians = {f"{name}_ns": statistics.median(values) for name, values in timings.items()}
    return {**medians, "samples_ns": timings}


def main(argv: list[str]) -> None:
    tracer, mode, url = argv[:3]
    options = json.loads(argv[3]) if len(argv) > 3 else {"events": 10_000, "per_session": 10}
    if mode == "off-env":  # honeytrace's other off switch, set before anything is imported
        os.environ["HONEYTRACE_ENABLED"] = "false"
    step, session, flush = SIDES[tracer](url, mode == "on")
    result: dict[str, Any] = {"tracer": tracer, "mode": mode}
    if "hot" in options:
        result["hot"] = hot(step, session, flush, options)
    if "events" in options:
        result["all_in"] = end_to_end(step, session, flush, options)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
