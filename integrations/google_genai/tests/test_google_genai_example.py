"""The example runs offline into the embedded store, and `honeytrace show` prints its tree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "google_genai_chat.py"


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
    assert "Refunds reach your card within 5 business days." in example.stdout
    assert "all delivered: True" in example.stdout

    shown = run("-m", "honeytrace", "show", "latest", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "session gemini-support-chat" in shown.stdout
    assert shown.stdout.count("model google.genai.models.generate_content ") == 2
    assert shown.stdout.count("model google.genai.models.generate_content_stream ") == 1
    assert "231 tokens" in shown.stdout
