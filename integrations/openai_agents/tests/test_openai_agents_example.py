"""The example runs offline into the embedded store, and `honeytrace show` prints its tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.examples import EXAMPLES, run_python

EXAMPLE = EXAMPLES / "openai_agents_triage.py"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_python(*args, cwd=cwd)


def test_the_example_runs_offline_and_is_shown(tmp_path: Path) -> None:
    example = run(str(EXAMPLE), cwd=tmp_path)
    assert example.returncode == 0, example.stderr
    assert "Your refund for A-1001 was issued" in example.stdout
    assert "all delivered: True" in example.stdout

    shown = run("-m", "honeytrace", "show", "latest", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "session Agent workflow" in shown.stdout
    assert shown.stdout.count("model response") == 3
    assert "tool order_status" in shown.stdout
    assert "tool handoff" in shown.stdout
    assert "chain on_topic" in shown.stdout
    assert "414 tokens" in shown.stdout
