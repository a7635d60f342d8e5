"""The encoder's bodies are valid by construction (issue 16, goal 2).

The flusher no longer validates the bodies it builds itself (pydantic cost 1.6 us an event);
these tests prove the construction instead: many kinds of recorded events (odd arguments,
unserializable objects, errors, generators, huge and nested values, secrets, model events with
usage, enrichments, late updates) go through the real flusher, and every body that reaches the
exporter is checked against the strict models and the API text's rules. The serializer's fast
path is compared with the general walker it stands in for, on many values.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import random
import re
import uuid
from typing import Any

import pydantic_core
import pytest

import honeytrace
from honeytrace._deliver import models
from honeytrace._deliver.encode import Encoder, _format_id
from honeytrace._deliver.plain import MAYBE_BEARER, own_dict
from honeytrace._deliver.serialize import DEFAULT_LIMITS, Limits, _Walker, flat_dict
from honeytrace._record.span import format_id
from honeytrace._runtime import get_config
from honeytrace.testing import Capture

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
# A session named by a key of the user's gets a UUIDv5 of it (sessions.normalize_session_id).
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
EVENT = models.body_validator(models.Event)
SESSION = models.body_validator(models.SessionStart)
UPDATE = models.body_validator(models.EventUpdate)
JSON_TYPES = (str, int, float, bool, type(None))


def exact_json(value: Any) -> None:
    if type(value) is dict:
        for key, item in value.items():
            assert type(key) is str
            exact_json(item)
    elif type(value) is list:
        for item in value:
            exact_json(item)
    else:
        assert type(value) in JSON_TYPES, type(value)
        if type(value) is float:
            assert math.isfinite(value)
        if type(value) is int:
            assert -(2**63) <= value < 2**63


def on_the_wire(body: dict[str, Any], validator: Any) -> None:
    """What the strict server checks: the model, JSON without NaN, UTF-8, UUIDv4 ids."""
    validator.validate_python(body)
    exact_json(body)
    text = json.dumps(body, allow_nan=False)
    assert json.loads(text) == body
    pydantic_core.to_json(body).decode("utf-8")
    for key in ("event_id", "parent_id", "session_id"):
        if key in body:
            assert UUID.fullmatch(body[key]), body[key]
    if "event_id" in body and "session_id" not in body:
        assert UUID4.fullmatch(body["event_id"])  # ours: v4
    for child in body.get("children_ids") or ():
        assert UUID4.fullmatch(child)
    if "event_type" in body:
        assert body["event_type"] in ("model", "tool", "chain", "session")


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no")


class Slots:
    __slots__ = ("a",)


def record_everything() -> int:
    """Many kinds of events, recorded for real; how many events (sessions included)."""

    @honeytrace.trace_tool
    def plain(a: int, b: str = "default") -> int:
        return a

    @honeytrace.trace_tool
    def varargs(*args: Any, **kwargs: Any) -> Any:
        return list(args)

    @honeytrace.trace_chain
    def odd(value: Any) -> Any:
        return value

    @honeytrace.trace_tool
    def fails(x: int) -> None:
        raise ValueError(f"bad {x} sk-abcdefghijklmnopqrstuvwx")

    @honeytrace.trace_tool
    def numbers() -> Any:
        yield 1
        yield "two"
        yield {"three": (3, 3.0)}

    @honeytrace.trace_model(model="gpt-4o", provider="openai")
    def chat(question: str) -> str:
        honeytrace.enrich_span(metrics={"prompt_tokens": 12, "completion_tokens": 30})
        return "answer"

    @honeytrace.trace_tool
    def login(user: str, api_key: str, password: str) -> dict[str, str]:
        return {"token": "t", "header": "Bearer abc.def", "note": "\x0cbearer xyz"}

    class Service:
        @honeytrace.trace_tool
        def method(self, n: int) -> int:
            return n

    cycle: list[Any] = []
    cycle.append(cycle)
    nested: Any = "bottom"
    for _ in range(300):
        nested = {"down": [nested]}
    odd_values: list[Any] = [
        None,
        True,
        -(2**70),
        2**63,
        float("nan"),
        float("-inf"),
        -0.0,
        "x" * 300_000,
        "caf\u00e9 \u2603",
        "lone \ud800 surrogate",
        b"\x00\xff bytes",
        bytearray(b"abc"),
        {1: "int key", (1, 2): "tuple key", None: "none key"},
        {"k" * 100: "long key", "sk-" + "a" * 30: "secret-shaped key"},
        {"a", "b"},
        frozenset({3, 1}),
        (1, (2, (3, (4, (5,))))),
        [[[[["deep"]]]]],
        cycle,
        nested,
        object(),
        Unprintable(),
        Slots(),
        lambda: None,
        datetime.datetime(2024, 1, 2, 3, 4, 5),
        decimal.Decimal("1.10"),
        uuid.UUID(int=5),
        ValueError("an error as a value"),
        range(10),
        iter([1, 2]),
        {"authorization": "Bearer x", "nested": {"client_secret": "s"}},
        ["postgres://user:hunter2@db/x", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"],
        list(range(20_000)),
        {str(i): i for i in range(300)},
        "\x1cbearer hidden",
    ]
    count = 0
    with honeytrace.session("everything", session_id="my-own-key"):
        count += 1
        plain(1)
        plain(2, b="kw")
        varargs(1, "two", x=3, y=[4])
        for value in odd_values:
            odd(value)
        count += 3 + len(odd_values)
        with pytest.raises(ValueError):
            fails(7)
        assert list(numbers()) == [1, "two", {"three": (3, 3.0)}]
        chat("why?")
        login("ann", "sk-secretsecretsecret1234", "hunter2")
        Service().method(4)
        count += 5
        with honeytrace.span("block", inputs={"q": "x", "auth": "y"}) as block:
            block.enrich(
                metadata={"m": float("inf")},
                config={"model": "gpt-4o"},
                feedback={"ok": True},
                user_properties={"u": object()},
                outputs={"out": [1, 2]},
            )
            with honeytrace.span("inner", event_type="tool"):
                pass
        count += 2
        block.enrich(metadata={"late": "after the end"})  # a late update
    try:
        with honeytrace.session("failed session"):
            count += 1
            plain(3)
            count += 1
            raise KeyError("boom")
    except KeyError:
        pass
    return count


def test_every_body_the_flusher_builds_passes_the_strict_models(
    honeytrace_capture: Capture,
) -> None:
    expected = record_everything()
    events, sessions = honeytrace_capture.events, honeytrace_capture._exporter.sessions
    updates = honeytrace_capture.updates
    assert honeytrace.stats().dropped == {}
    assert len(events) + len(sessions) == expected
    for body in events:
        on_the_wire(body, EVENT)
    for body in sessions:
        on_the_wire(body, SESSION)
    for _, body in updates:
        on_the_wire(body, UPDATE)
    assert any(event.get("error") for event in events)
    assert honeytrace_capture.event("numbers")["outputs"] == {
        "result": [1, "two", {"three": [3, 3.0]}]
    }
    assert honeytrace_capture.event("login")["inputs"]["api_key"] == "***"
    assert "cost" in honeytrace_capture.event("chat")["metadata"]


def test_the_trusted_bodies_equal_the_validated_ones(honeytrace_capture: Capture) -> None:
    """The same events, encoded with and without the validation: the same bodies (the
    validated path checks every one; any it would refuse raises)."""
    from honeytrace._record import buffer

    honeytrace.configure(exporter="none", flush_interval=3600, batch_size=100_000)
    record_everything()
    spans = list(buffer.QUEUE)
    assert spans
    trusted, checked = Encoder(get_config()), Encoder(get_config(), validate=True)
    checked._offset_ns = trusted._offset_ns
    sessions = 0
    for span in spans:
        if type(span) is honeytrace.Session:
            # An ended session as its own event (POST /v1/events/batch), checked the same way.
            if span.end:
                sessions += 1
                assert trusted.session_event(span, None) == checked.session_event(span, None)
            continue
        assert trusted.event(span, None) == checked.event(span, None)
    assert sessions
    honeytrace.flush(10)


def test_the_fast_id_format_is_the_record_layers() -> None:
    rng = random.Random(16)
    values = [0, 2**128 - 1, *(rng.getrandbits(128) for _ in range(2000))]
    for value in values:
        text = _format_id(value)
        assert text == format_id(value)
        assert UUID4.fullmatch(text)


def test_maybe_bearer_lists_every_character_a_bearer_match_can_start_with() -> None:
    spaces = {chr(point) for point in range(0x110000) if chr(point).isspace()}
    assert spaces | {"b", "B"} == MAYBE_BEARER


# -- the fast path against the walker --------------------------------------------------------

_STRINGS = [
    "",
    "a",
    "some text",
    "x" * 70,
    "caf\u00e9",
    "lone \udc80",
    "Bearer abc",
    "  bearer abc",
    "\u2003Bearer abc",
    "sk-" + "a" * 30,
    "see postgres://u:pw@host/db",
    "password=hunter2 host=x",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
    "AKIAABCDEFGHIJKLMNOP",
    "x" * 600 + "sk-" + "a" * 30,
]
_KEYS = ["a", "text", "api_key", "password", "max_tokens", "Authorization", "k" * 70, "caf\u00e9"]
_KEYS += ["Bearer x", "sk-" + "b" * 30, "lone \ud800"]


def _random_value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 5 or roll < 0.45:
        return rng.choice(
            [
                *_STRINGS,
                None,
                True,
                False,
                0,
                -1,
                2**63 - 1,
                2**63,
                -(2**63) - 1,
                1.5,
                float("nan"),
                float("inf"),
                object(),
                b"raw",
                decimal.Decimal("2"),
            ]
        )
    size = rng.choice([0, 1, 2, 3, 5, 300])
    if size == 300:  # long containers hold scalars only: the sweep stays small
        depth = 6
    if roll < 0.7:
        return {
            rng.choice([*_KEYS, 1, None]) if rng.random() < 0.2 else f"k{i}": _random_value(
                rng, depth + 1
            )
            for i in range(size)
        }
    items = [_random_value(rng, depth + 1) for _ in range(size)]
    return tuple(items) if roll < 0.8 else items


@pytest.mark.parametrize("mask", [True, False])
@pytest.mark.parametrize(
    "limits", [DEFAULT_LIMITS, Limits(max_total=600), Limits(max_string=64), Limits(max_depth=4)]
)
def test_the_fast_path_gives_the_walkers_result(mask: bool, limits: Limits) -> None:
    rng = random.Random(f"{mask}{limits}")
    taken = 0
    for _ in range(1500):
        value = _random_value(rng, 0)
        if type(value) is not dict:
            value = {"result": value}
        walked = _Walker(limits, mask).walk(value, 0)
        fast = flat_dict(value, limits, mask)
        if fast is not None:
            taken += 1
            assert fast == walked
            assert json.dumps(fast, allow_nan=False)
        own = dict(value)
        before = dict(own)
        if own_dict(own, limits, mask):
            assert own == walked
        else:
            assert own == before  # left as it was, for the walker
    assert taken > 300  # the comparison covers the fast path, not only its refusals


def test_the_fast_path_never_changes_the_callers_containers() -> None:
    inner = [1, ("a", "b")]
    value = {"list": inner, "nested": {"api_key": "k"}}
    result = flat_dict(value, DEFAULT_LIMITS, True)
    assert result == {"list": [1, ["a", "b"]], "nested": {"api_key": "***"}}
    assert value == {"list": [1, ("a", "b")], "nested": {"api_key": "k"}}
    assert inner == [1, ("a", "b")]


def test_a_value_the_encoder_did_not_make_is_still_validated() -> None:
    """An event name that is not a str (a span named by a number, say) is not trusted: the
    body goes through the strict models, which refuse it, rather than out."""
    from honeytrace._deliver.exporters import InvalidEvent
    from honeytrace._record.signature import Spec
    from honeytrace._record.span import Event, Session

    session = Session(Spec("root", "session"))
    event = Event(Spec(123, "tool"), session)  # type: ignore[arg-type]
    event.end = event.start + 1
    encoder = Encoder(get_config())
    with pytest.raises(InvalidEvent, match="event_name"):
        encoder.event(event, None)
    good = Event(Spec("fine", "tool"), session)
    good.end = good.start + 1
    on_the_wire(encoder.event(good, None), EVENT)


# -- the JSON written as text (template.py) against the dicts ---------------------------------


def record_plain_kinds() -> None:
    """Events of plain values that template.py writes as text (and some it refuses)."""

    @honeytrace.trace_tool
    def step(i: Any, text: Any, flag: Any = None, ratio: float = 0.5) -> Any:
        return i

    @honeytrace.trace_chain
    def echo(value: Any) -> Any:
        return value

    @honeytrace.trace_tool
    def items(*values: Any) -> Any:
        yield from values

    @honeytrace.trace_tool(capture_inputs=False)
    def private(secret: str) -> str:
        return secret

    @honeytrace.trace_tool(capture_outputs=False)
    def quiet(x: int) -> int:
        return x

    @honeytrace.trace_tool
    def login(user: str, password: str, api_key: str = "default-key") -> bool:
        return True

    @honeytrace.trace_tool
    def weird_names(**kwargs: Any) -> None:
        return None

    class Service:
        @honeytrace.trace_tool
        def run(self, n: int, mode: str = "fast") -> int:
            return n

        @honeytrace.trace_tool
        def keyed(self, token: str, extra: Any = ["mutable"]) -> str:
            return token

    @honeytrace.trace_tool
    def nothing() -> None:
        return None

    @honeytrace.trace_tool(capture_inputs=False)
    def hidden(*args: Any, **kwargs: Any) -> Any:
        return args

    @honeytrace.trace_tool
    def many(*args: Any) -> int:
        return len(args)

    values: list[Any] = [*_STRINGS, 'quote " back \\ slash \x00\x1f \u2028 end']
    values += ["\u00e9\u2603\U0001f600"]
    values += [0, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**30, True, False, None]
    values += [0.0, -0.0, 1.5, 1e300, 5e-324, 1e16, float("nan"), float("inf")]
    values += [[1, "a"], (1, 2), {"k": "v"}, {"api_key": "k"}, [[1]], object(), b"bytes"]
    values += ["x" * 300_000]
    with honeytrace.session("plain kinds"):
        for value in values:
            step(value, value)
            step(1, value, value, value)
            echo(value)
            list(items(value, "two", value))
        step(1, "two", flag=True)  # a keyword argument: bind's other shape
        private("hunter2")
        quiet(3)
        login("ann", "hunter2")
        login("ann", "hunter2", "sk-" + "a" * 30)
        weird_names(**{"k" * 70: 1})
        Service().run(4)
        Service().run(4, "slow")
        Service().keyed("t")
        Service().keyed("t", 2)
        nothing()
        for value in values:
            hidden(value, key=value)
            hidden(value)
            list(items())
            many(*[value] * 3)
        for count in range(70):  # more argument counts than writers kept per function
            many(*range(count))
        with honeytrace.span("block"):
            step(2, "inside a span")
        list(items(*range(300)))  # more items than the fast path takes


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"mask_secrets": False},
        {"capture_inputs": False},
        {"capture_outputs": False},
        {"source": 'odd "source" \u00e9'},
    ],
    ids=["default", "no-mask", "no-inputs", "no-outputs", "odd-source"],
)
def test_the_json_written_as_text_equals_the_dicts(
    honeytrace_capture: Capture, settings: dict[str, Any]
) -> None:
    """Every event template.py writes parses to a body the strict models accept and that
    equals the dict the encoder builds for it (its session_id added, for the whole-session
    route, as fresh.py adds it); most events take that path."""
    from honeytrace._deliver.template import event_json
    from honeytrace._record import buffer

    honeytrace.configure(exporter="none", flush_interval=3600, batch_size=100_000, **settings)
    record_everything()
    record_plain_kinds()
    spans = [span for span in buffer.QUEUE if type(span) is not honeytrace.Session]
    encoder = Encoder(get_config())
    assert encoder.raw_ready
    written = 0
    for span in spans:
        children = [span.id + 1, span.id + 2] if written % 7 == 3 else None
        raw = event_json(encoder, span, children)
        if raw is None:
            continue
        written += 1
        parsed = json.loads(raw)
        expected = encoder.event(span, children)
        assert parsed == expected
        on_the_wire(parsed, EVENT)
        with_session = json.loads(event_json(encoder, span, children, True) or b"")
        assert with_session == {**expected, "session_id": span.session.session_id}
        on_the_wire(with_session, EVENT)
    assert written > len(spans) // 2
    honeytrace.flush(10)


def test_ids_beyond_the_common_prefix_are_written_like_the_dicts(
    honeytrace_capture: Capture,
) -> None:
    """An id outside this process's prefix and counter range (a forked child's, a counter past
    2**48) still gets its own text; the prefix follows it."""
    from honeytrace._deliver.template import event_json
    from honeytrace._record.signature import Spec
    from honeytrace._record.span import Event, Session

    encoder = Encoder(get_config())
    session = Session(Spec("root", "session"))
    rng = random.Random(7)
    values = [1, 2, (1 << 48) - 1, 1 << 48, (1 << 64) - 1, 5 << 64, (5 << 64) + 3]
    values += [rng.getrandbits(128) for _ in range(50)]
    for value in values:
        event = Event(Spec("fine", "tool"), session, (1,))
        event.result = 1
        event._id = value
        event.end = event.start + 1
        raw = event_json(encoder, event, None)
        assert raw is not None
        assert json.loads(raw)["event_id"] == format_id(value)
        assert json.loads(raw) == encoder.event(event, None)


def test_a_redact_hook_or_validation_keeps_the_dicts() -> None:
    """A redact hook sees (and may change) every body, and validate=True checks each: the
    encoder then never writes events as text (the flusher asks raw_ready)."""
    honeytrace.configure(exporter="none", redact=lambda body: body)
    try:
        assert not Encoder(get_config()).raw_ready
    finally:
        honeytrace.configure(redact=None)
    assert not Encoder(get_config(), validate=True).raw_ready
    assert Encoder(get_config()).raw_ready


def test_a_run_of_events_written_at_once_equals_each_written_alone(
    honeytrace_capture: Capture,
) -> None:
    """events_json (what the flusher calls: a session's events in one pass, with what
    repeats from one event to the next worked out once) writes each event exactly as
    event_json does alone and as the dicts say; an event left to the dict path gets None and
    keeps its children; one longer than ``limit`` too; it counts both and the bytes."""
    from honeytrace._deliver.template import event_json
    from honeytrace._deliver.text_runs import events_json
    from honeytrace._record import buffer

    honeytrace.configure(exporter="none", flush_interval=3600, batch_size=100_000)
    record_everything()
    record_plain_kinds()
    from honeytrace._record.signature import Spec
    from honeytrace._record.span import Event

    spans = [span for span in buffer.QUEUE if type(span) is not honeytrace.Session]
    for index in (0, 7, len(spans) // 2):  # model events (priced): the dict path
        model = Event(Spec("llm", "model"), spans[index].session, ("hi",))
        model.end = model.start + 1
        spans.insert(index, model)
    encoder = Encoder(get_config())
    keys = [span.id for span in spans]
    children = {key: [key + 1, key + 2] for key in keys[::5]}
    children[keys[0]] = [keys[0] + 9]
    for with_session in (False, True):
        left = {key: list(kids) for key, kids in children.items()}
        written, missing, total = events_json(encoder, spans, left, with_session)
        assert len(written) == len(spans)
        assert missing == written.count(None) and 0 < missing < len(spans) // 2
        assert total == sum(len(raw) for raw in written if raw is not None)
        for span, key, raw in zip(spans, keys, written, strict=True):
            kids = children.get(key)
            alone = event_json(encoder, span, kids, with_session)
            assert raw == alone
            if raw is None:
                assert left.get(key) == kids  # still there for the dict path
                continue
            assert key not in left
            expected = encoder.event(span, kids)
            if with_session:
                expected["session_id"] = span.session.session_id
            assert json.loads(raw) == expected
            on_the_wire(json.loads(raw), EVENT)
    # A limit: the longer events go to the dict path (which cuts them), children kept.
    limit = sorted(len(raw) for raw in written if raw is not None)[len(spans) // 4]
    left = {key: list(kids) for key, kids in children.items()}
    cut, missing_cut, _ = events_json(encoder, spans, left, False, None, limit)
    assert missing_cut > missing
    for key, raw, full in zip(keys, cut, written, strict=True):
        assert raw is None or len(raw) <= limit
        if raw is None and key in children:
            assert left[key] == children[key]
        elif raw is not None:
            assert len(full or b"") == len(raw) + len(',"session_id":""') + 36
    # Paced in slices: the same texts.
    calls: list[int] = []
    paced, _, _ = events_json(encoder, spans, None, False, lambda: calls.append(1))
    assert paced == events_json(encoder, spans, None, False)[0]
    assert len(calls) == -(-len(spans) // 64)
    honeytrace.flush(10)


def test_clocks_written_from_integers_parse_to_the_dicts_values(
    honeytrace_capture: Capture,
) -> None:
    """start/end times reuse the text of the last millisecond written only within it (events
    on both sides of a millisecond's edge, out of order, spanning many), and the duration
    written as integer nanoseconds with e-6 parses to exactly (end - start) / 1e6."""
    from honeytrace._deliver.text_runs import events_json
    from honeytrace._record.signature import Spec
    from honeytrace._record.span import Event, Session

    encoder = Encoder(get_config())
    offset = encoder._offset_ns
    session = Session(Spec("root", "session"))
    edge = ((1_000_000_000_000 - offset) // 1_000_000 + 7) * 1_000_000 - offset  # a ms starts
    rng = random.Random(16)
    moments = [(edge - 1, edge - 1), (edge - 1, edge), (edge, edge), (edge + 999_999, edge)]
    moments += [(edge, edge + 1_000_000), (edge - 5, edge + 10**12), (edge - 2_000_000, edge)]
    moments += [(edge + 3, edge + 2), (edge, edge + 1)]
    for _ in range(300):
        start = edge + rng.randrange(-3_000_000, 3_000_000)
        moments.append((start, start + rng.choice([0, 1, 999_999, 10**6, rng.randrange(10**13)])))
    spans = []
    for start, end in moments:
        event = Event(Spec("clock", "tool"), session, (1,))
        event.result = 1
        event.start, event.end = start, end
        spans.append(event)
    written, missing, _ = events_json(encoder, spans, None)
    assert not missing
    for span, raw in zip(spans, written, strict=True):
        assert raw is not None
        parsed = json.loads(raw)
        assert parsed == encoder.event(span, None)
        assert parsed["duration"] == (span.end - span.start) / 1_000_000
        assert parsed["start_time"] == (span.start + offset) // 1_000_000
        assert parsed["end_time"] == (span.end + offset) // 1_000_000
        on_the_wire(parsed, EVENT)
    for elapsed in [0, 1, 5, 999_999, 10**6, 123_456_789, 2**53 + 1, 10**18 + 1]:
        assert float(f"{elapsed}e-6") == elapsed / 1_000_000


def test_the_inputs_writer_keeps_any_key_as_text() -> None:
    """The generated writers (writers.py) hold keys as data, never as code: quotes, braces,
    percent signs, backslashes, non-ASCII letters and line breaks in a key are written as the
    JSON of that key."""
    from honeytrace._deliver.writers import event_writer, values_writer

    keys = ('q"uote', "{brace}", "per%scent", "\u00e9t\u00e9", "back\\slash", "x')\nraise 1#")
    keys += ("tab\there", "\U0001f600 \\N{DIGIT ONE}", "}}{{")
    values = (1, "two", None, True, 1.5, -3, 0, "", 2)
    expected = dict(zip(keys, [1, "two", None, True, 1.5, -3, 0, "", 2], strict=True))
    encoder = Encoder(get_config())
    write = values_writer(encoder, (keys, None, 2, (), 0), len(keys))
    assert json.loads(write(values) or "") == expected
    assert values_writer(encoder, ((), None, 2, (), 0), 0)(()) == "{}"
    event = event_writer(encoder, ',"odd":"}{\'","inputs":', (keys, None, 2, (), 0), 9, True, _no)
    text = event(values, 7, "p-", "1", '"s"', "10", "11", 2500, ',"tail":"x"')
    assert json.loads(text or "") == {
        "event_id": "p-1",
        "parent_id": "s",
        "odd": "}{'",
        "inputs": expected,
        "outputs": {"result": 7},
        "start_time": 10,
        "end_time": 11,
        "duration": 2500e-6,
        "tail": "x",
    }


def _no(encoder: Any, result: Any) -> None:
    return None


@pytest.mark.parametrize("mask", [True, False])
@pytest.mark.parametrize("limits", [DEFAULT_LIMITS, Limits(max_total=600), Limits(max_string=64)])
def test_the_generated_value_test_keeps_only_what_the_walker_keeps(
    mask: bool, limits: Limits
) -> None:
    """The one plain-value test (writers.value_code), in the inputs writer and the outputs'
    items: whatever it writes is what the walker makes of the same values (strings cut or
    masked, Bearer credentials, secrets, lone surrogates, big ints, NaN, containers, objects
    are left to the general route)."""
    from honeytrace._deliver.plain import _ITEMS
    from honeytrace._deliver.writers import event_writer, values_writer

    honeytrace.configure(exporter="none", mask_secrets=mask)
    try:
        encoder = Encoder(get_config(), limits)
    finally:
        honeytrace.configure(mask_secrets=True)
    rng = random.Random(f"gen{mask}{limits}")
    keys = ("a", "text", "n")
    cost = 2 + sum(len(key) + 16 for key in keys)
    write = values_writer(encoder, (keys, None, cost, (), 0), 3)
    items = event_writer(encoder, ',"inputs":', None, 0, True, _no)
    taken = listed = 0
    for _ in range(3000):
        values = tuple(_random_value(rng, 6) for _ in keys)
        walked = _Walker(limits, mask).walk(dict(zip(keys, values, strict=True)), 0)
        text = write(values)
        if text is not None:
            taken += 1
            assert json.loads(text) == walked
        result = list(values)[: rng.choice([1, 2, 3])] * rng.choice([1, 2])  # unrolled, looped
        made = items((), result, "", "1", "null", "1", "1", 1, "")
        if made is not None:
            listed += 1
            assert json.loads(made)["outputs"] == _Walker(limits, mask).walk({"result": result}, 0)
        assert len(result) <= _ITEMS
    assert taken > 150 and listed > 150  # (most random triples hold a value it refuses)


def test_ids_a_session_lists_are_formatted_once_and_written_the_same(
    honeytrace_capture: Capture,
) -> None:
    """A session's create (or session event) lists its direct children's ids and keeps their
    texts for the events' own JSON, written later in the cycle: each event takes its text
    back (nothing kept past it), and every text equals the dicts."""
    from honeytrace._deliver.text_runs import events_json
    from honeytrace._record import buffer

    honeytrace.configure(exporter="none", flush_interval=3600, batch_size=100_000)

    @honeytrace.trace_chain
    def outer(n: int) -> int:
        return inner(n) + 1

    @honeytrace.trace_tool
    def inner(n: int) -> int:
        return n

    with honeytrace.session("listed") as session:
        for n in range(20):
            outer(n)
            inner(n)
    spans = [span for span in buffer.QUEUE if type(span) is not honeytrace.Session]
    direct = [span.id for span in spans if span.parent is None or span.parent is session]
    assert 0 < len(direct) < len(spans)
    for made in ("session_create", "session_event"):
        encoder = Encoder(get_config())
        body = getattr(encoder, made)(session, direct, None)
        assert body["children_ids"] == [format_id(key) for key in direct]
        assert set(encoder._ids) == set(direct)  # kept for the events
        written, missing, _ = events_json(encoder, spans, None)
        assert not missing
        assert not encoder._ids  # each taken back by its event
        for span, raw in zip(spans, written, strict=True):
            assert json.loads(raw or b"") == encoder.event(span, None)
    honeytrace.flush(10)
