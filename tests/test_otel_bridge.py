"""honeytrace events as OpenTelemetry spans (``configure(otel=True)``), with the real SDK."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

import honeytrace
from honeytrace._record import hooks as _hooks
from honeytrace.otel.bridge import observer
from honeytrace.testing import Capture, capture
from tests.support.otel import Otel, otel_fixture

__all__ = ["otel_fixture"]


@pytest.fixture
def traces(otel: Otel) -> Iterator[Capture]:
    """honeytrace into memory with the bridge on; off again afterwards."""
    with capture(otel=True) as captured:
        yield captured
    assert _hooks.active is None


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    return span.get_span_context().span_id


def test_each_event_is_a_span_with_its_ids_times_and_nesting(otel: Otel, traces: Capture) -> None:
    @honeytrace.trace_tool
    def search(query: str) -> list[str]:
        return ["doc"]

    @honeytrace.trace_chain
    def answer(question: str) -> str:
        search(question)
        return "ok"

    with honeytrace.session("chat") as session:
        answer("refunds?")
    session_span, chain, tool = otel.span("chat"), otel.span("answer"), otel.span("search")
    assert session_span.parent is None
    assert parent_of(chain) == span_id(session_span)
    assert parent_of(tool) == span_id(chain)
    assert {span.get_span_context().trace_id for span in (session_span, chain, tool)} == {
        session_span.get_span_context().trace_id
    }
    assert session_span.instrumentation_scope is not None
    assert session_span.instrumentation_scope.name == "honeytrace"
    sent = traces.event("search")
    assert tool.attributes is not None
    assert tool.attributes["honeytrace.event_id"] == sent["event_id"]
    assert tool.attributes["honeytrace.session_id"] == session.session_id
    assert tool.attributes["honeytrace.event_type"] == "tool"
    assert dict(session_span.attributes or {})["honeytrace.event_type"] == "session"
    # the span has the event's own clock readings: the same duration to the nanosecond
    assert tool.start_time is not None and tool.end_time is not None
    assert (tool.end_time - tool.start_time) / 1_000_000 == sent["duration"]
    assert tool.start_time // 1_000_000 - sent["start_time"] in (-1, 0, 1)
    assert tool.status.status_code is StatusCode.UNSET


def test_foreign_spans_inside_an_event_are_its_children(otel: Otel, traces: Capture) -> None:
    tracer = otel.tracer("httpx-ish")

    @honeytrace.trace_tool
    def fetch() -> None:
        with tracer.start_as_current_span("GET /orders"):
            pass

    with honeytrace.session("s"):
        fetch()
    assert parent_of(otel.span("GET /orders")) == span_id(otel.span("fetch"))


def test_an_event_inside_a_foreign_span_keeps_it_as_parent(otel: Otel, traces: Capture) -> None:
    tracer = otel.tracer("web")

    @honeytrace.trace_model
    def generate() -> str:
        return "hi"

    with tracer.start_as_current_span("POST /chat") as request:
        with honeytrace.session("chat"):
            generate()
        assert trace.get_current_span() is request  # given back after the session
    request_span = otel.span("POST /chat")
    session = otel.span("chat")
    assert parent_of(session) == span_id(request_span)
    assert parent_of(otel.span("generate")) == span_id(session)
    assert session.get_span_context().trace_id == request_span.get_span_context().trace_id


def test_an_error_is_an_error_status(otel: Otel, traces: Capture) -> None:
    @honeytrace.trace_tool
    def lookup() -> None:
        raise KeyError("B-2")

    with pytest.raises(KeyError), honeytrace.session("s"):
        lookup()
    span = otel.span("lookup")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "KeyError: 'B-2'"
    (exception,) = [event for event in span.events if event.name == "exception"]
    assert dict(exception.attributes or {}) == {
        "exception.type": "KeyError",
        "exception.message": "'B-2'",
    }
    assert otel.span("s").status.status_code is StatusCode.ERROR


def test_a_generator_is_one_span_current_only_while_it_runs(otel: Otel, traces: Capture) -> None:
    tracer = otel.tracer("app")
    seen_between_steps: list[object] = []

    @honeytrace.trace_chain
    def stream() -> Iterator[int]:
        for index in range(2):
            with tracer.start_as_current_span(f"step-{index}"):
                pass
            yield index

    with honeytrace.session("s"):
        session_span = trace.get_current_span()
        for _ in stream():
            seen_between_steps.append(trace.get_current_span())
    generator = otel.span("stream")
    assert seen_between_steps == [session_span, session_span]
    assert parent_of(otel.span("step-0")) == span_id(generator)
    assert parent_of(otel.span("step-1")) == span_id(generator)
    assert [span.name for span in otel.spans()].count("stream") == 1


def test_a_session_generator_ends_one_span(otel: Otel, traces: Capture) -> None:
    @honeytrace.trace_session
    def conversation() -> Iterator[str]:
        yield "a"
        yield "b"

    assert list(conversation()) == ["a", "b"]
    assert [span.name for span in otel.spans()] == ["conversation"]


def test_async_events_nest_across_awaits(otel: Otel, traces: Capture) -> None:
    @honeytrace.trace_tool
    async def fetch(name: str) -> str:
        await asyncio.sleep(0)
        return name

    @honeytrace.trace_chain
    async def gather() -> list[str]:
        return list(await asyncio.gather(fetch("a"), fetch("b")))

    async def main() -> None:
        async with honeytrace.session("s"):
            await gather()

    asyncio.run(main())
    parent = span_id(otel.span("gather"))
    fetched = [span for span in otel.spans() if span.name == "fetch"]
    assert [parent_of(span) for span in fetched] == [parent, parent]


def test_an_event_in_another_thread_keeps_its_parent(otel: Otel, traces: Capture) -> None:
    @honeytrace.trace_tool
    def work() -> int:
        return 1

    @honeytrace.trace_chain
    def fan_out() -> None:
        # The executor carries honeytrace's context, not OpenTelemetry's.
        with ThreadPoolExecutor(2) as pool:
            pool.submit(work).result()

    with honeytrace.session("s"):
        fan_out()
    assert parent_of(otel.span("work")) == span_id(otel.span("fan_out"))


def test_a_span_begun_but_never_current_gets_its_times_and_parent(
    otel: Otel, traces: Capture
) -> None:
    with honeytrace.session("s"):
        stream = honeytrace.span("stream", "model")
        stream.begin()
    stream.finish()  # after the session ended, as a stream read later would
    span = otel.span("stream")
    sent = traces.event("stream")
    assert parent_of(span) == span_id(otel.span("s"))
    assert span.start_time is not None and span.end_time is not None
    assert (span.end_time - span.start_time) / 1_000_000 == sent["duration"]


def test_a_stream_finished_after_its_parent_ended_stays_under_it(
    otel: Otel, traces: Capture
) -> None:
    @honeytrace.trace_chain
    def start_stream() -> honeytrace.Span:
        stream = honeytrace.span("stream", "model")
        stream.begin()
        return stream

    with honeytrace.session("s"):
        stream = start_stream()
        stream.finish()  # read to the end in the caller, inside the session's span
    assert traces.event("stream")["parent_id"] == traces.event("start_stream")["event_id"]
    assert parent_of(otel.span("stream")) == span_id(otel.span("start_stream"))


def test_an_implicit_session_is_the_parent_span(otel: Otel, traces: Capture) -> None:
    @honeytrace.trace_tool
    def lonely() -> Iterator[int]:
        yield 1

    assert list(lonely()) == [1]
    spans = [span for span in otel.spans() if span.name == "lonely"]
    assert len(spans) == 2  # the implicit session and the event, both named after the call
    session = next(span for span in spans if span.parent is None)
    event = next(span for span in spans if span.parent is not None)
    assert parent_of(event) == span_id(session)


def test_unsampled_sessions_make_no_spans(otel: Otel, otel_off: None) -> None:
    with capture(otel=True, sample_rate=0.0):
        with honeytrace.session("dropped"):
            honeytrace.trace_tool(lambda: 1, name="t")()
    assert otel.spans() == []


@pytest.fixture
def otel_off() -> Iterator[None]:
    yield
    honeytrace.configure(exporter="memory")


def test_otel_off_changes_nothing(otel: Otel) -> None:
    with capture() as traces:
        with honeytrace.session("s"):
            honeytrace.trace_tool(lambda: 1, name="t")()
        assert len(traces.events) == 1
    assert _hooks.active is None
    assert otel.spans() == []


def test_the_environment_switches_it_on_and_the_app_provider_stays(
    otel: Otel, monkeypatch: pytest.MonkeyPatch, otel_off: None
) -> None:
    provider = trace.get_tracer_provider()
    monkeypatch.setenv("HONEYTRACE_OTEL", "1")
    honeytrace.configure(exporter="memory")
    assert _hooks.active is observer
    with honeytrace.session("from-env"):
        pass
    assert [span.name for span in otel.spans()] == ["from-env"]
    assert trace.get_tracer_provider() is provider
    monkeypatch.delenv("HONEYTRACE_OTEL")
    honeytrace.configure(exporter="memory")
    assert _hooks.active is None


def test_import_honeytrace_imports_no_opentelemetry() -> None:
    code = (
        "import sys, honeytrace\n"
        "honeytrace.configure(exporter='none')\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout.strip() == "[]"


def test_the_example_shows_one_tree_on_both_sides(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYTRACE_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root / "src"), env.get("PYTHONPATH")]))
    env["HONEYTRACE_RAISE_INTERNAL_ERRORS"] = "1"

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    printed = run(str(root / "examples" / "otel_bridge.py"))
    assert printed.splitlines()[1:5] == [
        "OpenTelemetry spans:",
        "support-chat  [honeytrace]",
        "  search  [honeytrace]",
        "  chat gpt-4o-mini  [opentelemetry.instrumentation.openai_v2]",
    ]
    assert "all delivered: True" in printed
    shown = run("-m", "honeytrace", "show", "latest")
    assert "model chat gpt-4o-mini" in shown
    assert "tool search" in shown
    assert '"messages": [{"role": "user", "content": "How do refunds work?"}]' in shown
