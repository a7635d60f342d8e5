"""The package's arrows point one way: import-linter contracts in pyproject `[tool.importlinter]`.

The contracts are the layers of DESIGN.md section 4, the collector kept apart from the CLI, and
the integrations (and their toolkit) kept on the public API. The suite runs ``lint-imports`` on
the real tree, and on a copy with a back-arrow added, to show the contracts can fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest's own dependency on 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"


def _lint_imports(cwd: Path, pythonpath: str | None = None) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert tool is not None, "import-linter is part of the dev environment"
    env = None if pythonpath is None else {**os.environ, "PYTHONPATH": pythonpath}
    return subprocess.run(
        [tool, "--no-cache", "--no-logo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _config() -> dict[str, object]:
    with PYPROJECT.open("rb") as f:
        return tomllib.load(f)["tool"]["importlinter"]  # type: ignore[no-any-return]


def test_import_contracts_hold() -> None:
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
    assert done.stdout.count(" KEPT") == len(_config()["contracts"])  # type: ignore[arg-type]


def test_every_integration_is_under_contract() -> None:
    packages = sorted(p.name for p in ROOT.glob("integrations/*/src/honeytrace_*") if p.is_dir())
    assert packages, "the integrations live in integrations/<name>/src/honeytrace_<name>"
    config = _config()
    assert set(packages) <= set(config["root_packages"])  # type: ignore[arg-type]
    contract = next(c for c in config["contracts"] if c["id"] == "integrations-public-only")  # type: ignore[attr-defined]
    assert sorted(contract["source_modules"]) == packages


BACK_ARROWS = {
    # the recording layer reaching up into the runtime
    "record-to-runtime": ("src/honeytrace/_record/span.py", "import honeytrace._runtime", "layers"),
    # delivery reaching up into the local store
    "deliver-to-local": (
        "src/honeytrace/_deliver/encode.py",
        "import honeytrace.local.store",
        "layers",
    ),
    # the collector using the CLI's code
    "collector-to-cli": (
        "src/honeytrace/local/collector/app.py",
        "import honeytrace.local.cli",
        "the collector does not import the CLI",
    ),
    # an integration reaching past the public API
    "integration-to-internals": (
        "integrations/openai/src/honeytrace_openai/_chat.py",
        "import honeytrace._record.span",
        "integrations use only the public API",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("arrow", sorted(BACK_ARROWS))
def test_a_back_arrow_breaks_a_contract(arrow: str, tmp_path: Path) -> None:
    path, line, contract = BACK_ARROWS[arrow]
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    sources = [ROOT / "src", *sorted(ROOT.glob("integrations/*/src"))]
    copies = []
    for source in sources:
        target = tmp_path / source.relative_to(ROOT)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        copies.append(str(target))
    edited = tmp_path / path
    edited.write_text(edited.read_text() + f"\n{line}  # a back-arrow\n")

    done = _lint_imports(tmp_path, pythonpath=":".join(copies))
    assert done.returncode != 0, done.stdout
    assert "1 broken" in done.stdout, done.stdout
    broken = done.stdout.split("Broken contracts", 1)[1]
    assert contract in broken
    module = line.removeprefix("import ")
    assert module in broken
