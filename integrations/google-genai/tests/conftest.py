"""Fixtures: a fake Gemini API, the real google-genai client pointed at it, and a clean
instrumentation for every test. Internal errors of the integration raise here."""

from __future__ import annotations

import os

os.environ["HONEYTRACE_RAISE_INTERNAL_ERRORS"] = "1"

from collections.abc import Iterator

import honeytrace_google_genai
import pytest
from gemini_fake_server import FakeGemini
from google import genai
from google.genai import types


@pytest.fixture(scope="session")
def fake_gemini() -> Iterator[FakeGemini]:
    server = FakeGemini().start()
    yield server
    server.stop()


@pytest.fixture
def server(fake_gemini: FakeGemini) -> Iterator[FakeGemini]:
    fake_gemini.queue.clear()
    fake_gemini.received.clear()
    yield fake_gemini
    fake_gemini.queue.clear()


@pytest.fixture
def client(server: FakeGemini) -> genai.Client:
    options = types.HttpOptions(
        base_url=server.url, retry_options=types.HttpRetryOptions(attempts=1)
    )
    return genai.Client(api_key="test-key", http_options=options)


@pytest.fixture(autouse=True)
def instrumented() -> Iterator[None]:
    honeytrace_google_genai.instrument()
    yield
    honeytrace_google_genai.uninstrument()
