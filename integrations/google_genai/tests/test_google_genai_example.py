"""The example runs offline into the embedded store, and `honeytrace show` prints its tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.examples import EXAMPLES, run_python

EXAMPLE = EXAMPLES / "google_genai_chat.py"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_python(*args, cwd=cwd)


def test_the_example_runs_offline_and_is_shown(tmp_path: Path) -> None:
    example = run(str(EXAMPLE), cwd=tmp_path)
    assert example.returncode == 0, example.stderr
    assert "Refunds reach your card within 5 business days." in example.stdout
    assert "all delivered: True" in example.stdout

    shown = run("-m", "honeytrace", "show", "latest", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "session gemini-support-chat" in shown.stdout
    assert shown.stdout.count("model google.genai.models.generate_content ") == 2
    assert shown.stdout.count("model google.genai.models.generate_content_stream ") == 1
    assert "231 tokens" in shown.stdout
