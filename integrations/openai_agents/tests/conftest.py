"""Fixtures: a fake Responses API, the real Agents SDK pointed at it (its own trace exporter
pointed there too, so nothing leaves the machine), and a clean instrumentation per test.
Internal errors of the integration raise here instead of being logged."""

from __future__ import annotations

import os

os.environ["HONEYTRACE_RAISE_INTERNAL_ERRORS"] = "1"
os.environ.pop("OPENAI_AGENTS_DISABLE_TRACING", None)

from collections.abc import Iterator

import agents
import honeytrace_openai_agents
import pytest
from agents.tracing.processors import default_exporter
from agents_fake_server import FakeResponses
from openai import AsyncOpenAI


@pytest.fixture(scope="session")
def fake_api() -> Iterator[FakeResponses]:
    server = FakeResponses().start()
    # The SDK's exporter posts to this fake too: its traces never reach the OpenAI dashboard.
    default_exporter().endpoint = f"{server.url}/traces/ingest"
    agents.set_default_openai_client(
        AsyncOpenAI(api_key="sk-test", base_url=server.url, max_retries=0), use_for_tracing=False
    )
    agents.set_default_openai_api("responses")
    yield server
    agents.flush_traces()  # what the SDK's exporter still holds goes to the fake, not at exit
    server.stop()


@pytest.fixture
def fake(fake_api: FakeResponses) -> Iterator[FakeResponses]:
    fake_api.script.clear()
    fake_api.requests.clear()
    fake_api.ingested.clear()
    yield fake_api
    fake_api.script.clear()


@pytest.fixture(autouse=True)
def instrumented() -> Iterator[None]:
    """Every test starts with honeytrace as the only trace processor, and leaves none."""
    honeytrace_openai_agents.instrument(replace=True)
    yield
    honeytrace_openai_agents.uninstrument()
