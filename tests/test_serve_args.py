"""``honeytrace serve`` checks its arguments before printing anything: a bad port, a port in use,
an unusable store or host are one line on stderr and exit code 2 (no traceback, no banner);
a non-loopback address without a key is served with a warning. Real processes throughout."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.collector_server import wait_for

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")

pytestmark = pytest.mark.slow


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYTRACE_"))}
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))
    return clean


def serve(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``honeytrace serve`` expecting it to refuse at once (a timeout means it served)."""
    return subprocess.run(
        [sys.executable, "-m", "honeytrace", "serve", *argv],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""  # no banner
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # one line, no traceback
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("port", ["99999", "-1", "65536", "http", "80.5"])
def test_a_bad_port(tmp_path: Path, port: str) -> None:
    result = serve(tmp_path, "--port", port, "--db", str(tmp_path / "t.db"))
    assert_refused(result, "--port", "between 0 and 65535", repr(port))
    assert not (tmp_path / "t.db").exists()


def test_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve(tmp_path, "--port", str(port), "--db", str(tmp_path / "t.db"))
    assert_refused(result, f"127.0.0.1:{port}", "already in use")


def test_an_unknown_host(tmp_path: Path) -> None:
    result = serve(tmp_path, "--host", "no-such-host.invalid", "--db", str(tmp_path / "t.db"))
    assert_refused(result, "no-such-host.invalid", "not a known host")


def test_a_corrupt_store(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all " * 100)
    result = serve(tmp_path, "--db", "bad.db", "--port", "0")
    assert_refused(result, "bad.db", "--db", "not a SQLite database")


def test_a_directory_as_the_store(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    result = serve(tmp_path, "--db", "dir.db", "--port", "0")
    assert_refused(result, "dir.db", "it is a directory")


def test_a_store_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = serve(tmp_path, "--db", "file/traces.db", "--port", "0")
    assert_refused(result, "file/traces.db", "is a file, not a directory")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = serve(tmp_path, "--db", "locked/sub/traces.db", "--port", "0")
    assert_refused(result, "locked/sub/traces.db", "ermission denied")


def read_line(stream: object, deadline: float) -> str:
    """One line of a child's pipe, or "" once the deadline passed."""
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)  # type: ignore[arg-type]
    try:
        if not selector.select(max(0.0, deadline - time.monotonic())):
            return ""
        return stream.readline()  # type: ignore[attr-defined,no-any-return]
    finally:
        selector.close()


def run_until_up(tmp_path: Path, *argv: str) -> tuple[str, str, int]:
    """Start serve on a free port, wait for it to answer, stop it with SIGTERM; returns its
    stdout, its stderr and its exit code."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "honeytrace", "serve", "--port", "0", *argv],
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = read_line(proc.stdout, time.monotonic() + 60)
        assert banner.startswith("honeytrace collector on http://"), (banner, proc.poll())
        port = int(banner.split(",")[0].rsplit(":", 1)[1])

        def up() -> bool:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0)
            except httpx.HTTPError:
                return False
            return response.status_code == 200

        assert wait_for(lambda: up() or proc.poll() is not None, timeout=30)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return banner + stdout, stderr, proc.returncode


WARNING = "honeytrace: warning: serving on 0.0.0.0 without --api-key"


def test_all_interfaces_without_a_key_warns(tmp_path: Path) -> None:
    out, err, code = run_until_up(tmp_path, "--host", "0.0.0.0", "--db", "t.db")
    assert code == 0, err
    assert err.startswith(WARNING)  # before anything else
    assert "--api-key or HONEYTRACE_COLLECTOR_API_KEY" in err.splitlines()[0]
    assert "honeytrace collector on http://0.0.0.0:" in out


def test_loopback_or_a_key_does_not_warn(tmp_path: Path) -> None:
    _, err, code = run_until_up(tmp_path, "--db", "t.db")
    assert code == 0 and "warning" not in err, err
    _, err, code = run_until_up(tmp_path, "--host", "0.0.0.0", "--api-key", "k", "--db", "t.db")
    assert code == 0 and "warning" not in err, err
