"""``serve()`` with several worker processes (Linux): every batch posted at once by several
clients is committed before its answer and readable afterwards, SIGTERM ends every worker
cleanly, a dead worker is replaced, a worker that cannot start ends the server. Real processes
throughout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from honeytrace.local.collector.workers import WriteTurn
from honeytrace.local.store import Store
from tests.support.collector_server import wait_for

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
T0 = 1_700_000_000_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers fork on Linux only"),
]


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


def start(db: Path, workers: int) -> tuple[subprocess.Popen[str], str]:
    code = (
        "import sys; from honeytrace.local.collector.server import listen, serve; "
        "socks = listen('127.0.0.1', 0); print(socks[0].getsockname()[1], flush=True); "
        f"serve({str(db)!r}, port=0, sockets=socks, workers={workers})"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = f"http://127.0.0.1:{int(proc.stdout.readline())}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_for(lambda: up() or proc.poll() is not None, timeout=60)
    assert proc.poll() is None
    assert wait_for(lambda: len(children(proc.pid)) == workers, timeout=30)
    return proc, url


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    return err


def events(session_id: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": str(uuid.uuid4()),
            "event_type": "tool",
            "event_name": f"step{i}",
            "inputs": {"i": i},
            "start_time": T0 + i,
        }
        for i in range(count)
    ]


def test_batches_from_concurrent_clients_are_all_committed_and_readable(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    proc, url = start(db, 2)
    workers = children(proc.pid)
    try:

        def client(n: int) -> list[tuple[str, int]]:
            sent = []
            with httpx.Client(base_url=url, timeout=30) as http:
                for _ in range(5):
                    sid = str(uuid.uuid4())
                    body = {"events": events(sid, 50 + n)}
                    answer = http.post(f"/v1/sessions/{sid}/events/batch", json=body)
                    assert answer.status_code == 200, answer.text
                    # Answered means committed: another connection reads it at once.
                    with Store(db) as other:
                        assert other.get_event(body["events"][-1]["event_id"]) is not None
                    sent.append((sid, 50 + n))
            return sent

        with ThreadPoolExecutor(6) as pool:
            sent = [item for part in pool.map(client, range(6)) for item in part]
        with httpx.Client(base_url=url) as http:
            for sid, count in sent:
                tree = http.get(f"/v1/sessions/{sid}").json()
                assert len(tree["children"]) == count
    finally:
        err = stop(proc)
    assert proc.returncode == 0, err
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)  # none left behind
    assert not Path(f"{db}.serve-lock").exists()
    with Store(db) as store:
        total = store.connection.execute(
            "SELECT COUNT(*) FROM events WHERE event_type != 'session'"
        ).fetchone()[0]
    assert total == sum(5 * (50 + n) for n in range(6))


def test_a_dead_worker_is_replaced(tmp_path: Path) -> None:
    proc, url = start(tmp_path / "traces.db", 2)
    try:
        victim = min(children(proc.pid))
        os.kill(victim, signal.SIGKILL)
        assert wait_for(
            lambda: victim not in children(proc.pid) and len(children(proc.pid)) == 2, timeout=30
        )
        sid = str(uuid.uuid4())
        with httpx.Client(base_url=url, timeout=30) as http:
            for _ in range(4):  # new connections: each worker answers some
                answer = http.post(
                    f"/v1/sessions/{sid}/events/batch",
                    json={"events": events(sid, 3)},
                    headers={"Connection": "close"},
                )
                assert answer.status_code == 200, answer.text
    finally:
        err = stop(proc)
    assert proc.returncode == 0, err
    assert "starting another" in err


def test_a_worker_that_cannot_start_ends_the_server(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()  # not a store: every worker's start fails
    code = (
        "from honeytrace.local.collector import serve; "
        f"serve({str(tmp_path / 'dir.db')!r}, port=0, workers=2)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 3, result.stderr  # uvicorn's start-up failure, not a loop
    assert "starting another" not in result.stderr


def test_the_write_turn_excludes_other_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "lock")
    probe = (
        "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n"
        "except BlockingIOError:\n    print('held')\n"
    )

    def other_process_sees() -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe, path], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    turn = WriteTurn(path)
    try:
        with turn.held():
            assert other_process_sees() == "held"
        assert other_process_sees() == "free"
    finally:
        turn.close()
    with WriteTurn(None).held():  # one process alone takes no lock at all
        pass


def test_the_workers_option(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": SRC}
    refused = subprocess.run(
        [sys.executable, "-m", "honeytrace", "serve", "--workers", "0", "--db", "t.db"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2 and "--workers" in refused.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "honeytrace", "serve", "--port", "0", "--workers", "3"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("honeytrace collector on http://")
        assert wait_for(lambda: len(children(proc.pid)) == 3, timeout=60)
    finally:
        err = stop(proc)
    assert proc.returncode == 0, err


def test_one_worker_by_default_where_other_threads_run() -> None:
    import threading

    from honeytrace.local.collector.workers import default_workers

    assert default_workers() == min(len(os.sched_getaffinity(0)), 4) or threading.active_count() > 1
    stop_event = threading.Event()
    other = threading.Thread(target=stop_event.wait, args=(10,))
    other.start()
    try:
        assert default_workers() == 1
    finally:
        stop_event.set()
        other.join(10)


def test_a_worker_collects_garbage_less_often(tmp_path: Path) -> None:
    # Each worker process decodes batches into thousands of short-lived dicts: its garbage
    # collector waits for more allocations (the supervising process keeps its own setting).
    report = tmp_path / "gc.txt"
    code = (
        "import gc, os, signal\n"
        "from honeytrace.local.collector.workers import run_workers\n"
        "def worker():\n"
        f"    with open({str(report)!r}, 'w') as f:\n"
        "        f.write(str(gc.get_threshold()[0]))\n"
        "    os.kill(os.getppid(), signal.SIGTERM)\n"
        "    return 0\n"
        "before = gc.get_threshold()[0]\n"
        "run_workers(1, worker)\n"
        "assert gc.get_threshold()[0] == before\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert int(report.read_text()) == 20_000


def test_a_stop_signal_while_the_server_starts_stops_it(tmp_path: Path) -> None:
    # SIGTERM arriving after serve() put its own handlers in place but before uvicorn put
    # its own (here: while uvicorn picks its event loop) was lost: the server served on (a
    # worker that got the supervisor's SIGTERM then: `serve` did not end). Workers run the
    # same server class; here one process, signalling itself.
    code = (
        "import os, signal, uvicorn\n"
        "from honeytrace.local.collector import serve\n"
        "pick = uvicorn.Config.get_loop_factory\n"
        "def late(self):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return pick(self)\n"
        "uvicorn.Config.get_loop_factory = late\n"
        f"serve({str(tmp_path / 't.db')!r}, port=0, workers=1)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
