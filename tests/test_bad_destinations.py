"""A malformed server URL or an unusable local store: one clear line, nothing sent anywhere the
user did not name, and every event accounted for (issue 11, section 3)."""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import honeytrace
from honeytrace import _config, _runtime
from honeytrace._config import resolve
from honeytrace.local.store import Store

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")

BAD_URLS = [
    "127.0.0.1:8787",  # no scheme
    "localhost",
    "htp://x",  # a mistyped scheme
    "http//x",  # a mistyped separator
    "http:/x",
    "ftp://x",
    "http://",  # no host
    "http://:8787",
    "http://x:99999",  # bad ports
    "http://x:-1",
    "http://x:abc",
    "http://x:0",
    "https://a b",
]


@pytest.fixture(autouse=True)
def fresh_warnings() -> Iterator[None]:
    _config._warned_env.clear()
    yield
    _config._warned_env.clear()


# -- server_url / HH_API_URL --------------------------------------------------------------


@pytest.mark.parametrize("url", BAD_URLS)
def test_configure_refuses_a_malformed_server_url(url: str) -> None:
    with pytest.raises(honeytrace.ConfigError) as caught:
        honeytrace.configure(server_url=url, api_key="k")
    assert "server_url" in str(caught.value) and repr(url) in str(caught.value)


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("127.0.0.1:8787", "did you mean http://127.0.0.1:8787?"),
        ("http//x", "did you mean http://x?"),
        ("https:/api.example.com", "did you mean https://api.example.com?"),
    ],
)
def test_the_error_suggests_the_url_meant(url: str, hint: str) -> None:
    with pytest.raises(honeytrace.ConfigError, match=hint.replace(".", r"\.").replace("?", r"\?")):
        honeytrace.configure(server_url=url)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8787", "https://api.honeyhive.ai/", "http://[::1]:1/prefix", "HTTP://X"],
)
def test_good_urls_are_kept(url: str) -> None:
    assert resolve({"server_url": url}, environ={}).server_url == url.rstrip("/")


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_malformed_env_url_sends_to_the_local_store_with_one_error_line(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"HH_API_URL": url, "HH_API_KEY": "k", "HONEYTRACE_LOCAL_PATH": "/somewhere/t.db"}
    with caplog.at_level(logging.WARNING, logger="honeytrace"):
        config = resolve({}, environ=env)
        resolve({}, environ=env)  # resolved again (configure() twice): still one line
    assert config.exporter == "local"  # not "http" to the cloud default
    assert config.local_path == "/somewhere/t.db"
    errors = [record for record in caplog.records if record.name == "honeytrace"]
    assert len(errors) == 1 and errors[0].levelno == logging.ERROR
    line = errors[0].getMessage()
    assert f"HH_API_URL={url!r}" in line and "/somewhere/t.db" in line
    assert "\n" not in line


def test_a_malformed_env_url_with_another_exporter_is_only_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="honeytrace"):
        config = resolve({}, environ={"HH_API_URL": "htp://x", "HONEYTRACE_EXPORTER": "none"})
    assert config.exporter == "none"
    assert "ignoring HH_API_URL='htp://x'" in caplog.text


def test_configure_server_url_overrides_a_malformed_env_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="honeytrace"):
        config = resolve({"server_url": "http://127.0.0.1:9"}, environ={"HH_API_URL": "htp://x"})
    assert (config.exporter, config.server_url) == ("http", "http://127.0.0.1:9")
    assert caplog.text == ""


class Listener:
    """A TCP port that counts connections: the cloud (through HTTPS_PROXY) and the named
    host both lead here, so any attempt to send is seen."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


def run_app(tmp_path: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(code))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYTRACE_"))}
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


APP = """
    import json, honeytrace

    @honeytrace.trace_tool
    def work(x):
        return x

    @honeytrace.trace_session
    def main():
        for i in range(3):
            work(i)

    main()
    honeytrace.flush(10)
    s = honeytrace.stats()
    print(json.dumps({"sent": s.sent, "dropped": s.dropped, "internal": s.internal_errors}))
"""


def test_hh_api_url_without_scheme_stays_on_the_machine(tmp_path: Path) -> None:
    """`HH_API_URL=127.0.0.1:8787 python app.py`: an error line naming the store, the events in
    that store, no connection to the named port nor (through the proxy) to the cloud."""
    listener = Listener()
    try:
        proxy = f"http://127.0.0.1:{listener.port}"
        result = run_app(
            tmp_path,
            APP,
            HH_API_URL=f"127.0.0.1:{listener.port}",
            HH_API_KEY="sk-test",
            HTTPS_PROXY=proxy,
            HTTP_PROXY=proxy,
            https_proxy=proxy,
            http_proxy=proxy,
            NO_PROXY="",
        )
    finally:
        listener.close()
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    store = tmp_path / ".honeytrace" / "traces.db"
    assert len(lines) == 1, result.stderr
    assert f"HH_API_URL='127.0.0.1:{listener.port}' is not a usable URL" in lines[0]
    assert f"did you mean http://127.0.0.1:{listener.port}?" in lines[0]
    assert str(store) in lines[0]
    assert json.loads(result.stdout) == {"sent": 4, "dropped": {}, "internal": 0}
    assert listener.connections == 0
    with Store(store) as opened:
        [session] = opened.list_sessions()
    assert session["name"] == "main" and session["events"] == 3


# -- local_path / HONEYTRACE_LOCAL_PATH -----------------------------------------------------


def unusable_paths(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    directory = tmp_path / "a-directory"
    directory.mkdir()
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a sqlite file " * 200)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    return {
        "directory": (directory, "it is a directory"),
        "corrupt": (corrupt, "not a SQLite database"),
        "under a file": (blocker / "traces.db", f"{blocker} is a file, not a directory"),
    }


@pytest.mark.parametrize("case", ["directory", "corrupt", "under a file"])
def test_an_unusable_local_path_is_one_line_and_counted_as_store_unavailable(
    tmp_path: Path, case: str
) -> None:
    path, why = unusable_paths(tmp_path)[case]
    result = run_app(tmp_path, APP, HONEYTRACE_LOCAL_PATH=str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # no traceback, no "internal error"
    assert f"cannot store traces at {path} (set by HONEYTRACE_LOCAL_PATH)" in lines[0]
    assert why in lines[0]
    assert json.loads(result.stdout) == {
        "sent": 0,
        "dropped": {"store_unavailable": 4},
        "internal": 0,
    }


def test_configure_local_path_names_the_option_and_recovers_once_fixed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "later.db"
    path.mkdir()  # a directory where the file should be
    honeytrace.configure(exporter="local", local_path=str(path))

    @honeytrace.trace_session
    def run() -> int:
        return 1

    with caplog.at_level(logging.WARNING, logger="honeytrace"):
        run()
        honeytrace.flush(10)
        run()
        honeytrace.flush(10)
    stats = honeytrace.stats()
    assert stats.dropped == {"store_unavailable": 2} and stats.internal_errors == 0
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1 and "(set by local_path)" in lines[0]
    path.rmdir()  # fixed while the app runs: the next session lands
    run()
    assert honeytrace.flush(10)
    assert honeytrace.stats().sent == 1
    with Store(path) as store:
        assert len(store.list_sessions()) == 1


def test_a_store_that_fails_on_write_is_store_unavailable(tmp_path: Path) -> None:
    """Opened fine, then the file is replaced by garbage: the write fails as a storage
    failure, not as an internal error."""
    path = tmp_path / "t.db"
    honeytrace.configure(exporter="local", local_path=str(path))

    @honeytrace.trace_session
    def run() -> int:
        return 1

    run()
    assert honeytrace.flush(10)
    # Keep the connection but make the table vanish under it, as another program might.
    with sqlite3.connect(path) as other:
        other.execute("DROP TABLE events")
    run()
    honeytrace.flush(10)
    stats = honeytrace.stats()
    assert stats.sent == 1 and stats.internal_errors == 0
    assert stats.dropped == {"store_unavailable": 1}


def test_the_runtime_picks_the_option_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from honeytrace.local.exporter import LocalExporter

    flusher = _runtime._ensure_flusher()
    options = []
    for env, overrides in ((None, {}), ("/x.db", {}), ("/x.db", {"local_path": "/y.db"})):
        if env is None:
            monkeypatch.delenv("HONEYTRACE_LOCAL_PATH", raising=False)
        else:
            monkeypatch.setenv("HONEYTRACE_LOCAL_PATH", env)
        config = resolve({"exporter": "local", **overrides})
        exporter = _runtime._make_exporter(config, flusher)
        assert isinstance(exporter, LocalExporter)
        options.append(exporter.option)
    assert options == ["the default local_path", "HONEYTRACE_LOCAL_PATH", "local_path"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_directory_is_store_unavailable(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = run_app(tmp_path, APP, HONEYTRACE_LOCAL_PATH=str(locked / "sub" / "traces.db"))
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "ermission denied" in lines[0], result.stderr
    assert json.loads(result.stdout)["dropped"] == {"store_unavailable": 4}
