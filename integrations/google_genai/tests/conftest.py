"""Fixtures: a fake Gemini API, a real google-genai client pointed at it, and a clean
instrumentation per test. Internal errors of the integration raise here instead of being
logged."""

from __future__ import annotations

import os

os.environ["HONEYTRACE_RAISE_INTERNAL_ERRORS"] = "1"

from collections.abc import Iterator

import honeytrace_google_genai
import pytest
from genai_fake_server import FakeGemini
from google import genai
from google.genai import types


@pytest.fixture(scope="session")
def fake_gemini() -> Iterator[FakeGemini]:
    server = FakeGemini().start()
    yield server
    server.stop()


@pytest.fixture
def fake(fake_gemini: FakeGemini) -> Iterator[FakeGemini]:
    fake_gemini.script.clear()
    fake_gemini.requests.clear()
    yield fake_gemini
    fake_gemini.script.clear()


@pytest.fixture
def client(fake_gemini: FakeGemini) -> genai.Client:
    options = types.HttpOptions(base_url=fake_gemini.url, retry_options=None)
    return genai.Client(api_key="fake", http_options=options)


@pytest.fixture(autouse=True)
def instrumented() -> Iterator[None]:
    """Every test starts instrumented, and leaves nothing patched."""
    honeytrace_google_genai.instrument()
    yield
    honeytrace_google_genai.uninstrument()
