"""Configuration: precedence, validation, and the enabled switch."""

from __future__ import annotations

import logging

import pytest

import honeytrace
from honeytrace import _runtime
from honeytrace._config import OPTIONS, resolve
from honeytrace.testing import Capture


def test_defaults_without_environment() -> None:
    config = resolve({}, environ={})
    assert config.server_url == "https://api.honeyhive.ai"
    assert config.source == "dev"
    assert config.exporter == "local"
    assert config.local_path == ".honeytrace/traces.db"
    assert (config.flush_interval, config.batch_size) == (1.0, 500)
    assert (config.max_batch_bytes, config.max_queue) == (4 * 1024 * 1024, 100_000)
    assert config.sample_rate == 1.0
    assert config.enabled and config.capture_inputs and config.capture_outputs
    assert config.propagate_threads


def test_exporter_defaults_to_http_with_a_key_or_a_url() -> None:
    assert resolve({}, environ={"HH_API_KEY": "k"}).exporter == "http"
    assert resolve({}, environ={"HH_API_URL": "http://127.0.0.1:1"}).exporter == "http"
    assert resolve({"api_key": "k"}, environ={}).exporter == "http"
    assert resolve({"exporter": "none"}, environ={"HH_API_KEY": "k"}).exporter == "none"


def test_argument_beats_environment_beats_default() -> None:
    env = {"HH_SOURCE": "staging", "HONEYTRACE_BATCH_SIZE": "50"}
    assert resolve({}, environ=env).source == "staging"
    assert resolve({}, environ=env).batch_size == 50
    assert resolve({"source": "prod"}, environ=env).source == "prod"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("batch_size", 0),
        ("batch_size", "many"),
        ("flush_interval", -1),
        ("sample_rate", 1.5),
        ("server_url", "ftp://x"),
        ("exporter", "kafka"),
        ("enabled", "maybe"),
        ("redact", 42),
        ("max_queue", True),
    ],
)
def test_bad_argument_raises_config_error_naming_the_option(option: str, value: object) -> None:
    with pytest.raises(honeytrace.ConfigError, match=option):
        honeytrace.configure(**{option: value})


def test_unknown_option_is_a_config_error() -> None:
    with pytest.raises(honeytrace.ConfigError, match="batchsize"):
        honeytrace.configure(batchsize=3)


def test_bad_environment_value_warns_and_uses_default(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="honeytrace"):
        config = resolve({}, environ={"HONEYTRACE_BATCH_SIZE": "lots", "HH_API_KEY": "sekrit"})
    assert config.batch_size == 500
    assert "HONEYTRACE_BATCH_SIZE" in caplog.text


def test_the_api_key_never_shows_in_repr_or_errors() -> None:
    config = resolve({"api_key": "sk-very-secret"}, environ={})
    assert "sk-very-secret" not in repr(config)
    with pytest.raises(honeytrace.ConfigError) as caught:
        honeytrace.configure(api_key=12345)
    assert "12345" not in str(caught.value)


def test_every_option_has_a_doc_and_env_or_reason() -> None:
    for option in OPTIONS:
        assert option.doc
        assert option.env is not None or option.name == "redact"


def test_disabled_makes_decorators_pass_through(honeytrace_capture: Capture) -> None:
    calls = []

    @honeytrace.trace_tool
    def work(x: int) -> int:
        calls.append(x)
        return x * 2

    honeytrace.configure(exporter="memory", enabled=False)
    assert work(2) == 4
    with honeytrace.session("s"):
        assert work(3) == 6
    assert calls == [2, 3]
    assert honeytrace_capture.events == []
    assert honeytrace.stats().recorded == 0


def test_enabled_env_var_is_read_at_call_time(
    honeytrace_capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    @honeytrace.trace_tool
    def work() -> int:
        return 1

    monkeypatch.setenv("HONEYTRACE_ENABLED", "false")
    work()
    assert honeytrace_capture.events == []
    monkeypatch.setenv("HONEYTRACE_ENABLED", "true")
    work()
    assert len(honeytrace_capture.events) == 1


def test_sample_rate_keeps_or_drops_whole_sessions(honeytrace_capture: Capture) -> None:
    honeytrace.configure(exporter="memory", sample_rate=0.0)

    @honeytrace.trace_tool
    def work() -> int:
        return 1

    with honeytrace.session("s") as s:
        assert work() == 1
        assert honeytrace.current_session_id() == s.session_id
    assert honeytrace_capture.events == []
    assert honeytrace_capture.sessions == []


def test_configure_is_not_cached_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HH_SOURCE", "from-env")
    _runtime._config = None
    assert _runtime.get_config().source == "from-env"
