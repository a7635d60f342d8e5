"""``event_row``, the one-pass maker of an event's column values: what each kind of field
value becomes (the same as ``event_values`` plus the table's defaults)."""

from __future__ import annotations

from typing import Any

import pytest

from honeytrace.local.rows import event_row

SID = "6f4de29f-9b31-41e0-8000-000000000001"


def row(body: dict[str, Any]) -> tuple[Any, ...]:
    return event_row(body, "e", SID, SID)


def test_defaults_of_an_empty_body() -> None:
    assert row({}) == (
        "e", SID, SID, "chain", "unknown", "unknown", None, None, None, None, None,
        "[]", "{}", "{}", "{}", "{}", "{}", "{}", "{}",
    )  # fmt: skip


def test_values_kept_converted_or_dropped() -> None:
    values = row(
        {
            "event_type": "model",
            "event_name": 7,
            "source": None,
            "project_id": 3,
            "error": "boom",
            "start_time": True,  # a bool is not a time
            "end_time": 12.5,
            "duration": 3,
            "children_ids": ["a", "b"],
            "config": {"model": "m"},
            "inputs": {},
            "outputs": {"x": float("nan")},
            "metadata": {"k": [1, 2]},
            "feedback": None,
            "metrics": {"total_tokens": 3},
            "user_properties": {"u": "é"},
        }
    )
    assert values == (
        "e", SID, SID, "model", "7", "unknown", "3", "boom", None, 12.5, 3,
        '["a","b"]', '{"model":"m"}', "{}", '{"x":null}', '{"k":[1,2]}', "{}",
        '{"total_tokens":3}', '{"u":"é"}',
    )  # fmt: skip


@pytest.mark.parametrize(("children", "text"), [([], "[]"), (None, "[]"), (("a",), '["a"]')])
def test_children_ids(children: Any, text: str) -> None:
    assert row({"children_ids": children})[11] == text
