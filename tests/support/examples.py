"""Running an example of examples/ as a user would: its own process, offline, into the embedded
store of a fresh directory, then `honeytrace show` on what it recorded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Variables that would send the example elsewhere, or switch a client's own tracing on.
_OWN_PREFIXES = (
    "HH_",
    "HONEYTRACE_",
    "OPENAI_",
    "ANTHROPIC_",
    "GOOGLE_",
    "GEMINI_",
    "LANGCHAIN_",
    "LANGSMITH_",
)


def run_python(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python *args`` in ``cwd`` with none of the user's tracing or client settings (plus
    ``env``), honeytrace's internal errors raised; never raises for a non-zero exit."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith(_OWN_PREFIXES)}
    clean["HONEYTRACE_RAISE_INTERNAL_ERRORS"] = "1"
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
