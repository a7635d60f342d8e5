"""instrument() / uninstrument() for Anthropic, and the machinery shared with honeytrace-openai."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import honeytrace_anthropic
import pytest
import wrapt
from anthropic.lib.streaming import AsyncMessageStream, MessageStream
from anthropic.resources.messages import AsyncMessages, Messages
from anthropic_events import model_events
from anthropic_fake_server import FakeAnthropic
from honeytrace_anthropic import _messages

import honeytrace._errors
from honeytrace.testing import Capture

MODEL = "claude-sonnet-4-6"
MESSAGES = [{"role": "user", "content": "hi"}]
TARGETS = [
    (Messages, "create"),
    (Messages, "stream"),
    (AsyncMessages, "create"),
    (AsyncMessages, "stream"),
    (MessageStream, "__init__"),
    (AsyncMessageStream, "__init__"),
]


@pytest.fixture
def pristine() -> Iterator[dict[tuple[type, str], Any]]:
    honeytrace_anthropic.uninstrument()
    yield {(owner, name): vars(owner)[name] for owner, name in TARGETS}


def call(client: anthropic.Anthropic) -> None:
    client.messages.create(model=MODEL, max_tokens=16, messages=MESSAGES)


def test_uninstrument_restores_the_original_functions(pristine: dict[Any, Any]) -> None:
    first = honeytrace_anthropic.instrument()
    assert honeytrace_anthropic.instrument() is first
    for (owner, name), original in pristine.items():
        patched = vars(owner)[name]
        assert isinstance(patched, wrapt.FunctionWrapper) and patched.__wrapped__ is original
    first.uninstrument()
    for (owner, name), original in pristine.items():
        assert vars(owner)[name] is original


def test_one_client_only(
    pristine: dict[Any, Any], server: FakeAnthropic, honeytrace_capture: Capture
) -> None:
    traced = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
    other = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
    with honeytrace_anthropic.instrument(traced):
        call(traced)
        call(other)
        with other.messages.stream(model=MODEL, max_tokens=16, messages=MESSAGES) as stream:
            stream.until_done()
    assert [e["event_name"] for e in model_events(honeytrace_capture)] == [
        "anthropic.messages.create"
    ]
    assert vars(Messages)["create"] is pristine[(Messages, "create")]


def test_a_tracing_failure_never_reaches_the_call(
    client: anthropic.Anthropic,
    honeytrace_capture: Capture,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(honeytrace._errors, "_raise", False)  # production mode: swallow

    def broken(*args: Any) -> Any:
        raise RuntimeError("tracer bug")

    monkeypatch.setattr(_messages.MessageAccumulator, "add", broken)
    monkeypatch.setattr(_messages, "_outputs", broken)
    with caplog.at_level(logging.ERROR, "honeytrace.integrations"):
        message = client.messages.create(model=MODEL, max_tokens=16, messages=MESSAGES)
        with client.messages.stream(model=MODEL, max_tokens=16, messages=MESSAGES) as stream:
            text = "".join(stream.text_stream)
    assert message.content and text
    assert "tracer bug" in caplog.text
    assert len(model_events(honeytrace_capture)) == 2
