"""Whatever the application passes or returns, the call behaves as without tracing, and what is
sent is accepted by a strict server."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

import honeytrace
from tests.support.fake_api import FakeApi, fake_api_fixture

fake_api = fake_api_fixture


class Hostile:
    """Raises on everything Python may call on an object."""

    def __repr__(self) -> str:
        raise RuntimeError("repr")

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __hash__(self) -> int:
        raise RuntimeError("hash")

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"getattr {name}")


class HostileKey:
    def __hash__(self) -> int:
        return 1

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __repr__(self) -> str:
        raise RuntimeError("repr")


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def cyclic() -> dict[str, Any]:
    value: dict[str, Any] = {"name": "loop"}
    value["self"] = value
    return value


def numbers() -> Iterator[int]:
    yield from range(3)


VALUES = {
    "hostile": Hostile(),
    "hostile-key": {HostileKey(): 1, None: 2, (1, 2): 3, 4: "four"},
    "nan": [math.nan, math.inf, -math.inf],
    "deep": nested(5000),
    "wide": list(range(200_000)),
    "huge-string": "x" * 5_000_000,
    "bytes": b"\x00\xff" * 1000,
    "set": {1, "a", None},
    "cycle": cyclic(),
    "surrogates": "bad \ud800 text",
    "big-int": 2**200,
}


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_any_argument_or_result_is_represented_and_accepted(fake_api: FakeApi, kind: str) -> None:
    honeytrace.configure(api_key="test-key", server_url=fake_api.url)
    value = VALUES[kind]

    @honeytrace.trace_tool
    def echo(anything: Any) -> Any:
        return anything

    with honeytrace.session(kind) as s:
        assert echo(value) is value
    assert honeytrace.flush(30)
    (event,) = fake_api.events_for(s.session_id)
    assert set(event["inputs"]) == {"anything"}
    assert "result" in event["outputs"]
    assert fake_api.violations == []
    assert honeytrace.stats().dropped == {}


def test_generators_passed_as_arguments_are_never_consumed(fake_api: FakeApi) -> None:
    honeytrace.configure(api_key="test-key", server_url=fake_api.url)

    @honeytrace.trace_tool
    def take_later(items: Iterator[int]) -> Iterator[int]:
        return items

    with honeytrace.session("gen") as s:
        source = numbers()
        returned = take_later(source)
    assert honeytrace.flush(30)
    assert list(returned) == [0, 1, 2]  # still whole: tracing did not iterate it
    (event,) = fake_api.events_for(s.session_id)
    assert "generator" in event["inputs"]["items"]


def test_exceptions_that_cannot_be_printed_are_still_recorded(fake_api: FakeApi) -> None:
    honeytrace.configure(api_key="test-key", server_url=fake_api.url)

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    @honeytrace.trace_tool
    def fails() -> None:
        raise Unprintable()

    with honeytrace.session("err") as s, pytest.raises(Unprintable):
        fails()
    assert honeytrace.flush(30)
    (event,) = fake_api.events_for(s.session_id)
    assert event["error"].startswith("Unprintable")


def test_huge_values_are_cut_with_a_visible_marker(fake_api: FakeApi) -> None:
    honeytrace.configure(api_key="test-key", server_url=fake_api.url)

    @honeytrace.trace_tool
    def big(text: str) -> int:
        return len(text)

    with honeytrace.session("big") as s:
        big("y" * 10_000_000)
    assert honeytrace.flush(30)
    (event,) = fake_api.events_for(s.session_id)
    assert "truncated" in event["inputs"]["text"]
    assert len(event["inputs"]["text"]) < 1_100_000
