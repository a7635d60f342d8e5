"""examples/google_genai_chat.py runs offline into the embedded store, and `honeytrace show`
prints its chat with the tokens and cost of the session."""

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
        if not key.startswith(("HH_", "HONEYTRACE_", "OPENAI_", "LANGCHAIN_", "LANGSMITH_"))
    }
    env["HONEYTRACE_RAISE_INTERNAL_ERRORS"] = "1"
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_example_runs_offline_and_is_shown_with_its_cost(tmp_path: Path) -> None:
    example = run(str(EXAMPLE), cwd=tmp_path)
    assert example.returncode == 0, example.stderr
    assert "Refunds go back to your card within 5 business days." in example.stdout
    assert "all delivered: True" in example.stdout

    shown = run("-m", "honeytrace", "show", "latest", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "session gemini-support-chat" in shown.stdout
    assert "model google.models.generate_content " in shown.stdout
    assert "model google.models.generate_content_stream" in shown.stdout
    # gemini-2.5-flash, twice: 8 fresh input at $0.30, 32 cached at $0.03, 20 output at $2.50
    assert "120 tokens · $0.000107" in shown.stdout
