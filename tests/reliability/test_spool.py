"""The disk spool: long outages lose nothing that fits, in order, across processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import honeytrace
from honeytrace._deliver.spool import Spool
from tests.support.fake_api import FakeApi, fake_api_fixture

fake_api = fake_api_fixture
SRC = str(Path(__file__).resolve().parents[2] / "src")


@honeytrace.trace_tool
def tool(i: int) -> int:
    return i


def spooled_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.req"))


def test_an_outage_goes_to_the_spool_and_is_replayed_in_order(
    fake_api: FakeApi, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    honeytrace.configure(
        api_key="test-key", server_url=fake_api.url, spool_dir=str(spool_dir), retry_deadline=0.5
    )
    fake_api.stop()
    ids = []
    for n in range(3):
        with honeytrace.session(f"outage-{n}") as s:
            for i in range(4):
                tool(i)
        ids.append(s.session_id)
    assert honeytrace.flush(5) is False
    stats = honeytrace.stats()
    assert stats.spooled == 15 and stats.sent == 0 and stats.dropped == {}
    assert stats.recorded == stats.sent + stats.dropped_total + stats.spooled + stats.pending
    # The sessions ended before they were taken: each goes whole, several to a request.
    assert 1 <= len(spooled_files(spool_dir)) <= 3

    fake_api.start()
    assert honeytrace.flush(30)
    for session_id in ids:
        assert len(fake_api.events_for(session_id)) == 4
    assert fake_api.violations == []  # every create reached the server before its batch
    stats = honeytrace.stats()
    assert (stats.sent, stats.spooled) == (15, 0)
    assert spooled_files(spool_dir) == []


def test_new_events_queue_behind_the_spool_until_it_drains(
    fake_api: FakeApi, tmp_path: Path
) -> None:
    honeytrace.configure(
        api_key="test-key",
        server_url=fake_api.url,
        spool_dir=str(tmp_path / "spool"),
        retry_deadline=0.5,
    )
    fake_api.fail_next(50, status=503)
    with honeytrace.session("first") as first:
        tool(1)
    assert honeytrace.flush(3) is False
    fake_api.clear_faults()
    with honeytrace.session("second") as second:
        tool(2)
    assert honeytrace.flush(30)
    stored = [
        event["session_id"]
        for r in fake_api.requests
        if r.status == 200 and r.route == "events"
        for event in r.json["events"]
        if event["event_type"] == "session"
    ]
    assert stored == [first.session_id, second.session_id]


def test_the_next_process_delivers_what_a_dead_one_spooled(
    fake_api: FakeApi, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    fake_api.stop()
    code = textwrap.dedent(
        """
        import honeytrace
        with honeytrace.session("left-behind") as s:
            for i in range(5):
                honeytrace.trace_tool(lambda i: i, name="work")(i)
        print(s.session_id)
        """
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])),
        "HH_API_KEY": "test-key",
        "HH_API_URL": fake_api.url,
        "HONEYTRACE_SPOOL_DIR": str(spool_dir),
        "HONEYTRACE_RETRY_DEADLINE": "0.5",
        "HONEYTRACE_EXIT_TIMEOUT": "3",
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    session_id = result.stdout.strip()
    assert len(spooled_files(spool_dir)) == 1  # the session whole, in one request

    fake_api.start()
    honeytrace.configure(api_key="test-key", server_url=fake_api.url, spool_dir=str(spool_dir))
    with honeytrace.session("new-run"):
        tool(1)
    assert honeytrace.flush(30)
    assert len(fake_api.events_for(session_id)) == 5
    assert spooled_files(spool_dir) == []
    stats = honeytrace.stats()
    assert stats.recorded == stats.sent == 6 + 2  # our own 2, and the adopted session + 5


def test_the_spool_is_bounded(fake_api: FakeApi, tmp_path: Path) -> None:
    honeytrace.configure(
        api_key="test-key",
        server_url=fake_api.url,
        spool_dir=str(tmp_path / "spool"),
        max_spool_bytes=2048,
        retry_deadline=0.2,
    )
    fake_api.stop()
    for n in range(10):
        with honeytrace.session(f"s{n}"):
            tool(n)
        honeytrace.flush(5)  # a request per session: some fit, then the spool is full
    stats = honeytrace.stats()
    assert stats.dropped.get("spool_full", 0) > 0
    assert stats.spooled > 0
    assert Spool(tmp_path / "spool", 2048).size() <= 2048
    assert stats.recorded == stats.sent + stats.dropped_total + stats.spooled + stats.pending


def test_torn_and_foreign_files_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not ours")
    (tmp_path / "00000000000000000001-deadbeefdeadbeef-00000000-0.req").write_bytes(b"[1, 2]\n{}")
    spool = Spool(tmp_path, 1 << 20)
    assert spool.put("POST", "/v1/sessions", b"{}", 1, "s")
    (entry,) = spool.replayable()
    assert spool.claim(entry) == "claimed" and entry.events == 1 and entry.content == b"{}"
    spool.give_back(entry, attempted=False)
    assert len(spooled_files(tmp_path)) == 2  # ours, and the unreadable one left alone
    (entry,) = spool.replayable()
    assert spool.claim(entry) == "claimed"
    spool.done(entry)
    assert spool.replayable() == []
    assert (tmp_path / "notes.txt").exists()
