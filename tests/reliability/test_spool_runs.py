"""Whose spooled files are whose: a run killed with ``kill -9`` as PID 1 and the next run as PID
1 again (a container), and two apps with different servers and keys on one ``spool_dir``
(issue 12, items 10 and 11). Real processes, real PID namespaces, real signals."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import honeytrace
from tests.support.fake_api import FakeApi, fake_api_fixture

fake_api = fake_api_fixture
SRC = str(Path(honeytrace.__file__).resolve().parents[1])  # the code under test, in children too

_RUN = textwrap.dedent(
    """
    import json, os, sys, time, honeytrace
    work = honeytrace.trace_tool(lambda i: i, name="work")
    with honeytrace.session(sys.argv[1]) as s:
        for i in range(int(sys.argv[2])):
            work(i)
    print(json.dumps({"pid": os.getpid(), "session_id": s.session_id}), flush=True)
    deadline = time.monotonic() + float(sys.argv[3])
    delivered = False  # flush() says False at once while the spool waits: ask until it is sent
    while not delivered and time.monotonic() < deadline:
        delivered = honeytrace.flush(1) or bool(time.sleep(0.05))
    stats = honeytrace.stats()
    print(json.dumps({"delivered": delivered, "recorded": stats.recorded, "sent": stats.sent,
                      "spooled": stats.spooled, "dropped": stats.dropped}), flush=True)
    """
)


def env_for(api: FakeApi, spool_dir: Path, key: str = "test-key") -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])),
        "HH_API_KEY": key,
        "HH_API_URL": api.url,
        "HONEYTRACE_SPOOL_DIR": str(spool_dir),
        "HONEYTRACE_RETRY_DEADLINE": "0.3",
        "HONEYTRACE_EXIT_TIMEOUT": "2",
        "HONEYTRACE_FLUSH_INTERVAL": "0.05",
    }


def as_pid_1(args: list[str]) -> list[str]:
    """``args`` run as PID 1 of a new PID namespace, as in a container."""
    return ["unshare", "--pid", "--fork", *args]


def child_of(pid: int) -> int:
    """The process ``unshare --fork`` started (PID 1 inside, another PID outside)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return int(children[0])


@pytest.fixture
def pid_namespaces() -> None:
    if shutil.which("unshare") is None:
        pytest.skip("unshare is needed to run processes as PID 1")
    probe = subprocess.run(
        as_pid_1([sys.executable, "-c", "import os; print(os.getpid())"]),
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0 or probe.stdout.strip() != "1":
        pytest.skip(f"cannot make PID namespaces here: {probe.stderr.strip()}")


@pytest.mark.usefixtures("pid_namespaces")
def test_a_run_killed_as_pid_1_is_taken_over_by_the_next_pid_1(
    fake_api: FakeApi, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    env = env_for(fake_api, spool_dir)
    # The first run: the server is down, its session goes to the spool; the server comes back
    # but holds every session create, and the run is killed while it replays one.
    fake_api.stop()
    first = subprocess.Popen(
        as_pid_1([sys.executable, "-c", _RUN, "killed", "2", "60"]),
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout is not None
        started = json.loads(first.stdout.readline())
        assert started["pid"] == 1
        # The session ended before it was taken: one request carries it whole.
        assert fake_api.wait_for(lambda: len(list(spool_dir.glob("*.req"))) == 1, 20)
        fake_api.blackhole("events")
        fake_api.start()
        assert fake_api.wait_for_requests(1, "events", timeout=20)
        assert list(spool_dir.glob("*.claimed-*")) != []  # it holds a claim
        os.kill(child_of(first.pid), signal.SIGKILL)
        first.wait(20)
    finally:
        if first.poll() is None:
            first.kill()
    fake_api.stop()  # the held request dies with its connection: the server never stored it
    fake_api.clear_faults()
    fake_api.start()
    assert fake_api.sessions == {}

    # The next run is PID 1 too.
    second = subprocess.run(
        as_pid_1([sys.executable, "-c", _RUN, "next", "1", "30"]),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert second.returncode == 0, second.stderr
    started, stats = (json.loads(line) for line in second.stdout.splitlines())
    assert started["pid"] == 1
    assert stats["delivered"] is True
    # Its own session (2) and the dead run's (the session and its 2 events, in one request):
    # adopted, counted once, sent in order.
    assert stats["recorded"] == stats["sent"] == 2 + 3
    assert (stats["spooled"], stats["dropped"]) == (0, {})
    killed = started_session = None
    for session in fake_api.sessions.values():
        if session["event_name"] == "killed":
            killed = session["session_id"]
        else:
            started_session = session["session_id"]
    assert killed is not None and started_session is not None
    assert len(fake_api.events_for(killed)) == 2
    assert fake_api.violations == []
    assert list(spool_dir.glob("*.req*")) == []


def test_a_spooled_request_goes_only_where_and_as_whom_it_was_meant(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    with FakeApi(api_key="key-a") as server_a, FakeApi(api_key="key-b") as server_b:
        # App A spools a session while its server is down, and ends.
        server_a.stop()
        result = subprocess.run(
            [sys.executable, "-c", _RUN, "app-a", "2", "1"],
            env=env_for(server_a, spool_dir, key="key-a"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        session_a = json.loads(result.stdout.splitlines()[0])["session_id"]
        assert len(list(spool_dir.glob("*.req"))) == 1  # the session whole, in one request
        # App B, another server and key, same spool_dir: sends its own, leaves A's alone.
        honeytrace.configure(api_key="key-b", server_url=server_b.url, spool_dir=str(spool_dir))
        with honeytrace.session("app-b") as session_b:
            honeytrace.trace_tool(lambda i: i, name="work")(1)
        assert honeytrace.flush(10)
        assert list(server_b.sessions) == [session_b.session_id]
        sent = server_b.requests_for("events")[0].json["events"]
        assert {event["session_id"] for event in sent} == {session_b.session_id}
        assert len(server_b.requests) == 1
        assert len(list(spool_dir.glob("*.req"))) == 1
        stats = honeytrace.stats()
        assert stats.recorded == stats.sent == 2
        # The key is never on disk, in any form a reader could use.
        for path in spool_dir.iterdir():
            assert b"key-a" not in path.read_bytes() and b"key-b" not in path.read_bytes()
        # App A's next run delivers them, to its server, with its key.
        server_a.start()
        honeytrace.shutdown(5)
        result = subprocess.run(
            [sys.executable, "-c", _RUN, "app-a-again", "1", "30"],
            env=env_for(server_a, spool_dir, key="key-a"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert len(server_a.events_for(session_a)) == 2
        assert all(r.headers["authorization"] == "Bearer key-a" for r in server_a.requests)
        assert server_a.violations == [] and server_b.violations == []
        assert list(spool_dir.glob("*.req")) == []
