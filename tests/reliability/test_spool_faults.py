"""The spool against what goes wrong with it: a request the server never takes, a directory
that cannot be used or breaks, a corrupt file, a backlog of thousands, a full disk (issue 12,
items 7, 8, 9 and 13)."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import honeytrace
from honeytrace._deliver.spool import Spool
from tests.support.fake_api import FakeApi, RecordedRequest, fake_api_fixture

fake_api = fake_api_fixture


@honeytrace.trace_tool
def tool(i: int, payload: str = "") -> int:
    return i


def record_session(name: str, events: int, payload: str = "") -> str:
    with honeytrace.session(name) as session:
        for i in range(events):
            tool(i, payload)
    return session.session_id


def spool_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.iterdir() if not path.name.endswith(".lock"))


def assert_accounted() -> None:
    stats = honeytrace.stats()
    assert stats.recorded == stats.sent + stats.dropped_total + stats.spooled + stats.pending


# -- item 7: a poison request is set aside, then dropped and counted -------------------------


def test_a_request_the_server_always_refuses_neither_blocks_nor_stays(
    fake_api: FakeApi, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    honeytrace.configure(
        api_key="test-key",
        server_url=fake_api.url,
        spool_dir=str(spool_dir),
        retry_deadline=0.3,
        spool_max_attempts=4,
    )
    fake_api.stop()
    poison = record_session("poison", 1)
    assert honeytrace.flush(5) is False  # a request of its own (sessions go many to one)
    good = [record_session(f"good-{n}", 2) for n in range(5)]
    assert honeytrace.flush(5) is False
    assert honeytrace.stats().spooled == 2 + 5 * 3

    def is_poison(request: RecordedRequest) -> bool:
        body = request.json
        if not isinstance(body, dict):
            return False
        events = body.get("events") or [body]
        return any(isinstance(e, dict) and e.get("session_id") == poison for e in events)

    fake_api.fail_where(is_poison, status=500)
    fake_api.start()
    # The good sessions go past it at once; it is tried again, a few times, then dropped.
    assert fake_api.wait_for(lambda: all(len(fake_api.events_for(s)) == 2 for s in good), 20), (
        "the good requests waited behind the poison"
    )
    assert fake_api.wait_for(lambda: honeytrace.stats().spooled == 0, 30)
    tries = [i for i, r in enumerate(fake_api.requests) if is_poison(r)]
    served = [i for i, r in enumerate(fake_api.requests) if r.status == 200]
    assert served[0] < tries[-1]  # something was delivered between its tries
    assert len(tries) >= 4
    stats = honeytrace.stats()
    assert stats.dropped == {"spool_expired": 2}  # the session and its event, in one request
    assert stats.sent == 15
    assert fake_api.events_for(poison) == [] and fake_api.violations == []
    assert spool_files(spool_dir) == []
    assert_accounted()


_SPOOL_OLD = """
import os, sys
from pathlib import Path
from honeytrace._deliver.spool import Spool
spool_dir, url = Path(sys.argv[1]), sys.argv[2]
spool = Spool(spool_dir, 1 << 20, server_url=url, api_key="test-key", max_age=1.0)
assert spool.put("POST", "/v1/sessions", b'{"session_name": "old"}', 1, "s")
(entry,) = spool.replayable()
aged = entry.name.replace(str(entry.created_ns), "0" * 20, 1)
os.replace(spool_dir / entry.name, spool_dir / aged)
"""


def test_a_spooled_request_past_its_age_is_dropped(fake_api: FakeApi, tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    # Spooled by an earlier run (another process, now ended), then aged: this run adopts it,
    # counts it, and drops it as expired.
    subprocess.run(
        [sys.executable, "-c", _SPOOL_OLD, str(spool_dir), fake_api.url],
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        timeout=60,
    )
    honeytrace.configure(
        api_key="test-key", server_url=fake_api.url, spool_dir=str(spool_dir), spool_max_age=1
    )
    record_session("new", 1)
    assert honeytrace.flush(10) is False  # the old request was dropped: not everything arrived
    assert honeytrace.stats().dropped == {"spool_expired": 1}
    assert fake_api.requests_for("events")[0].json["events"][0]["event_name"] == "new"


# -- item 8: a broken spool degrades to "no spool", delivery goes on ----------------------------


def test_an_unusable_spool_dir_is_one_error_line_and_delivery_goes_on(
    fake_api: FakeApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    in_the_way = tmp_path / "not-a-dir"
    in_the_way.write_text("a file where the spool should be")
    honeytrace.configure(api_key="test-key", server_url=fake_api.url, spool_dir=str(in_the_way))
    with caplog.at_level(logging.ERROR, logger="honeytrace"):
        session_id = record_session("s", 2)
        assert honeytrace.flush(10)
    assert len(fake_api.events_for(session_id)) == 2
    (line,) = [r.getMessage() for r in caplog.records]
    assert "spool_dir" in line and "without a spool" in line


def test_corrupt_spool_files_are_left_alone_and_delivery_goes_on(
    fake_api: FakeApi, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    # Headers that are not JSON objects, in the file names of this and of earlier versions,
    # left by runs long dead.
    (spool_dir / "00000000000000000001-999999-00000000.req").write_bytes(b"[1, 2]\n{}")
    (spool_dir / "00000000000000000002-deadbeefdeadbeef-00000000-0.req").write_bytes(b"[1]\n{}")
    (spool_dir / "00000000000000000003-deadbeefdeadbeef-00000001-0.req").write_bytes(b"\xff\n")
    honeytrace.configure(api_key="test-key", server_url=fake_api.url, spool_dir=str(spool_dir))
    session_id = record_session("s", 2)
    assert honeytrace.flush(10)
    assert len(fake_api.events_for(session_id)) == 2
    assert honeytrace.stats().dropped == {}
    assert_accounted()


def test_a_spool_that_breaks_while_running_is_given_up(
    fake_api: FakeApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool_dir = tmp_path / "spool"
    honeytrace.configure(
        api_key="test-key", server_url=fake_api.url, spool_dir=str(spool_dir), retry_deadline=0.3
    )
    record_session("before", 1)
    assert honeytrace.flush(10)
    fake_api.stop()
    spool_dir.rename(tmp_path / "gone")
    spool_dir.write_text("the directory was replaced by a file")
    with caplog.at_level(logging.ERROR, logger="honeytrace"):
        record_session("during", 2)
        assert honeytrace.flush(5) is False
    assert honeytrace.stats().dropped == {"retry_exhausted": 3}  # not internal_error
    assert [r.getMessage() for r in caplog.records if "spool" in r.getMessage()] != []
    assert "Traceback" not in caplog.text
    fake_api.start()
    session_id = record_session("after", 1)
    assert honeytrace.flush(10)
    assert len(fake_api.events_for(session_id)) == 1
    assert_accounted()


# -- item 9: an index, and a backlog does not hold new sessions back ----------------------------


def test_put_and_claim_do_not_rescan_the_directory(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 30, server_url="http://127.0.0.1:1", api_key="k")
    for n in range(2000):
        assert spool.put("POST", "/v1/sessions", b"{}", 1, f"s{n}")
    scans: list[str] = []

    def audit(event: str, args: tuple[object, ...]) -> None:
        if event == "os.scandir" and str(args[0]) == str(tmp_path):
            scans.append(event)

    sys.addaudithook(audit)
    before = len(scans)
    for n in range(200):
        spool.put("POST", "/v1/sessions", b"{}", 1, f"t{n}")
        entries = spool.replayable()
        assert spool.claim(entries[0]) == "claimed"
        spool.done(entries[0])
    # One look every few seconds at most (for other processes' files), not one per call.
    assert len(scans) - before <= 2


def test_a_backlog_does_not_hold_a_new_session_back(fake_api: FakeApi, tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    env = {
        **os.environ,
        "HH_API_KEY": "test-key",
        "HH_API_URL": fake_api.url,
        "HONEYTRACE_SPOOL_DIR": str(spool_dir),
        "HONEYTRACE_RETRY_DEADLINE": "0.2",
        "HONEYTRACE_EXIT_TIMEOUT": "10",
        "HONEYTRACE_BATCH_SIZE": "2",  # a request per session (a session and its event)
    }
    code = (
        "import honeytrace\n"
        "t = honeytrace.trace_tool(lambda i: i, name='work')\n"
        "for n in range(150):\n"
        "    with honeytrace.session(f'backlog-{n}'):\n"
        "        t(n)\n"
    )
    fake_api.stop()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    backlog = len(spool_files(spool_dir))
    assert backlog >= 150
    fake_api.start()
    fake_api.slow(0.06)  # a replay of ~150 requests takes about 10 s
    honeytrace.configure(api_key="test-key", server_url=fake_api.url, spool_dir=str(spool_dir))
    fresh = record_session("fresh", 1)
    assert fake_api.wait_for(lambda: len(fake_api.events_for(fresh)) == 1, 30)
    assert len(spool_files(spool_dir)) > backlog // 2  # it arrived while the backlog drained
    fake_api.slow(0)
    assert honeytrace.flush(60)
    assert fake_api.violations == []
    assert_accounted()


# -- item 13: a full disk is spool_full; temporary files never stay ----------------------------


@contextlib.contextmanager
def tiny_disk(path: Path, size: str) -> Iterator[Path]:
    """A real file system of ``size`` (tmpfs) mounted at ``path``: needs root."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_disk_is_counted_as_spool_full_without_a_traceback(
    fake_api: FakeApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with tiny_disk(tmp_path / "disk", "96k") as disk:
        honeytrace.configure(
            api_key="test-key",
            server_url=fake_api.url,
            spool_dir=str(disk),
            max_spool_bytes=1 << 30,  # the disk fills long before the bound
            retry_deadline=0.2,
            max_batch_bytes=64 * 1024,
        )
        fake_api.stop()
        with caplog.at_level(logging.WARNING, logger="honeytrace"):
            for n in range(12):
                record_session(f"s{n}", 1, payload="x" * 12_000)
            assert honeytrace.flush(10) is False
        stats = honeytrace.stats()
        assert stats.dropped.get("spool_full", 0) > 0 and stats.spooled > 0
        assert "internal_error" not in stats.dropped and stats.internal_errors == 0
        assert "Traceback" not in caplog.text and "is full" in caplog.text
        assert [p for p in disk.iterdir() if p.name.endswith(".tmp")] == []
        fake_api.start()
        assert honeytrace.flush(30)
        assert honeytrace.stats().sent == stats.spooled
        assert_accounted()


def test_a_temporary_file_left_by_kill_9_is_removed(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    code = (
        "import os, signal, sys\n"
        "from honeytrace._deliver.spool import Spool\n"
        "from honeytrace._deliver.spool_runs import this_run\n"
        f"Spool({str(spool_dir)!r}, 1 << 20)\n"
        "name = f'.{1:020d}-{this_run()}-00000000-0.tmp'\n"
        "with open(os.path.join(sys.argv[1], name), 'wb') as f:\n"
        "    f.write(b'x' * 50_000)\n"
        "    f.flush()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)  # killed mid-write\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(spool_dir)], check=False, timeout=60)
    assert result.returncode == -9
    assert [p for p in spool_dir.iterdir() if p.name.endswith(".tmp")] != []
    assert len(list(spool_dir.glob(".run-*.lock"))) == 1  # the dead run's
    spool = Spool(spool_dir, 60_000)
    assert [p for p in spool_dir.iterdir() if p.name.endswith(".tmp")] == []
    assert len(list(spool_dir.glob(".run-*.lock"))) == 1  # ours; the dead run's is gone
    assert spool.size() == 0
    assert spool.put("POST", "/v1/sessions", b"x" * 20_000, 1, str(uuid.uuid4()))
