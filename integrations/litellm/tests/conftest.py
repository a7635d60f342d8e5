"""Fixtures: the OpenAI-compatible fake server of ``integrations/openai/tests`` (LiteLLM's
``openai/...`` models talk to it), and LiteLLM instrumented for every test. Internal errors of
the integration raise here instead of being logged."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["HONEYTRACE_RAISE_INTERNAL_ERRORS"] = "1"
# LiteLLM would fetch its model price map from the internet at import: only 127.0.0.1 here.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.setdefault("LITELLM_TELEMETRY", "False")
# The one fake OpenAI server of the suite, shared rather than copied.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "openai" / "tests"))

from collections.abc import Iterator

import honeytrace_litellm
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


@pytest.fixture(autouse=True)
def instrumented() -> Iterator[None]:
    assert honeytrace_litellm.instrument() is not None
    yield
    honeytrace_litellm.uninstrument()
