"""The whole path with nothing mocked: examples into the embedded store, and the SDK into a
real `honeytrace serve` process, read back with `honeytrace show`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.collector_server import wait_for

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HH_", "HONEYTRACE_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env["HONEYTRACE_RAISE_INTERNAL_ERRORS"] = "1"
    env.update(extra)
    return env


def honeytrace_cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "honeytrace", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("example", "names"),
    [
        ("quickstart.py", ["support-chat", "search_knowledge_base", "lookup_order", "generate"]),
        ("async_agent.py", ["async-research", "research", "fetch", "summarize"]),
        ("threads.py", ["indexing-job", "index_documents", "embed", "warm_cache"]),
    ],
)
def test_examples_run_offline_into_the_store(
    example: str, names: list[str], tmp_path: Path
) -> None:
    env = environment(tmp_path)
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / example)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "all delivered: True" in run.stdout
    assert "honeytrace show latest" in run.stderr  # the one line telling where traces are
    shown = honeytrace_cli("show", "latest", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    for name in names:
        assert name in shown.stdout
    if example == "quickstart.py":
        assert "✗ OrderNotFound: no order B-2" in shown.stdout
    listed = honeytrace_cli("sessions", cwd=tmp_path, env=env)
    assert listed.returncode == 0 and names[0] in listed.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sdk_to_honeytrace_serve_to_show(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "collector.db"
    env = environment(tmp_path, HONEYTRACE_COLLECTOR_API_KEY="local-key")
    server = subprocess.Popen(
        [sys.executable, "-m", "honeytrace", "serve", "--db", str(db), "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            try:
                return httpx.get(url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(healthy, timeout=30)
        app_env = environment(tmp_path, HH_API_URL=url, HH_API_KEY="local-key")
        run = subprocess.run(
            [sys.executable, str(EXAMPLES / "quickstart.py")],
            cwd=tmp_path,
            env=app_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert "all delivered: True" in run.stdout
        assert "dropped={}" in run.stdout
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    shown = honeytrace_cli("show", "latest", "--db", str(db), cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "support-chat" in shown.stdout
    assert shown.stdout.count("tool lookup_order") == 2
    assert "✗ OrderNotFound" in shown.stdout
