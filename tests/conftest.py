"""Shared fixtures: internal errors raise in tests, and every test starts from a clean runtime."""

from __future__ import annotations

import os

os.environ["HONEYTRACE_RAISE_INTERNAL_ERRORS"] = "1"

from collections.abc import Iterator

import pytest

from honeytrace import _errors, _runtime
from honeytrace._record import buffer as _buffer
from honeytrace._record import span as _span
from honeytrace.testing import accounting_errors

_HONEYTRACE_ENV = (
    "HH_API_KEY",
    "HH_API_URL",
    "HH_SOURCE",
    "HONEYTRACE_EXPORTER",
    "HONEYTRACE_LOCAL_PATH",
    "HONEYTRACE_ENABLED",
    "HONEYTRACE_SPOOL_DIR",
    "HONEYTRACE_OTEL",
)


@pytest.fixture(autouse=True)
def clean_runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> Iterator[None]:
    """No environment leaks in, the store lands in the test's tmp dir, and nothing recorded by
    one test is delivered in the next."""
    for name in _HONEYTRACE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HONEYTRACE_LOCAL_PATH", str(tmp_path) + "/traces.db")
    _errors.set_raise_internal_errors(True)
    _runtime.configure(exporter="memory")
    _runtime.memory_exporter().clear()
    yield
    _runtime.shutdown(5.0)
    # Issue 12 item 17: the accounting holds at the end of every test, whatever it did.
    errors = accounting_errors()
    assert not errors, f"honeytrace's accounting: {errors}"
    _buffer.QUEUE.clear()
    _buffer.CONTROL.clear()
    _buffer.UPDATES.clear()
    _buffer.MEASURED.clear()
    _buffer.pending_bytes = 0
    _span.SPARE.clear()  # blank events for reuse: a test that breaks event making sees none
    _span.SPARE_LISTS.clear()
    _buffer.counters = _buffer.Counters()
    _runtime.memory_exporter().clear()
    _runtime._config = None
    _errors.set_raise_internal_errors(True)
    _errors.reset_for_tests()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: longer tests (subprocesses, volume)")
