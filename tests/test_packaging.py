"""What a user installs: the distributions' metadata and files, and the locked test environment.

The published metadata carries the license, the authors, the project's URLs and classifiers and
no development extras; the wheels carry ``py.typed`` and the LICENSE; the README files (the
long descriptions on the package index) link absolutely; and the committed lock pins every
dependency that any ``pyproject.toml`` declares, so the suite never runs on an unpinned release.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest's own dependency on 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = [ROOT, *sorted(p.parent for p in ROOT.glob("integrations/*/pyproject.toml"))]
HOME = "https://github.com/honeytrace/honeytrace"


def _pyproject(project: Path) -> dict[str, Any]:
    with (project / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _locked(lock: str) -> dict[str, set[str]]:
    pins: dict[str, set[str]] = {}
    for raw in (ROOT / "requirements" / lock).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)(\s*;.*)?", line)
        assert match, f"{lock}: not an exact pin: {line!r}"
        pins.setdefault(_name(match.group(1)), set()).add(match.group(2))
    return pins


def test_the_lock_pins_every_declared_dependency() -> None:
    declared: set[str] = set()
    for project in PROJECTS:
        data = _pyproject(project)
        declared.update(_name(r) for r in data["project"].get("dependencies", []))
        for extra in data["project"].get("optional-dependencies", {}).values():
            declared.update(_name(r) for r in extra)
        for group in ("dev", "test"):
            declared.update(_name(r) for r in data.get("dependency-groups", {}).get(group, []))
    declared.discard("honeytrace")  # the integrations' dependency: installed from the tree
    missing = declared - set(_locked("dev.lock"))
    assert not missing, f"run `make lock`: {sorted(missing)} are declared but not in dev.lock"

    bench = {_name(r) for r in _pyproject(ROOT)["dependency-groups"]["bench"]}
    assert not bench - set(_locked("bench.lock")), "run `make lock`"


def test_the_bench_lock_agrees_with_the_dev_lock() -> None:
    dev, bench = _locked("dev.lock"), _locked("bench.lock")
    for name in set(dev) & set(bench):
        assert bench[name] <= dev[name], name


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_metadata_is_complete_and_publishes_no_development_extras(project: Path) -> None:
    meta = _pyproject(project)["project"]
    assert meta["license"] == "MIT"
    assert (project / "LICENSE").read_text().startswith("MIT License")
    assert "Copyright (c) 2026 The honeytrace authors" in (project / "LICENSE").read_text()
    assert meta["authors"]
    assert meta["urls"]["Source"] == HOME
    assert meta["urls"]["Issues"] == f"{HOME}/issues"
    for version in ("3.10", "3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in meta["classifiers"]
    assert "Typing :: Typed" in meta["classifiers"]
    assert not {"dev", "bench", "test"} & set(meta.get("optional-dependencies", {}))
    if project != ROOT:
        assert "honeytrace>=0.1.0" in meta["dependencies"]


@pytest.mark.parametrize("readme", [p / "README.md" for p in PROJECTS], ids=lambda p: p.parent.name)
def test_readme_links_are_absolute(readme: Path) -> None:
    # The README is the long description on the package index, where a relative link is dead.
    targets = re.findall(r"\]\(([^)\s]+)\)", readme.read_text())
    assert targets or readme.parent != ROOT
    relative = [t for t in targets if not t.startswith(("https://", "http://", "#"))]
    assert relative == []


@pytest.mark.slow
@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_the_wheel_carries_types_license_and_metadata(project: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        # the build backend comes from the locked environment: no download, no unpinned version
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            ".",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    package = "honeytrace" if project == ROOT else f"honeytrace_{project.name}"
    assert f"{package}/py.typed" in names
    (dist_info,) = {n.split("/", 1)[0] for n in names if ".dist-info/" in n}
    assert f"{dist_info}/licenses/LICENSE" in names
    metadata = Parser().parsestr(zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode())
    assert metadata["License-Expression"] == "MIT"
    assert "Typing :: Typed" in metadata.get_all("Classifier")
    assert any(url.endswith(HOME) for url in metadata.get_all("Project-URL"))
    extras = set(metadata.get_all("Provides-Extra") or [])
    assert not {"dev", "bench", "test"} & extras
    if project == ROOT:
        assert {"collector", "otel", "cli", "examples"} <= extras
        entry_points = zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt").decode()
        assert "honeytrace = honeytrace.local.cli:main" in entry_points
    else:
        assert "honeytrace>=0.1.0" in metadata.get_all("Requires-Dist")
