"""The README's performance tables come from a benchmark run, never typed by hand."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import readme

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "latest.json"


def results() -> dict:  # type: ignore[type-arg]
    return json.loads(RESULTS.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_every_budget_of_the_run_is_in_the_block_with_its_verdict() -> None:
    run = results()
    run["budgets"][0]["ok"] = False
    run["budgets"][1]["ok"] = True
    block = readme.render(run)
    rows = [line for line in block.splitlines() if line.startswith("| ")]
    for check in run["budgets"]:
        row = next(r for r in rows if r.startswith(f"| {check['budget']} |"))
        assert row.endswith("| **FAIL** |" if not check["ok"] else "| PASS |")
    assert run["machine"]["cpu"] in block
    for size in run["end_to_end"]["sizes"]:
        assert any(r.startswith(f"| {size} | ") for r in rows)


def test_the_readme_changes_between_the_markers_only(tmp_path: Path) -> None:
    page = tmp_path / "README.md"
    page.write_text(f"# before\n\n{readme.START}\nold figures\n{readme.END}\n\n# after\n")
    assert readme.update(page, results())
    text = page.read_text()
    assert text.startswith("# before\n\n" + readme.START)
    assert text.endswith(readme.END + "\n\n# after\n")
    assert "old figures" not in text
    assert "| budget | measured | limit | |" in text


def test_a_readme_without_the_markers_is_left_alone(tmp_path: Path) -> None:
    page = tmp_path / "README.md"
    page.write_text("# nothing to replace\n")
    assert not readme.update(page, results())
    assert page.read_text() == "# nothing to replace\n"
