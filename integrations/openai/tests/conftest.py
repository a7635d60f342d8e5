"""Fixtures: a fake OpenAI server, real SDK clients pointed at it, and a clean instrumentation
for every test. Internal errors of the integration raise here instead of being logged."""

from __future__ import annotations

import os

os.environ["HONEYTRACE_RAISE_INTERNAL_ERRORS"] = "1"

from collections.abc import Iterator

import honeytrace_openai
import openai
import pytest
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


@pytest.fixture(scope="session")
def client(fake_openai: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key="sk-test", base_url=fake_openai.url, max_retries=0) as made:
        yield made


@pytest.fixture
def async_client(fake_openai: FakeOpenAI) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="sk-test", base_url=fake_openai.url, max_retries=0)


@pytest.fixture(autouse=True)
def instrumented() -> Iterator[None]:
    """Every test starts instrumented for all clients, and leaves nothing patched."""
    honeytrace_openai.instrument()
    yield
    honeytrace_openai.uninstrument()
