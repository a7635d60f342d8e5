"""Fixtures: a fake Anthropic server, real SDK clients pointed at it, and a clean
instrumentation for every test. Internal errors of the integration raise here."""

from __future__ import annotations

import os

os.environ["HONEYTRACE_RAISE_INTERNAL_ERRORS"] = "1"

from collections.abc import Iterator

import anthropic
import honeytrace_anthropic
import pytest
from anthropic_fake_server import FakeAnthropic


@pytest.fixture(scope="session")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic().start()
    yield server
    server.stop()


@pytest.fixture
def server(fake_anthropic: FakeAnthropic) -> Iterator[FakeAnthropic]:
    fake_anthropic.queue.clear()
    fake_anthropic.received.clear()
    yield fake_anthropic
    fake_anthropic.queue.clear()


@pytest.fixture(scope="session")
def client(fake_anthropic: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        api_key="sk-ant-test", base_url=fake_anthropic.url, max_retries=0
    ) as made:
        yield made


@pytest.fixture
def async_client(fake_anthropic: FakeAnthropic) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key="sk-ant-test", base_url=fake_anthropic.url, max_retries=0
    )


@pytest.fixture(autouse=True)
def instrumented() -> Iterator[None]:
    """Every test starts instrumented for all clients, and leaves nothing patched."""
    honeytrace_anthropic.instrument()
    yield
    honeytrace_anthropic.uninstrument()
