"""_deliver.serialize: every conversion, hostile objects, limits, and a seeded random sweep.

Every result goes through ``valid_json``: json.dumps(allow_nan=False), pydantic_core.to_json,
UTF-8 decoding, and a walk checking that only exact JSON types remain.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import inspect
import io
import json
import math
import pathlib
import random
import sys
import threading
import types
import uuid
from collections.abc import Generator, Iterator, Mapping, Sequence
from typing import Any
from unittest import mock

import pydantic_core
import pytest
from pydantic import BaseModel, field_serializer

from honeytrace._deliver.serialize import (
    DEFAULT_LIMITS,
    MASK,
    TRUNCATION_MARK,
    Limits,
    is_secret_key,
    safe_repr,
    safe_str,
    to_jsonable,
)

JSON_TYPES = (str, int, float, bool, type(None))


def assert_exact_json_types(value: Any) -> None:
    if type(value) is dict:
        for key, item in value.items():
            assert type(key) is str
            assert_exact_json_types(item)
    elif type(value) is list:
        for item in value:
            assert_exact_json_types(item)
    else:
        assert type(value) in JSON_TYPES, type(value)
        if type(value) is float:
            assert math.isfinite(value)


def valid_json(value: Any) -> Any:
    """The value itself, after proving both JSON encoders and a UTF-8 decoder accept it."""
    assert_exact_json_types(value)
    text = json.dumps(value, allow_nan=False)
    assert json.loads(text) == value
    pydantic_core.to_json(value).decode("utf-8")
    return value


def convert(obj: object, limits: Limits = DEFAULT_LIMITS, **kwargs: Any) -> Any:
    return valid_json(to_jsonable(obj, limits, **kwargs))


def nesting(value: Any) -> int:
    depth = 0
    while type(value) is list and value:
        value, depth = value[0], depth + 1
    return depth


# -- scalars ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "plain", "héllo ✓ 😀", 0, -5, 2**63 - 1, -(2**63), 1.5])
def test_plain_scalars_come_back_unchanged(value: object) -> None:
    assert convert(value) == value
    assert convert(True) is True and convert(False) is False and convert(None) is None


def test_long_string_is_cut_with_a_visible_marker() -> None:
    result = convert("x" * 10_000_000)
    assert result.startswith("x" * DEFAULT_LIMITS.max_string)
    assert result.endswith(f"{TRUNCATION_MARK} {10_000_000 - DEFAULT_LIMITS.max_string:,} chars]")
    assert len(result) < DEFAULT_LIMITS.max_string + 100


def test_lone_surrogates_are_replaced_and_pairs_rejoined() -> None:
    assert convert("a\ud800b\udfffc") == "a\ufffdb\ufffdc"
    assert convert("\ud83d\ude00") == "😀"  # a pair split in two code units, as from json.loads


def test_ints_beyond_int64_become_strings() -> None:
    assert convert(2**63) == str(2**63)
    assert convert(-(2**63) - 1) == str(-(2**63) - 1)
    assert convert(10**5000) == "<int of 16,610 bits>"  # str() refuses: int_max_str_digits


@pytest.mark.parametrize(
    ("value", "expected"),
    [(math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity"), (-0.0, -0.0)],
)
def test_non_finite_floats_become_strings(value: float, expected: object) -> None:
    assert convert(value) == expected


# -- mappings and keys --------------------------------------------------------------------


class Labelled:
    def __init__(self, label: str) -> None:
        self.label = label

    def __str__(self) -> str:
        return self.label


def test_non_str_keys_are_stringified() -> None:
    result = convert({None: 1, True: 2, 3: 3, (1, 2): 4, Labelled("obj"): 5, 2.5: 6})
    assert result == {"None": 1, "True": 2, "3": 3, "(1, 2)": 4, "obj": 5, "2.5": 6}


def test_colliding_keys_keep_every_value() -> None:
    result = convert({"1 (2)": "taken", 1: "int", "1": "str", Labelled("1"): "obj"})
    assert result == {"1 (2)": "taken", "1": "int", "1 (3)": "str", "1 (4)": "obj"}


def test_many_equal_keys_all_survive() -> None:
    result = convert({Labelled("same"): n for n in range(500)})
    assert sorted(result.values()) == list(range(500))


def test_secret_keys_are_masked_whatever_the_value() -> None:
    source = {"api_key": "sk-1", "Password": 123, "nested": {"client_secret": {"a": [1]}}}
    assert convert(source) == {"api_key": MASK, "Password": MASK, "nested": {"client_secret": MASK}}


def test_bearer_values_are_masked_anywhere() -> None:
    source = {"note": "bearer abc", "headers": [["Authorisation-ish", "  Bearer xyz"]]}
    assert convert(source) == {"note": MASK, "headers": [["Authorisation-ish", MASK]]}
    assert convert("Bearer of bad news") == MASK
    assert convert("Bearers are fine") == "Bearers are fine"


def test_masking_can_be_turned_off() -> None:
    source = {"api_key": "sk-1", "auth": "Bearer xyz"}
    assert convert(source, mask_secrets=False) == source


SECRET_KEYS = [
    *("api_key", "apikey", "api-key", "x-api-key", "ApiKey", "apiKey", "OPENAI_API_KEY"),
    *("password", "passwd", "pwd", "db_password", "password2", "secret", "client_secret"),
    *("secret_key", "token", "access_token", "refresh_token", "id_token", "auth_token"),
    *("session_token", "accessToken", "x-auth-token", "Authorization", "Proxy-Authorization"),
    *("auth", "cookie", "set-cookie", "Set-Cookie", "credential", "credentials"),
    *("private_key", "privateKey", "access_key", "aws_secret_access_key", "user.password"),
]
HARMLESS_KEYS = [
    *("max_tokens", "prompt_tokens", "completion_tokens", "total_tokens", "tokens"),
    *("input_tokens", "output_tokens", "token_count", "num_tokens", "max_completion_tokens"),
    *("maxTokens", "tokenizer", "token_type", "author", "authority", "auth_method"),
    *("secret_santa", "eos_token", "pad_token", "next_page_token", "key", "cache_key"),
    *("session_id", "model", "temperature", "", "_", "TOKENIZERS_PARALLELISM", "keyboard"),
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_key_names(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", HARMLESS_KEYS)
def test_harmless_key_names(key: str) -> None:
    assert not is_secret_key(key)


def test_is_secret_key_tolerates_non_strings_and_huge_keys() -> None:
    assert not is_secret_key(None)  # type: ignore[arg-type]
    assert is_secret_key("x" * 1_000_000 + "_password")


# -- sequences, sets, iterators -----------------------------------------------------------


def test_sequences_become_lists() -> None:
    assert convert((1, "a")) == [1, "a"]
    assert convert(collections.deque([1, 2])) == [1, 2]
    assert convert(range(3)) == [0, 1, 2]
    assert convert({"a": 1}.values()) == [1]
    Point = collections.namedtuple("Point", "x y")
    assert convert(Point(1, 2)) == [1, 2]


def test_sets_are_sorted_when_possible() -> None:
    assert convert({1000, 10, 3, -1}) == [-1, 3, 10, 1000]  # hash order is 1000, 10, 3, -1
    assert convert(frozenset(map(str, range(50)))) == sorted(map(str, range(50)))
    assert sorted(convert({1, "a"}), key=str) == [1, "a"]  # unorderable: iteration order


def test_iterators_and_generators_are_never_consumed(tmp_path: pathlib.Path) -> None:
    iterator = iter([1, 2, 3])
    assert isinstance(convert(iterator), str)
    assert list(iterator) == [1, 2, 3]

    def numbers() -> Generator[int, None, None]:
        yield 1

    generator = numbers()
    assert "generator" in convert(generator)
    assert inspect.getgeneratorstate(generator) == inspect.GEN_CREATED

    path = tmp_path / "data.txt"
    path.write_text("line1\nline2\n")
    with path.open() as handle:
        assert isinstance(convert(handle), str)
        assert handle.read() == "line1\nline2\n"


def test_coroutines_and_async_generators_become_reprs() -> None:
    async def work() -> int:
        return 1

    async def stream() -> Any:
        yield 1

    coroutine, agen = work(), stream()
    assert "coroutine" in convert(coroutine)
    assert "async_generator" in convert(agen)
    assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED
    coroutine.close()


def test_bytes_like_become_short_previews() -> None:
    assert convert(b"abc") == "<bytes len=3: b'abc'>"
    assert convert(bytearray(b"\x00\xff")) == "<bytearray len=2: b'\\x00\\xff'>"
    preview = convert(memoryview(b"z" * 1000))
    assert preview.startswith("<memoryview len=1000: b'zzz") and preview.endswith("'...>")
    assert len(preview) < 120


# -- structured objects -------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    NESTED = ("a", 1)


class Inner(BaseModel):
    when: datetime.date


class Outer(BaseModel):
    name: str
    inner: Inner
    tags: list[str] = []
    api_key: str = "sk-secret"


def test_pydantic_models_are_dumped_then_converted() -> None:
    model = Outer(name="n", inner=Inner(when=datetime.date(2024, 5, 1)), tags=["t"])
    assert convert(model) == {
        "name": "n",
        "inner": {"when": "2024-05-01"},
        "tags": ["t"],
        "api_key": MASK,
    }


class Exploding(BaseModel):
    value: int = 4

    @field_serializer("value")
    def explode(self, value: int) -> int:
        raise ValueError("serializer broke")


def test_a_failing_model_dump_falls_back_to_its_fields() -> None:
    assert convert(Exploding()) == {"value": 4}


class V1Style:
    __fields__ = {"a": None}

    def dict(self) -> dict[str, Any]:
        return {"a": 1, "when": datetime.time(12, 30)}


class ToDict:
    def to_dict(self) -> dict[str, Any]:
        return {"kind": "to_dict", "set": {2, 1}}


class JsonHook:
    def __json__(self) -> list[Any]:
        return ["hook", uuid.UUID(int=1)]


def test_dict_like_methods_are_used() -> None:
    assert convert(V1Style()) == {"a": 1, "when": "12:30:00"}
    assert convert(ToDict()) == {"kind": "to_dict", "set": [1, 2]}
    assert convert(JsonHook()) == ["hook", "00000000-0000-0000-0000-000000000001"]


@dataclasses.dataclass
class Credentials:
    user: str
    password: str
    extra: list[Any] = dataclasses.field(default_factory=list)


def test_dataclasses_become_dicts_of_their_fields() -> None:
    assert convert(Credentials("me", "hunter2", [Color.RED])) == {
        "user": "me",
        "password": MASK,
        "extra": ["red"],
    }


def test_attrs_style_classes_become_dicts() -> None:
    class AttrsLike:
        __attrs_attrs__ = (types.SimpleNamespace(name="x"), types.SimpleNamespace(name="y"))

        def __init__(self) -> None:
            self.x, self.y = 1, [2]

    assert convert(AttrsLike()) == {"x": 1, "y": [2]}


def test_plain_instances_become_reprs_not_their_dict() -> None:
    class Holder:
        def __init__(self) -> None:
            self.internal = "do not leak"

    result = convert(Holder())
    assert "Holder object" in result and "do not leak" not in result


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Color.RED, "red"),
        (Color.NESTED, ["a", 1]),
        (
            datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
            "2024-01-02T03:04:05+00:00",
        ),
        (datetime.date(2024, 1, 2), "2024-01-02"),
        (datetime.time(3, 4), "03:04:00"),
        (datetime.timedelta(minutes=1, milliseconds=500), 60.5),
        (uuid.UUID(int=255), "00000000-0000-0000-0000-0000000000ff"),
        (decimal.Decimal("1.10"), "1.10"),
        (decimal.Decimal("NaN"), "NaN"),
        (pathlib.PurePosixPath("/tmp/x"), "/tmp/x"),
        (complex(1, 2), "(1+2j)"),
        (collections.UserString("us"), "us"),
        (collections.OrderedDict, "collections.OrderedDict"),
        (int, "int"),
        (len, "len"),
        (ValueError("bad input"), "ValueError: bad input"),
        (KeyError("k"), "KeyError: 'k'"),
        (RuntimeError(), "RuntimeError"),
    ],
)
def test_value_types(value: object, expected: object) -> None:
    assert convert(value) == expected


def test_functions_and_methods_become_qualified_names() -> None:
    assert convert(valid_json) == f"{__name__}.valid_json"
    assert convert(Labelled("x").__str__) == f"{__name__}.Labelled.__str__"
    assert convert(types) == "types"


class FakeArray:
    dtype = "float64"

    def __init__(self, data: Any, shape: tuple[int, ...]) -> None:
        self.data, self.shape = data, shape

    def tolist(self) -> Any:
        if math.prod(self.shape) > 100:
            raise AssertionError("a big array must not be copied")
        return self.data


class FakeScalar:
    dtype = "int64"
    shape = ()

    def item(self) -> int:
        return 7


class FakeFrame:
    shape = (1_000_000, 3)

    def to_dict(self) -> dict[str, Any]:
        raise AssertionError("a big frame must not be copied")


def test_numpy_like_objects_without_numpy() -> None:
    assert convert(FakeArray([[1.0, math.nan]], (1, 2))) == [[1.0, "NaN"]]
    assert convert(FakeArray(None, (1000, 1000)), Limits(max_items=100)) == (
        "<FakeArray shape=(1000, 1000) dtype=float64>"
    )
    assert convert(FakeScalar()) == 7
    assert convert(FakeFrame()) == "<FakeFrame shape=(1000000, 3)>"


# -- cycles and sharing -------------------------------------------------------------------


def test_cycles_become_markers() -> None:
    items: list[Any] = [1]
    items.append(items)
    assert convert(items) == [1, "<circular reference>"]
    mapping: dict[str, Any] = {}
    mapping["self"] = {"up": mapping}
    assert convert(mapping) == {"self": {"up": "<circular reference>"}}
    creds = Credentials("me", "pw")
    creds.extra.append(creds)
    assert convert(creds)["extra"] == ["<circular reference>"]


def test_a_model_that_contains_itself() -> None:
    class Node(BaseModel):
        children: list[Any] = []

    node = Node()
    node.children.append(node)
    assert "<circular reference>" in json.dumps(convert(node))


def test_shared_references_are_serialized_each_time() -> None:
    shared = {"a": [1, 2]}
    assert convert([shared, shared, (shared,)]) == [shared, shared, [shared]]


# -- limits -------------------------------------------------------------------------------


def test_depth_limit() -> None:
    deep: list[Any] = []
    cursor = deep
    for _ in range(10_000):
        cursor.append([])
        cursor = cursor[0]
    result = convert(deep)
    assert nesting(result) == DEFAULT_LIMITS.max_depth
    assert "<max depth>" in json.dumps(result)
    assert nesting(convert(deep, Limits(max_depth=3))) == 3

    # A huge max_depth is capped where pydantic_core can still encode the result, even when
    # the recursion limit would allow going deeper.
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(5000)
    try:
        assert nesting(convert(deep, Limits(max_depth=1_000_000))) == 200
    finally:
        sys.setrecursionlimit(previous)


def stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1  # type: ignore[assignment]
    return depth


def test_recursion_error_never_escapes() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(stack_depth() + 100)  # less stack than the 200 levels allowed
    try:
        result = to_jsonable(deep, Limits(max_depth=1_000_000))
    finally:
        sys.setrecursionlimit(previous)
    assert "<max depth>" in json.dumps(valid_json(result))


def test_item_limits_add_markers() -> None:
    limits = Limits(max_items=5)
    assert convert(list(range(10)), limits) == [0, 1, 2, 3, 4, f"{TRUNCATION_MARK} 5 items]"]
    assert convert({str(n): n for n in range(8)}, limits) == {
        **{str(n): n for n in range(5)},
        "…": f"{TRUNCATION_MARK} 3 keys]",
    }
    assert convert(set(range(7)), limits)[-1] == f"{TRUNCATION_MARK} 2 items]"
    assert convert({"…": 1, "b": 2}, Limits(max_items=1)) == {
        "…": 1,
        "… (2)": "…[truncated 1 keys]",
    }


def test_a_million_ints_are_bounded() -> None:
    result = convert(list(range(1_000_000)))
    assert len(result) == DEFAULT_LIMITS.max_items + 1
    assert result[-1] == f"{TRUNCATION_MARK} 990,000 items]"


def test_endless_sequences_are_bounded() -> None:
    assert convert(range(10**12), Limits(max_items=2)) == [
        0,
        1,
        f"{TRUNCATION_MARK} 999,999,999,998 items]",
    ]


def test_total_budget_bounds_the_whole_value() -> None:
    result = convert(["y" * 100_000] * 30)
    assert len(json.dumps(result)) <= DEFAULT_LIMITS.max_total + 1000
    assert TRUNCATION_MARK in result[-2] and TRUNCATION_MARK in result[-1]

    many = convert(["w" * 1000] * 5000)  # once the budget is spent the list stops
    assert len(json.dumps(many)) <= DEFAULT_LIMITS.max_total + 1000
    assert many[-1] == f"{TRUNCATION_MARK} {5000 - len(many) + 1:,} items]"

    small = Limits(max_total=1000)
    nested = convert({f"k{n}": {"text": "z" * 300, "more": [n] * 50} for n in range(100)}, small)
    assert len(json.dumps(nested)) < 2000
    assert TRUNCATION_MARK in json.dumps(nested, ensure_ascii=False)


# -- hostile objects ----------------------------------------------------------------------


class BadRepr:
    def __repr__(self) -> str:
        raise ValueError("no repr")


class BadStr:
    def __str__(self) -> str:
        raise ValueError("no str")

    __repr__ = __str__


class BadEqHash:
    def __eq__(self, other: object) -> bool:
        raise ValueError("no eq")

    def __lt__(self, other: object) -> bool:
        raise ValueError("no lt")

    __hash__ = object.__hash__  # so sets can hold it; sorting them still hits __lt__


class BadLenSequence(Sequence[int]):
    def __getitem__(self, index: Any) -> Any:
        if index >= 3:
            raise IndexError(index)
        return index

    def __len__(self) -> int:
        raise RuntimeError("no len")


class BadIterList(list[int]):
    def __iter__(self) -> Iterator[int]:
        raise TypeError("no iter")


class RuntimeErrorIterList(list[int]):
    def __iter__(self) -> Iterator[int]:
        raise RuntimeError("looks like a concurrent mutation")


class BadGetattr:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")

    def tolist(self) -> list[int]:
        return [1]


class BadClass:
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        raise RuntimeError("no class")


class ReprSelf:
    def __repr__(self) -> str:
        return repr(self)


class ReprNotStr:
    def __repr__(self) -> Any:
        return 42


class ReprSurrogate:
    def __repr__(self) -> str:
        return "bad \udc80 repr"


class ToDictRaises:
    def to_dict(self) -> Any:
        raise ValueError("broken to_dict")


class ToDictSelf:
    def to_dict(self) -> Any:
        return self


class BadItemsDict(dict[str, int]):
    def items(self) -> Any:
        raise KeyError("no items")


class BadIsoformat(datetime.date):
    def isoformat(self) -> str:
        raise ValueError("no isoformat")


class EvilStr(str):
    def __str__(self) -> str:
        raise ValueError("no str")

    def __len__(self) -> int:
        raise ValueError("no len")


class EvilInt(int):
    def __int__(self) -> int:
        raise ValueError("no int")

    def __index__(self) -> int:
        raise ValueError("no index")


class EvilFloat(float):
    def __float__(self) -> float:
        raise ValueError("no float")


class ExceptionWithBadStr(Exception):
    def __str__(self) -> str:
        raise ValueError("no str")


@dataclasses.dataclass
class BadField:
    ok: int = 1
    broken: int = 2

    def __getattribute__(self, name: str) -> Any:
        if name == "broken":
            raise RuntimeError("property raised")
        return object.__getattribute__(self, name)


EVIL: list[tuple[str, Any, Any]] = [
    ("repr raises", BadRepr(), "<BadRepr object (repr failed: ValueError)>"),
    ("str raises as key", {BadStr(): 1}, {"<BadStr object (str failed: ValueError)>": 1}),
    ("eq/lt raise in a set", {BadEqHash(), BadEqHash()}, None),
    ("len raises", BadLenSequence(), [0, 1, 2]),
    ("iter raises", BadIterList([1, 2]), "[1, 2]"),
    ("iter raises RuntimeError", RuntimeErrorIterList([1, 2]), [1, 2]),  # retried on a copy
    ("getattr raises", BadGetattr(), None),
    ("__class__ raises", BadClass(), None),
    ("repr recurses", ReprSelf(), "<ReprSelf object (repr failed: RecursionError)>"),
    ("repr not str", ReprNotStr(), "<ReprNotStr object (repr failed: TypeError)>"),
    ("repr with surrogate", ReprSurrogate(), "bad \ufffd repr"),
    ("to_dict raises", ToDictRaises(), None),
    ("to_dict returns self", ToDictSelf(), "<circular reference>"),
    ("items raises", BadItemsDict(a=1), "{'a': 1}"),
    ("isoformat raises", BadIsoformat(2024, 1, 1), "BadIsoformat(2024, 1, 1)"),
    ("str subclass", EvilStr("text"), "text"),
    ("int subclass", EvilInt(5), 5),
    ("float subclass", EvilFloat(0.5), 0.5),
    ("exception str raises", ExceptionWithBadStr(), None),
    ("field raises", BadField(), {"ok": 1, "broken": "<RuntimeError reading broken>"}),
    ("mock", mock.MagicMock(), None),
    ("released memoryview", None, None),  # built in the test: it must be released first
]


@pytest.mark.parametrize(("label", "obj", "expected"), EVIL, ids=[row[0] for row in EVIL])
def test_evil_objects_still_serialize(label: str, obj: Any, expected: Any) -> None:
    if label == "released memoryview":
        obj = memoryview(b"abc")
        obj.release()
    result = convert({"value": obj})["value"]
    if expected is not None:
        assert result == expected
    else:
        assert result is not None


def test_mapping_mutated_during_iteration_is_retried_once() -> None:
    class Mutating(Mapping[str, int]):
        def __init__(self, failures: int) -> None:
            self.data = {"a": 1, "b": 2}
            self.failures = failures

        def __getitem__(self, key: str) -> int:
            return self.data[key]

        def __len__(self) -> int:
            return len(self.data)

        def __iter__(self) -> Iterator[str]:
            if self.failures:
                self.failures -= 1
                for key in self.data:  # a real "dictionary changed size during iteration"
                    self.data[f"added{len(self.data)}"] = 0
                    yield key
            yield from list(self.data)

    assert convert(Mutating(failures=1)) == {"a": 1, "b": 2, "added2": 0}
    assert convert(Mutating(failures=2)) == "<Mutating changed size during iteration>"


def test_dict_subclass_retry_uses_a_copy() -> None:
    class Flaky(dict[str, int]):
        def items(self) -> Any:
            raise RuntimeError("dictionary changed size during iteration")

    assert convert(Flaky(a=1)) == {"a": 1}


def test_dict_mutated_by_another_thread() -> None:
    shared: dict[int, int] = {n: n for n in range(500)}
    stop = threading.Event()

    def churn() -> None:
        n = 0
        while not stop.is_set():
            shared[1000 + n % 50] = n
            shared.pop(1000 + (n + 25) % 50, None)
            n += 1

    worker = threading.Thread(target=churn, daemon=True)
    worker.start()
    try:
        for _ in range(50):
            assert len(convert({"shared": shared})["shared"]) >= 500
    finally:
        stop.set()
        worker.join()


# -- safe_repr / safe_str -----------------------------------------------------------------


def test_safe_repr_and_safe_str() -> None:
    assert safe_repr(BadRepr()) == "<BadRepr object (repr failed: ValueError)>"
    assert safe_str(BadStr()) == "<BadStr object (str failed: ValueError)>"
    assert safe_repr("x" * 5000, limit=10) == "'xxxxxxxxx" + f"{TRUNCATION_MARK} 4,992 chars]"
    assert safe_str("x" * 20, limit=5) == f"xxxxx{TRUNCATION_MARK} 15 chars]"
    assert safe_str(ReprSurrogate()) == "bad \ufffd repr"


# -- random structures --------------------------------------------------------------------


def random_leaf(rng: random.Random) -> Any:
    choices: list[Any] = [
        rng.randint(-(2**70), 2**70),
        rng.choice([math.nan, math.inf, -math.inf, rng.random(), -0.0]),
        "".join(
            chr(
                rng.choice(
                    [rng.randint(0, 0x7F), rng.randint(0xD800, 0xDFFF), rng.randint(0x80, 0x10FFFF)]
                )
            )
            for _ in range(rng.randint(0, 12))
        ),
        rng.randbytes(rng.randint(0, 100)),
        None,
        rng.random() < 0.5,
        Color.RED,
        datetime.datetime(2024, 1, 1) + datetime.timedelta(seconds=rng.randint(0, 10**8)),
        decimal.Decimal(rng.randint(0, 1000)) / 7,
        rng.choice([BadRepr(), BadStr(), BadEqHash(), ReprSelf(), EvilStr("s"), mock.MagicMock()]),
        iter(range(3)),
        rng.choice(["Bearer abc", "bearer", "api_key"]),
    ]
    return rng.choice(choices)


def random_value(rng: random.Random, depth: int, pool: list[Any]) -> Any:
    if depth > 5 or rng.random() < 0.3:
        return random_leaf(rng)
    kind = rng.choice(["list", "tuple", "dict", "set", "dataclass", "shared"])
    size = rng.randint(0, 6)
    if kind == "shared" and pool:
        return rng.choice(pool)  # revisits an enclosing or sibling container: cycles and sharing
    if kind == "set":
        return {
            rng.choice([rng.randint(0, 9), str(rng.randint(0, 9)), BadEqHash()])
            for _ in range(size)
        }
    if kind == "dataclass":
        return Credentials(random_leaf(rng), random_leaf(rng), [random_value(rng, depth + 1, pool)])
    if kind == "dict":
        keys = [
            rng.choice([random_leaf(rng), rng.choice(SECRET_KEYS + HARMLESS_KEYS)])
            for _ in range(size)
        ]
        value: Any = {}
        pool.append(value)
        for key in keys:
            try:
                value[key] = random_value(rng, depth + 1, pool)
            except TypeError:  # unhashable leaf, e.g. a MagicMock is fine but sets are not
                pass
        return value
    items: list[Any] = []
    pool.append(items)
    items.extend(random_value(rng, depth + 1, pool) for _ in range(size))
    return tuple(items) if kind == "tuple" else items


TINY = Limits(max_depth=3, max_string=5, max_items=2, max_total=60)


@pytest.mark.parametrize("first_seed", range(0, 300, 50))
def test_random_structures_always_give_valid_json(first_seed: int) -> None:
    for seed in range(first_seed, first_seed + 50):
        value = random_value(random.Random(seed), 0, [])
        try:
            convert(value)
            convert(value, mask_secrets=False)
            assert len(json.dumps(convert(value, TINY))) < 1000
        except Exception as exc:
            pytest.fail(f"seed {seed}: {exc!r}")


def test_each_call_gets_a_fresh_budget() -> None:
    limits = Limits(max_total=100)
    first, second = convert(["a" * 80, "b" * 80], limits), convert(["a" * 80], limits)
    assert TRUNCATION_MARK in json.dumps(first, ensure_ascii=False)
    assert second == ["a" * 80]


def test_output_never_aliases_the_input() -> None:
    source = {"a": [1, {"b": 2}]}
    result = convert(source)
    assert result == source and result is not source and result["a"] is not source["a"]


def test_stdin_like_streams_are_not_read() -> None:
    stream = io.StringIO("keep me")
    assert isinstance(convert(stream), str)
    assert stream.read() == "keep me"
