"""examples/litellm_chat.py runs offline into the embedded store, and `honeytrace show` prints
its two model events with the session's tokens and cost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "litellm_chat.py"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HH_", "HONEYTRACE_", "OPENAI_"))
    }
    env["HONEYTRACE_RAISE_INTERNAL_ERRORS"] = "1"
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
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
    assert "all delivered: True, open: 0" in example.stdout

    shown = run("-m", "honeytrace", "show", "latest", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "session litellm-support-chat" in shown.stdout
    assert shown.stdout.count("model litellm.completion") == 2
    # two calls of 31 + 12 tokens of gpt-4o-mini, priced by LiteLLM
    assert "86 tokens · $0.000024" in shown.stdout
