"""Fixtures: the OpenAI-compatible fake server of ``integrations/openai/tests`` (LangChain's
``ChatOpenAI`` talks to it), and LangChain instrumented for every test. Internal errors of the
integration raise here instead of being logged."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["HONEYTRACE_RAISE_INTERNAL_ERRORS"] = "1"
# The one fake OpenAI server of the suite, shared rather than copied.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "openai" / "tests"))

from collections.abc import Iterator

import honeytrace_langchain
import pytest
from langchain_openai import ChatOpenAI
from langchain_trees import Stored
from openai_fake_server import FakeOpenAI

import honeytrace
from honeytrace import _runtime


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
def model(server: FakeOpenAI) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4o-mini", api_key="sk-test", base_url=server.url, max_retries=0, temperature=0.2
    )


@pytest.fixture(autouse=True)
def instrumented() -> Iterator[None]:
    """Every test runs with the global handler, failing loudly on a tracing error."""
    handler = honeytrace_langchain.instrument()
    assert handler is not None
    handler.raise_error = True
    yield
    honeytrace_langchain.uninstrument()


@pytest.fixture(scope="session")
def _store_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One embedded store for the whole run, configured once: each test reads the sessions
    it made (switching stores between tests would race with the flusher's own switch)."""
    previous = _runtime.get_config()
    path = tmp_path_factory.mktemp("store") / "traces.db"
    honeytrace.configure(exporter="local", local_path=str(path))
    yield path
    honeytrace.flush(10.0)
    _runtime._apply(previous)


@pytest.fixture
def stored(_store_path: Path) -> Stored:
    """Events go to an embedded store, as with no API key; ``stored`` sees this test's."""
    assert honeytrace.flush(10.0)
    return Stored(_store_path)
