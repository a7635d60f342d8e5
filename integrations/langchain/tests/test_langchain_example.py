"""examples/langchain_graph.py runs offline into the embedded store, and `honeytrace show`
prints its graph with the tokens and cost of the session."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.examples import EXAMPLES, run_python

EXAMPLE = EXAMPLES / "langchain_graph.py"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_python(*args, cwd=cwd)


@pytest.mark.price_table
def test_the_example_runs_offline_and_is_shown_with_its_cost(tmp_path: Path) -> None:
    example = run(str(EXAMPLE), cwd=tmp_path)
    assert example.returncode == 0, example.stderr
    assert "It is sunny and 21°C in Paris." in example.stdout
    assert "all delivered: True" in example.stdout

    shown = run("-m", "honeytrace", "show", "latest", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "session LangGraph" in shown.stdout
    assert shown.stdout.count("model ChatOpenAI") == 2
    assert "tool get_weather" in shown.stdout
    # gpt-4o-mini: (52 + 64) input and (14 + 9) output tokens at $0.15 / $0.60 per MTok
    assert "139 tokens · $0.000031" in shown.stdout
