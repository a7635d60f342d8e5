"""The package's public face: a sorted ``__all__``, and submodules that load on first access."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

import honeytrace


def test_all_is_sorted_and_every_name_exists_with_a_docstring() -> None:
    assert honeytrace.__all__ == sorted(honeytrace.__all__)
    for name in honeytrace.__all__:
        value = getattr(honeytrace, name)
        if name != "__version__":
            assert value.__doc__, name
    # Everything public at module level is exported, except the typing helpers and submodules
    # (bound as attributes once anything imports them; pytest's rewrite adds "@" names).
    public = {
        name
        for name, value in vars(honeytrace).items()
        if not name.startswith(("_", "@")) and not isinstance(value, types.ModuleType)
    }
    assert public - set(honeytrace.__all__) == {"Any", "TYPE_CHECKING"}


@pytest.mark.parametrize(
    ("module", "use"),
    [
        ("testing", "with honeytrace.testing.capture() as cap: pass\nresult = type(cap).__name__"),
        ("propagation", "headers = {}\nhoneytrace.propagation.inject(headers)\nresult = headers"),
        ("otel", "result = honeytrace.otel.HoneytraceSpanProcessor.__name__"),
    ],
    ids=["testing", "propagation", "otel"],
)
def test_submodule_is_an_attribute_loaded_on_first_use(module: str, use: str) -> None:
    # A fresh interpreter: in this one, pytest's plugin has already imported honeytrace.testing.
    script = "\n".join(
        [
            "import json, sys",
            "import honeytrace",
            'before = sorted(m for m in sys.modules if m.startswith("honeytrace."))',
            f"listed = {module!r} in dir(honeytrace)",
            use,
            f'loaded = "honeytrace.{module}" in sys.modules',
            'print(json.dumps({"before": before, "listed": listed, "result": repr(result),'
            ' "loaded": loaded}))',
        ]
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert f"honeytrace.{module}" not in seen["before"]  # import honeytrace stays light
    assert not any(m.startswith(f"honeytrace.{module}.") for m in seen["before"])
    assert seen["listed"]
    assert seen["loaded"]
    assert seen["result"] not in ("", "None")


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        honeytrace.nope  # type: ignore[attr-defined]
