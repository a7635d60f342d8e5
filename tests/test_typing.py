"""The decorators keep the user's types: mypy --strict and pyright run on a sample user module.

``tests/typing_sample/sample_app.py`` decorates every kind of callable and reveals the result;
each revealed type must be the decorated callable's own signature (the bug was ``Any``, and
``mypy --strict`` said "Untyped decorator makes function untyped"). ``sample_errors.py`` holds
calls that must be rejected, one per line marked ``# error``: a decorator that erased types would
let them pass.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).parent / "typing_sample"
APP = SAMPLE / "sample_app.py"
ERRORS = SAMPLE / "sample_errors.py"

# The revealed expression -> the type mypy must print ("builtins." and "typing." are removed
# before comparing, as mypy's releases differ in whether they print them).
MYPY_REVEALED = {
    "search": "def (query: str) -> list[str]",
    "lookup": "def (key: str, *, limit: int =) -> dict[str, int]",
    "named": "def (x: int) -> int",
    "generate": "def (prompt: str) -> str",
    "agenerate": "def (prompt: str) -> Coroutine[Any, Any, str]",
    "steps": "def (n: int) -> Iterator[int]",
    "astream": "def (n: int) -> AsyncIterator[str]",
    "plain": "def (a: float, b: float =) -> float",
    "called": "def (a: bytes) -> bytes",
    "chat": "def (q: str) -> str",
    "handler": "def (q: str) -> Coroutine[Any, Any, int]",
    "Agent().run": "def (task: str) -> bool",
    "Agent.build": "def (size: int) -> sample_app.Agent",
    "Agent.build_inner": "def (size: int) -> sample_app.Agent",
    "Agent.helper": "def (text: str) -> int",
    "Agent().ask": "def (q: str) -> Coroutine[Any, Any, list[int]]",
    "wrapped": "def (query: str) -> list[str]",
}

# The same in pyright's notation (it prints the coroutine type of the running Python).
PYRIGHT_REVEALED = {
    "search": "(query: str) -> list[str]",
    "lookup": "(key: str, *, limit: int = 3) -> dict[str, int]",
    "named": "(x: int) -> int",
    "generate": "(prompt: str) -> str",
    "agenerate": "(prompt: str) -> Coroutine[Any, Any, str]",
    "steps": "(n: int) -> Iterator[int]",
    "astream": "(n: int) -> AsyncIterator[str]",
    "plain": "(a: float, b: float = 1) -> float",
    "called": "(a: bytes) -> bytes",
    "chat": "(q: str) -> str",
    "handler": "(q: str) -> Coroutine[Any, Any, int]",
    "Agent().run": "(task: str) -> bool",
    "Agent.build": "(size: int) -> Agent",
    "Agent.build_inner": "(size: int) -> Agent",
    "Agent.helper": "(text: str) -> int",
    "Agent().ask": "(q: str) -> Coroutine[Any, Any, list[int]]",
    "wrapped": "(query: str) -> list[str]",
}


def _reveal_lines() -> dict[int, str]:
    lines = APP.read_text().splitlines()
    found = {}
    for number, line in enumerate(lines, start=1):
        match = re.fullmatch(r"reveal_type\((.+)\)", line.strip())
        if match:
            found[number] = match.group(1)
    assert set(found.values()) == set(MYPY_REVEALED), "sample_app.py and this test disagree"
    return found


def _error_lines() -> set[int]:
    lines = ERRORS.read_text().splitlines()
    return {n for n, line in enumerate(lines, start=1) if "# error" in line}


def _normalize(text: str) -> str:
    return re.sub(r"\b(builtins|typing|types)\.", "", text).replace("CoroutineType", "Coroutine")


def _run(args: list[str], cwd: Path) -> str:
    done = subprocess.run(args, check=False, cwd=cwd, capture_output=True, text=True, timeout=300)
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def mypy_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    # One run over both files: most of its time goes to analysing honeytrace and pydantic.
    cache = tmp_path_factory.mktemp("mypy-cache")
    return _run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            "",
            "--cache-dir",
            str(cache),
            "--hide-error-context",
            "--no-pretty",
            "--show-error-codes",
            APP.name,
            ERRORS.name,
        ],
        SAMPLE,
    )


def _mypy(target: Path, out: str) -> dict[int, list[str]]:
    by_line: dict[int, list[str]] = {}
    for line in out.splitlines():
        match = re.match(rf"{re.escape(target.name)}:(\d+): (note|error): (.*)", line)
        if match:
            by_line.setdefault(int(match.group(1)), []).append(
                f"{match.group(2)}: {match.group(3)}"
            )
    assert by_line, out
    return by_line


def test_mypy_strict_sees_the_decorated_signatures(mypy_output: str) -> None:
    by_line = _mypy(APP, mypy_output)
    errors = {n: m for n, m in by_line.items() if any(x.startswith("error") for x in m)}
    assert errors == {}, errors  # no "Untyped decorator makes function untyped"
    for number, expr in _reveal_lines().items():
        notes = by_line.get(number, [])
        assert len(notes) == 1, (expr, notes)
        match = re.fullmatch(r'note: Revealed type is "(.*)"', notes[0])
        assert match, notes
        assert _normalize(match.group(1)) == MYPY_REVEALED[expr], expr


def test_mypy_strict_rejects_wrong_calls(mypy_output: str) -> None:
    by_line = _mypy(ERRORS, mypy_output)
    flagged = {n for n, m in by_line.items() if any(x.startswith("error") for x in m)}
    assert flagged == _error_lines(), by_line
    # the headline case of the issue: chat(1) for def chat(q: str)
    chat_line = next(
        n for n, line in enumerate(ERRORS.read_text().splitlines(), 1) if line.startswith("chat(1)")
    )
    assert any('incompatible type "int"; expected "str"' in m for m in by_line[chat_line])


def _pyright() -> str:
    found = shutil.which("pyright", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("pyright is not installed in this environment (it is in the dev lock)")
    return found


@pytest.fixture(scope="module")
def pyright_output() -> str:
    return _run([_pyright(), "--pythonpath", sys.executable, APP.name, ERRORS.name], SAMPLE)


def _pyright_run(target: Path, out: str) -> dict[int, list[str]]:
    by_line: dict[int, list[str]] = {}
    for line in out.splitlines():
        match = re.match(
            rf"\s*\S*{re.escape(target.name)}:(\d+):\d+ - (information|error): (.*)", line
        )
        if match:
            by_line.setdefault(int(match.group(1)), []).append(
                f"{match.group(2)}: {match.group(3)}"
            )
    assert by_line, out
    return by_line


@pytest.mark.slow
def test_pyright_sees_the_decorated_signatures(pyright_output: str) -> None:
    by_line = _pyright_run(APP, pyright_output)
    errors = {n: m for n, m in by_line.items() if any(x.startswith("error") for x in m)}
    assert errors == {}, errors
    for number, expr in _reveal_lines().items():
        notes = by_line.get(number, [])
        assert len(notes) == 1, (expr, notes)
        match = re.fullmatch(r'information: Type of "(.*)" is "(.*)"', notes[0])
        assert match and match.group(1) == expr, notes
        assert _normalize(match.group(2)) == PYRIGHT_REVEALED[expr], expr


@pytest.mark.slow
def test_pyright_rejects_wrong_calls(pyright_output: str) -> None:
    by_line = _pyright_run(ERRORS, pyright_output)
    flagged = {n for n, m in by_line.items() if any(x.startswith("error") for x in m)}
    assert flagged == _error_lines(), by_line
