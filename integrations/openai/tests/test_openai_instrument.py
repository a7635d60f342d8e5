"""instrument() / uninstrument(): patching once, undoing exactly, one client, never breaking
the user's call."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import honeytrace_openai
import openai
import pytest
import wrapt
from honeytrace_openai import _chat, _table
from openai.resources.chat.completions import AsyncCompletions, Completions
from openai.resources.embeddings import Embeddings
from openai.resources.responses import Responses
from openai_events import model_events, only_model_event
from openai_fake_server import FakeOpenAI

import honeytrace._errors
from honeytrace.instrumentation import Instrumentor
from honeytrace.testing import Capture

MESSAGES = [{"role": "user", "content": "hi"}]
TARGETS = [
    (Completions, "create"),
    (Completions, "parse"),
    (Completions, "stream"),
    (AsyncCompletions, "create"),
    (Responses, "create"),
    (Embeddings, "create"),
]


@pytest.fixture
def pristine() -> Iterator[dict[tuple[type, str], Any]]:
    """The SDK's own functions, taken with nothing patched."""
    honeytrace_openai.uninstrument()
    yield {(owner, name): vars(owner)[name] for owner, name in TARGETS}


def chat(client: openai.OpenAI) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def test_uninstrument_restores_the_original_functions(pristine: dict[Any, Any]) -> None:
    handle = honeytrace_openai.instrument()
    assert handle.active
    for (owner, name), original in pristine.items():
        patched = vars(owner)[name]
        assert isinstance(patched, wrapt.FunctionWrapper)
        assert patched.__wrapped__ is original
    honeytrace_openai.uninstrument()
    assert not handle.active
    for (owner, name), original in pristine.items():
        assert vars(owner)[name] is original


def test_instrument_is_idempotent(
    pristine: dict[Any, Any], client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    first = honeytrace_openai.instrument()
    second = honeytrace_openai.instrument()
    assert first is second
    assert vars(Completions)["create"].__wrapped__ is pristine[(Completions, "create")]
    chat(client)
    assert len(model_events(honeytrace_capture)) == 1
    first.uninstrument()
    assert vars(Completions)["create"] is pristine[(Completions, "create")]


def test_an_uninstrumented_sdk_records_nothing(
    pristine: dict[Any, Any], client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    chat(client)
    assert model_events(honeytrace_capture) == []


def test_one_client_only(
    pristine: dict[Any, Any], server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    traced = openai.OpenAI(api_key="k", base_url=server.url, max_retries=0)
    other = openai.OpenAI(api_key="k", base_url=server.url, max_retries=0)
    handle = honeytrace_openai.instrument(traced)
    assert handle.client is traced
    assert honeytrace_openai.instrument(traced) is handle

    chat(traced)
    chat(other)
    assert len(model_events(honeytrace_capture)) == 1

    handle.uninstrument()
    assert vars(Completions)["create"] is pristine[(Completions, "create")]
    chat(traced)
    assert len(model_events(honeytrace_capture)) == 1


def test_a_client_handle_and_the_global_one_are_independent(
    pristine: dict[Any, Any], server: FakeOpenAI, honeytrace_capture: Capture
) -> None:
    one = openai.AsyncOpenAI(api_key="k", base_url=server.url, max_retries=0)
    with honeytrace_openai.instrument(one):
        everything = honeytrace_openai.instrument()
        everything.uninstrument()
        asyncio.run(one.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))
        assert len(model_events(honeytrace_capture)) == 1
    assert vars(AsyncCompletions)["create"] is pristine[(AsyncCompletions, "create")]


def test_a_wrapper_applied_over_ours_survives_uninstrument(
    pristine: dict[Any, Any], client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    honeytrace_openai.instrument()
    calls: list[str] = []

    def theirs(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        calls.append("theirs")
        return wrapped(*args, **kwargs)

    wrapt.wrap_function_wrapper(Completions, "create", theirs)
    try:
        honeytrace_openai.uninstrument()
        chat(client)
        assert calls == ["theirs"]
        assert model_events(honeytrace_capture) == []  # ours stays in the chain, switched off
    finally:
        Completions.create = pristine[Completions, "create"]


def test_a_too_old_sdk_is_left_alone(
    pristine: dict[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    future = Instrumentor[_chat.Options]("openai", (99,), _table.PATCHES)
    with caplog.at_level(logging.WARNING, "honeytrace.integrations"):
        handle = future.instrument(None, _chat.Options())
    assert not handle.active
    assert "older than 99" in caplog.text
    assert vars(Completions)["create"] is pristine[(Completions, "create")]


def test_a_missing_library_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    missing = Instrumentor[_chat.Options]("no-such-sdk", (1,), _table.PATCHES)
    with caplog.at_level(logging.WARNING, "honeytrace.integrations"):
        assert not missing.instrument(None, _chat.Options()).active
    assert "no-such-sdk is not installed" in caplog.text


def test_a_tracing_failure_never_reaches_the_call(
    client: openai.OpenAI,
    honeytrace_capture: Capture,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(honeytrace._errors, "_raise", False)  # production mode: swallow

    def broken(*args: Any) -> Any:
        raise RuntimeError("tracer bug")

    monkeypatch.setattr(_chat.ChatAccumulator, "add", broken)
    monkeypatch.setattr(_chat, "_message", broken)
    with caplog.at_level(logging.ERROR, "honeytrace.integrations"):
        completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        chunks = list(
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        )
    assert completion.choices[0].message.content
    assert all(chunk.choices for chunk in chunks)  # the tracer's usage chunk stays hidden
    assert "tracer bug" in caplog.text
    assert len(model_events(honeytrace_capture)) == 2  # both events still ended


def test_a_failing_request_builder_leaves_the_call_untraced(
    client: openai.OpenAI, honeytrace_capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(honeytrace._errors, "_raise", False)  # production mode: swallow

    def broken(*args: Any) -> Any:
        raise RuntimeError("tracer bug")

    monkeypatch.setattr(_chat, "split_request", broken)
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.content
    assert model_events(honeytrace_capture) == []


def test_the_handle_is_a_context_manager(
    pristine: dict[Any, Any], client: openai.OpenAI, honeytrace_capture: Capture
) -> None:
    with honeytrace_openai.instrument() as handle:
        chat(client)
    assert not handle.active
    chat(client)
    assert only_model_event(honeytrace_capture)["event_name"] == "openai.chat.completions.create"
