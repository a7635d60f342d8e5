"""Fixtures: the OpenAI-compatible fake server of ``integrations/openai/tests`` (the Agents
SDK's chat-completions model talks to it), and honeytrace's processor as the SDK's only one
(nothing goes to OpenAI's trace backend). Internal errors raise here instead of being logged."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["HONEYTRACE_RAISE_INTERNAL_ERRORS"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "openai" / "tests"))

from collections.abc import Iterator

import honeytrace_openai_agents
import pytest
from agents import OpenAIChatCompletionsModel
from openai import AsyncOpenAI
from openai_fake_server import FakeOpenAI


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def server(fake_openai: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_openai.queue.clear()
    fake_openai.received.clear()
    yield fake_openai
    fake_openai.queue.clear()


@pytest.fixture
def model(server: FakeOpenAI) -> OpenAIChatCompletionsModel:
    client = AsyncOpenAI(api_key="sk-test", base_url=server.url, max_retries=0)
    return OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=client)


@pytest.fixture(autouse=True)
def instrumented() -> Iterator[None]:
    assert honeytrace_openai_agents.instrument(replace=True) is not None
    yield
    honeytrace_openai_agents.uninstrument()
