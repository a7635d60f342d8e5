"""The ``honeytrace`` command line on stores filled through ``local.store.Store``."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from honeytrace.local.cli import format_duration, main, one_line
from honeytrace.local.store import Store

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
T0 = 1_700_000_000_000


def new_id() -> str:
    return str(uuid.uuid4())


def fill(path: Path) -> dict[str, str]:
    """Two sessions: an old empty one and a newer one with a small tree and an error."""
    with Store(path) as store:
        old = store.create_session(
            {"session_id": new_id(), "session_name": "old-run", "start_time": T0}
        )["session_id"]
        sid = store.create_session(
            {"session_id": new_id(), "session_name": "chat", "start_time": T0 + 60_000,
             "inputs": {"question": "how do refunds work?"}}
        )["session_id"]  # fmt: skip
        chain = new_id()
        store.add_events(
            sid,
            [
                {"event_id": chain, "event_type": "chain", "event_name": "answer",
                 "inputs": {"q": "x" * 300}, "start_time": T0 + 60_001, "duration": 1234.5},
                {"event_type": "tool", "event_name": "search", "parent_id": chain,
                 "inputs": {"query": "refunds"}, "outputs": {"result": ["doc-1", "doc-2"]},
                 "start_time": T0 + 60_002, "duration": 12},
                {"event_type": "model", "event_name": "generate", "parent_id": chain,
                 "inputs": {"prompt": "p"}, "error": "ValueError: boom\nsecond line",
                 "start_time": T0 + 60_003, "duration": 3.25,
                 "metadata": {"prompt_tokens": 10, "completion_tokens": 5}},
            ],
        )  # fmt: skip
        store.update_event(sid, {"duration": 2000, "outputs": {"result": "an answer"}})
    return {"old": old, "chat": sid}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store" / "traces.db"


def test_sessions_table(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = fill(db)
    code, out, err = run(capsys, "sessions", "--db", str(db))
    assert code == 0, err
    header, first, second = out.splitlines()
    assert header.split() == [
        *("NAME", "SESSION", "START", "DURATION", "EVENTS", "ERRORS", "TOKENS", "COST")
    ]
    assert first.split()[:2] == ["chat", ids["chat"][:8]]
    # tokens and cost of model events' metrics (tests/test_cli_cost.py); none here
    assert first.split()[-6:] == ["2.00", "s", "3", "1", "-", "-"]
    assert second.split()[:2] == ["old-run", ids["old"][:8]]
    assert second.split()[-4:] == ["0", "0", "-", "-"]
    code, out, _ = run(capsys, "sessions", "--db", str(db), "--limit", "1")
    assert code == 0 and len(out.splitlines()) == 2


def test_show_latest_prints_the_tree(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = fill(db)
    code, out, err = run(capsys, "show", "--db", str(db))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "session chat  2.00 s"
    assert ids["chat"] in lines[1] and "3 events" in lines[1] and "1 error " in lines[1] + " "
    assert "15 tokens" in lines[1]
    assert lines[2] == '│  in  {"question": "how do refunds work?"}'
    assert lines[3] == "│  out an answer"
    assert lines[4] == "└─ chain answer  1.23 s"
    assert lines[5].startswith('   │  in  {"q": "xxx') and lines[5].endswith("…")
    assert len(lines[5]) - len("   │  in  ") == 80
    assert lines[6] == "   ├─ tool search  12 ms"
    assert lines[7] == '   │     in  {"query": "refunds"}'
    assert lines[8] == '   │     out ["doc-1", "doc-2"]'
    assert lines[9] == "   └─ model generate  3.2 ms  ✗ ValueError: boom second line"
    assert lines[10] == '         in  {"prompt": "p"}'
    assert len(lines) == 11
    assert "\x1b[" not in out  # not a terminal: no colour


def test_show_by_id_and_prefix(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = fill(db)
    for wanted in (ids["old"], ids["old"][:8], ids["old"][:8].upper()):
        code, out, err = run(capsys, "show", wanted, "--db", str(db))
        assert code == 0, err
        assert out.splitlines()[0] == "session old-run  -"


def test_show_unknown_session(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill(db)
    code, out, err = run(capsys, "show", "ffffffff", "--db", str(db))
    assert code == 1 and out == ""
    assert err.strip() == f"honeytrace: no session 'ffffffff' in {db} (see `honeytrace sessions`)"


def test_show_ambiguous_prefix(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Store(db) as store:
        for suffix in ("1", "2"):
            store.create_session({"session_id": f"abcdef00-0000-4000-8000-00000000000{suffix}"})
    code, _, err = run(capsys, "show", "abcdef", "--db", str(db))
    assert code == 1 and "matches several sessions" in err


@pytest.mark.parametrize("command", ["sessions", "show", "export"])
def test_missing_store_names_the_path_and_how_to_point_elsewhere(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    code, out, err = run(capsys, command, "--db", str(db))
    assert code == 1 and out == ""
    assert err == f"honeytrace: no trace store at {db} (given by --db); check the path\n"
    monkeypatch.setenv("HONEYTRACE_LOCAL_PATH", str(db))
    code, out, err = run(capsys, command)
    assert code == 1 and out == ""
    assert f"no trace store at {db} (from HONEYTRACE_LOCAL_PATH)" in err and "--db PATH" in err
    monkeypatch.delenv("HONEYTRACE_LOCAL_PATH")
    monkeypatch.chdir(db.parent.parent)
    code, out, err = run(capsys, command)
    assert code == 1 and out == ""
    assert (
        f"looked for {os.path.join('.honeytrace', 'traces.db')} in {db.parent.parent} "
        "and every directory above it" in err
    )
    assert "--db PATH or HONEYTRACE_LOCAL_PATH" in err
    assert not db.exists()  # reading does not create a store


@pytest.mark.parametrize("command", ["sessions", "show"])
def test_empty_store(db: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    Store(db).close()
    code, out, err = run(capsys, command, "--db", str(db))
    assert code == 1 and out == ""
    assert err == f"honeytrace: no traces yet in {db} — run a traced program first\n"


def test_not_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "traces.db"
    bogus.write_text("hello, not sqlite " * 100)
    code, _, err = run(capsys, "sessions", "--db", str(bogus))
    assert code == 1 and "cannot read" in err and "Traceback" not in err


def test_default_db_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "env" / "traces.db"
    fill(path)
    monkeypatch.setenv("HONEYTRACE_LOCAL_PATH", str(path))
    code, out, _ = run(capsys, "sessions")
    assert code == 0 and "chat" in out
    monkeypatch.delenv("HONEYTRACE_LOCAL_PATH")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "sessions")
    assert code == 1
    assert os.path.join(".honeytrace", "traces.db") in err


def test_the_store_is_found_in_a_parent_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Like git finds .git: a program traced at the project's root, read from a subdirectory."""
    ids = fill(tmp_path / "project" / ".honeytrace" / "traces.db")
    deep = tmp_path / "project" / "src" / "pkg"
    deep.mkdir(parents=True)
    monkeypatch.delenv("HONEYTRACE_LOCAL_PATH")
    monkeypatch.chdir(deep)
    code, out, err = run(capsys, "show")
    assert code == 0, err
    assert out.splitlines()[0] == "session chat  2.00 s"
    code, out, _ = run(capsys, "sessions", "--json")
    assert [session["session_id"] for session in json.loads(out)] == [ids["chat"], ids["old"]]
    # the nearest wins: a store of the subdirectory itself hides the project's
    with Store(deep / ".honeytrace" / "traces.db") as store:
        store.create_session({"session_id": new_id(), "session_name": "nearer"})
    code, out, _ = run(capsys, "sessions")
    assert code == 0 and out.splitlines()[1].startswith("nearer")


def test_sessions_limit_0_lists_every_session(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Store(db) as store:
        for index in range(25):
            store.create_session({"session_id": new_id(), "session_name": f"s{index}",
                                  "start_time": T0 + index})  # fmt: skip
    code, out, err = run(capsys, "sessions", "--db", str(db), "--limit", "0")
    assert code == 0, err
    assert len(out.splitlines()) == 26  # the header and all 25, not "no traces yet"
    code, out, _ = run(capsys, "sessions", "--db", str(db))
    assert len(out.splitlines()) == 21  # the default stays 20


@pytest.mark.parametrize("limit", ["-1", "many"])
def test_a_bad_limit_is_one_line_and_exit_2(
    db: Path, capsys: pytest.CaptureFixture[str], limit: str
) -> None:
    fill(db)
    with pytest.raises(SystemExit) as exited:
        main(["sessions", "--db", str(db), "--limit", limit])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.count("\n") == 1 and "--limit: must be 0 (no limit) or more" in err


def test_sessions_json(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = fill(db)
    code, out, err = run(capsys, "sessions", "--db", str(db), "--json")
    assert code == 0, err
    sessions = json.loads(out)
    assert [s["session_id"] for s in sessions] == [ids["chat"], ids["old"]]
    assert sessions[0] == {
        "session_id": ids["chat"], "name": "chat", "start_time": T0 + 60_000, "end_time": None,
        "duration": 2000, "events": 3, "errors": 1, "tokens": None, "cost": None,
    }  # fmt: skip
    Store(tmp := db.parent / "empty.db").close()
    code, out, _ = run(capsys, "sessions", "--db", str(tmp), "--json")
    assert code == 0 and json.loads(out) == []  # an empty list is an answer, not an error


def test_show_json_is_the_full_tree(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = fill(db)
    code, out, err = run(capsys, "show", ids["chat"][:8], "--db", str(db), "--json")
    assert code == 0, err
    tree = json.loads(out)
    with Store(db) as store:
        assert tree == store.session_tree(ids["chat"])  # nothing left out
    [chain] = tree["children"]
    search, generate = chain["children"]
    assert chain["inputs"] == {"q": "x" * 300}  # not cut as in the text view
    assert generate["error"] == "ValueError: boom\nsecond line"
    assert generate["metadata"] == {"prompt_tokens": 10, "completion_tokens": 5}
    assert search["outputs"] == {"result": ["doc-1", "doc-2"]}
    for field in ("event_id", "parent_id", "session_id", "event_type", "event_name", "source",
                  "start_time", "end_time", "duration", "config", "inputs", "outputs",
                  "metadata", "metrics", "feedback", "user_properties", "children_ids",
                  "error"):  # fmt: skip
        assert field in generate


HOSTILE = "evil\x1b]0;pwned\x07\x1b[2J\x9b31m\u202eoops\x00"


def test_terminal_escapes_in_trace_data_are_shown_escaped(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store(db) as store:
        sid = store.create_session(
            {"session_id": new_id(), "session_name": HOSTILE, "inputs": {"q": HOSTILE}}
        )["session_id"]
        store.add_events(sid, [{"event_type": "tool", "event_name": HOSTILE,
                                "error": HOSTILE, "outputs": {"result": HOSTILE}}])  # fmt: skip
    for argv in (["sessions"], ["show"], ["show", "--json"], ["sessions", "--json"],
                 ["export"], ["export", "--format", "otlp-json"]):  # fmt: skip
        code, out, err = run(capsys, *argv, "--db", str(db))
        assert code == 0, err
        for raw in ("\x1b", "\x07", "\x9b", "\u202e", "\x00"):
            assert raw not in out, (argv, raw)
    code, out, _ = run(capsys, "show", "--db", str(db))
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u202eoops\\x00" in out
    code, out, _ = run(capsys, "sessions", "--db", str(db))
    assert out.splitlines()[1].startswith("evil\\x1b]0;pwned")
    code, out, _ = run(capsys, "show", "--json", "--db", str(db))
    assert json.loads(out)["event_name"] == HOSTILE  # escaped as JSON, the same value


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_without_no_color(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(db)
    outputs: list[str] = []
    for no_color in (False, True):
        if no_color:
            monkeypatch.setenv("NO_COLOR", "1")
        terminal = Terminal()
        monkeypatch.setattr(sys, "stdout", terminal)
        assert main(["show", "--db", str(db)]) == 0
        outputs.append(terminal.getvalue())
    assert "\x1b[31m✗ ValueError: boom" in outputs[0]
    assert "\x1b[" not in outputs[1]


def test_serve_without_the_collector_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "honeytrace.local.collector", None)
    code, _, err = run(capsys, "serve", "--port", "0")
    assert code == 2 and "install honeytrace[collector]" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["frobnicate"])
    assert exited.value.code == 2


def test_python_dash_m(db: Path) -> None:
    ids = fill(db)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [sys.executable, "-m", "honeytrace", "show", ids["chat"][:8], "--db", str(db)],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "session chat  2.00 s"


@pytest.mark.parametrize(
    ("ms", "text"),
    [(None, "-"), (0.04, "0.04 ms"), (2.5, "2.5 ms"), (12, "12 ms"), (999.4, "999 ms"),
     (1500, "1.50 s"), (123_000, "2m 03s"), (float("nan"), "-"), (True, "-")],
)  # fmt: skip
def test_format_duration(ms: Any, text: str) -> None:
    assert format_duration(ms) == text


def test_one_line() -> None:
    assert one_line({"result": "a\n  b"}) == "a b"
    assert one_line({"a": 1, "b": 2}) == '{"a": 1, "b": 2}'
    assert one_line("x" * 100, 10) == "x" * 9 + "…"
