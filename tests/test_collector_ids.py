"""The collector's id check (``collector/v1.py`` ``check_ids``): the one-pass check of a whole
batch accepts exactly what the per-id regex accepts, and a valid batch costs no regex match."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from honeytrace.local.collector import v1
from honeytrace.local.collector._http import ApiError
from honeytrace.local.collector.v1 import check_ids

U = "0f8fad5b-d9cb-469f-a165-70867728950e"


def ids(event_id: Any, session_id: Any = U, parent_id: Any = None) -> dict[str, Any]:
    return {"event_id": event_id, "session_id": session_id, "parent_id": parent_id}


ODD_IDS = [
    U,
    U.upper(),
    str(uuid.uuid4()),
    U[:-1],  # too short
    U + "0",  # too long
    U.replace("-", ""),  # no dashes
    U.replace("-", "_"),
    U[:8] + "-" + U[9:],  # a dash moved: same length
    "g" + U[1:],  # not hex
    "x" + U[1:],
    "٣" + U[1:],  # a non-ASCII digit
    "é" + U[1:],
    U + "\n" + U,  # two ids in one
    U[:18] + "\n" + U[19:],  # a newline where a dash belongs
    "",
    " " + U[1:],
    U[:35] + "\x00",
    "0" * 36,
    "-" * 36,
]


@pytest.mark.parametrize("odd", ODD_IDS)
@pytest.mark.parametrize("field", ["event_id", "session_id", "parent_id"])
def test_the_batch_check_accepts_what_the_regex_accepts(odd: str, field: str) -> None:
    events = [ids(str(uuid.uuid4())), {**ids(str(uuid.uuid4())), field: odd}, ids(U, U, U)]
    expected = re.fullmatch(v1._UUID.pattern, odd) is not None
    assert v1._all_uuids(events) is expected
    if expected:
        check_ids(events, "events")
    else:
        with pytest.raises(ApiError) as raised:
            check_ids(events, "events")
        assert raised.value.message == (
            f"invalid body: events[1].{field}: must be a UUID, got {odd!r}"
        )


def test_absent_ids_pass() -> None:
    assert v1._all_uuids([ids(U, None, None), {}])
    check_ids([ids(U, None, None), {}], "events")


def test_a_valid_batch_costs_no_regex_match(monkeypatch: pytest.MonkeyPatch) -> None:
    matches: list[str] = []

    class Counting:
        pattern = v1._UUID.pattern

        def fullmatch(self, text: str) -> Any:
            matches.append(text)
            return re.fullmatch(self.pattern, text)

    monkeypatch.setattr(v1, "_UUID", Counting())
    for name in ("_UUID_LINES",):  # the former whole-batch regex, if any
        if hasattr(v1, name):
            monkeypatch.setattr(v1, name, Counting())
    check_ids([ids(str(uuid.uuid4()), U, str(uuid.uuid4())) for _ in range(500)], "events")
    assert matches == []
