"""examples/litellm_chat.py runs offline into the embedded store, and `honeytrace show` prints
its two model events with the session's tokens and cost."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.examples import EXAMPLES, run_python

EXAMPLE = EXAMPLES / "litellm_chat.py"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_python(*args, cwd=cwd, env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"})


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
