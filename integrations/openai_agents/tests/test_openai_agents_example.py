"""The example runs offline into the embedded store, and `honeytrace show` prints its tree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "openai_agents_triage.py"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HH_", "HONEYTRACE_", "OPENAI_", "GOOGLE_", "GEMINI_"))
    }
    env["HONEYTRACE_RAISE_INTERNAL_ERRORS"] = "1"
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


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
