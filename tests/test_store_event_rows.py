"""The store rows the flusher makes straight from the spans (local/event_rows.py, issue 16 goal
3) are the rows the dict path makes (``Encoder.event`` -> ``rows.event_row``), on every event of
the encoder tests' corpora and under several settings; and a store written with them reads back
the same events as one written from the dicts."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

import honeytrace
from honeytrace import _runtime
from honeytrace._deliver.encode import Encoder
from honeytrace._record import buffer
from honeytrace._record.signature import Spec
from honeytrace._record.span import Event, Session
from honeytrace._runtime import get_config
from honeytrace.local import schema
from honeytrace.local.event_rows import event_rows
from honeytrace.local.rows import event_row, full_row, plain_row
from honeytrace.local.store import Store
from honeytrace.testing import Capture
from tests.test_encode_bodies import record_everything, record_plain_kinds

SETTINGS = [
    {},
    {"mask_secrets": False},
    {"capture_inputs": False},
    {"capture_outputs": False},
    {"source": 'odd "source" \u00e9'},
]
IDS = ["default", "no-mask", "no-inputs", "no-outputs", "odd-source"]
JSON_AT = range(11, 19)  # the JSON columns of a full row


def dict_row(encoder: Encoder, span: Event, children: list[int] | None) -> tuple[Any, ...]:
    """The row the store made of the dict path's body, as ``Store.put_events`` does."""
    body = encoder.event(span, children)
    body["session_id"] = span.session.session_id  # as fresh.py adds it
    sid = body["session_id"].lower()
    parent = body.get("parent_id")
    parent = parent.lower() if isinstance(parent, str) and parent else sid
    return event_row(body, body["event_id"].lower(), sid, parent)


def same_row(made: tuple[Any, ...], expected: tuple[Any, ...]) -> None:
    """Equal column by column; JSON columns equal as the values they hold (the text may differ
    only in how a float is spelled: ``1e+16`` here, ``1e16`` from pydantic)."""
    assert len(made) == len(expected) == len(schema.COLUMNS)
    for index, (ours, theirs) in enumerate(zip(made, expected, strict=True)):
        if index in JSON_AT:
            assert json.loads(ours) == json.loads(theirs), schema.COLUMNS[index]
            if "e" not in theirs.replace("e+", "e").lower():  # no float in exponent form
                assert ours == theirs, schema.COLUMNS[index]
        else:
            assert ours == theirs and type(ours) is type(theirs), schema.COLUMNS[index]


def recorded_spans(settings: dict[str, Any]) -> list[Event]:
    """The events the corpora record, all still queued: the flusher is not woken meanwhile
    (a late update would wake it, and it would take the events before it)."""
    honeytrace.configure(exporter="none", flush_interval=3600, batch_size=100_000, **settings)
    assert honeytrace.flush(10)  # the new configuration's cycle ran: nothing else is queued
    assert not buffer.QUEUE
    flusher = _runtime._ensure_flusher()
    buffer.wake = lambda: None
    try:
        record_everything()
        record_plain_kinds()
    finally:
        buffer.wake = flusher.wake
    assert _runtime._flusher is flusher
    spans = [span for span in buffer.QUEUE if type(span) is not Session]
    names = {span.spec.name for span in spans}
    assert {"plain", "fails", "chat", "block", "step", "items", "login"} <= names  # all of it
    buffer.woken()  # (a wake-up asked of no one meanwhile must not mute the flusher)
    return spans


@pytest.mark.parametrize("settings", SETTINGS, ids=IDS)
def test_the_rows_made_from_spans_equal_those_of_the_dicts(
    honeytrace_capture: Capture, settings: dict[str, Any]
) -> None:
    """Every row made from a span (children or not) equals the dict path's, as a full row and
    as the plain row the store's writer would make of that; most events take this path."""
    spans = recorded_spans(settings)
    encoder = Encoder(get_config())
    assert encoder.raw_ready
    kinds: dict[Any, Any] = {}
    made = 0
    for number, span in enumerate(spans):
        key = span._id if span._id is not None else span.id
        kids = [span.id + 1, span.id + 2] if number % 7 == 3 else None
        children = {key: kids} if kids else {}
        row = event_rows(encoder, [span], children, kinds)[0]
        if row is None:
            assert children == ({key: kids} if kids else {})  # left for the dict path
            continue
        made += 1
        assert not children  # its children were taken
        expected = dict_row(encoder, span, kids)
        same_row(full_row(row), expected)
        assert len(row) == len(schema.PLAIN_COLUMNS)
        assert None not in row  # nothing bound as None (see event_rows' doc)
        plain = plain_row(expected)
        assert len(plain) == len(row)
        same_row(full_row(plain), expected)
    assert made > len(spans) // 2
    honeytrace.flush(10)


def test_a_run_of_spans_is_made_like_each_alone(honeytrace_capture: Capture) -> None:
    """One call over many spans (as the flusher makes them: a session's at once) gives each
    span's row as a call of its own does, the dict path's None in the same places."""
    spans = recorded_spans({})
    enriched = Event(Spec("enriched", "tool"), spans[0].session, (1,))
    enriched.extra = {"metadata": {"k": "v"}}  # (the dict path's)
    enriched.end = enriched.start + 1
    spans.insert(len(spans) // 2, enriched)
    encoder = Encoder(get_config())
    together = event_rows(encoder, spans, None, {})
    alone = [event_rows(encoder, [span], None, {})[0] for span in spans]
    assert together == alone
    assert None in together  # both paths are exercised
    honeytrace.flush(10)


def test_ids_beyond_the_common_prefix(honeytrace_capture: Capture) -> None:
    """An id outside this process's prefix and counter range gets its own text, as in the
    dict path (the prefix follows it)."""
    encoder = Encoder(get_config())
    session = Session(Spec("root", "session"))
    rng = random.Random(7)
    values = [1, 2, (1 << 48) - 1, 1 << 48, (1 << 64) - 1, 5 << 64, (5 << 64) + 3]
    values += [rng.getrandbits(128) for _ in range(50)]
    kinds: dict[Any, Any] = {}
    for value in values:
        event = Event(Spec("fine", "tool"), session, (1,))
        event.result = 1
        event._id = value
        event.end = event.start + 1
        row = event_rows(encoder, [event], None, kinds)[0]
        assert row is not None
        same_row(full_row(row), dict_row(encoder, event, None))


def test_another_services_parent_and_session(honeytrace_capture: Capture) -> None:
    """An event under another service's event (trace propagation) keeps its parent's id and
    joins its session, in lower case as the store keeps ids."""
    from honeytrace.propagation import RemoteParent, RemoteSession

    session = RemoteSession("6F4DE29F-9B31-41E0-8000-0000000000AA")
    parent = RemoteParent(session, "7A4DE29F-9B31-41E0-8000-0000000000BB")
    encoder = Encoder(get_config())
    made = []
    for event in (Event(Spec("under", "tool"), parent, (1,)), Event(Spec("top", "chain"), session)):
        event.result = "done"
        event.end = event.start + 1_234_567
        row = event_rows(encoder, [event], None, {})[0]
        assert row is not None
        same_row(full_row(row), dict_row(encoder, event, None))
        made.append(row)
    under, top = made
    assert under[1] == top[1] == "6f4de29f-9b31-41e0-8000-0000000000aa"
    assert under[2] == "7a4de29f-9b31-41e0-8000-0000000000bb"
    assert top[2] == top[1]  # its parent is the session


def test_a_redact_hook_keeps_the_dicts(tmp_path: Path) -> None:
    """With a redact hook the local exporter stores what the hook returned: no row is made
    from a span (the flusher asks raw_ready first)."""
    path = tmp_path / "t.db"

    def redact(body: dict[str, Any]) -> dict[str, Any]:
        if body.get("event_name") == "step":
            body["inputs"] = {"redacted": True}
        return body

    honeytrace.configure(exporter="local", local_path=str(path), redact=redact)
    try:

        @honeytrace.trace_tool
        def step(i: int) -> int:
            return i

        with honeytrace.session("s"):
            step(1)
        assert honeytrace.flush(30)
        with Store(path) as store:
            (event,) = store.search([{"field": "event_name", "operator": "is", "value": "step"}])[0]
        assert event["inputs"] == {"redacted": True}
    finally:
        honeytrace.configure(redact=None, exporter="none")


@pytest.mark.parametrize("settings", SETTINGS[:2], ids=IDS[:2])
def test_a_store_written_from_rows_reads_back_the_events_of_the_dicts(
    honeytrace_capture: Capture, settings: dict[str, Any], tmp_path: Path
) -> None:
    """The same sessions written to two stores, once with the rows made from the spans (the
    dict path for the others) and once all from dicts: every event and every session tree
    reads back the same."""
    spans = recorded_spans(settings)
    sessions = {id(span.session): span.session for span in spans}
    encoder = Encoder(get_config())
    heads = [encoder.session_event(session, None) for session in sessions.values()]

    def dict_body(span: Event) -> dict[str, Any]:
        body = encoder.event(span, None)
        body["session_id"] = span.session.session_id
        return body

    rows = event_rows(encoder, spans, None, {})
    fast: list[Any] = [*heads, *(row or dict_body(span) for row, span in zip(rows, spans))]
    slow: list[Any] = [*heads, *(dict_body(span) for span in spans)]
    assert any(type(item) is tuple for item in fast)
    with Store(tmp_path / "fast.db") as one, Store(tmp_path / "slow.db") as other:
        one.put_events(fast)
        other.put_events(slow)
        for span in spans:
            event_id = encoder._format(span.id)
            assert one.get_event(event_id) == other.get_event(event_id) is not None
        for session in sessions.values():
            assert one.session_tree(session.session_id) == other.session_tree(session.session_id)
        # Floats aside (spelled differently), the very text is the same: the rows' order too.
        query = f"SELECT rowid, {', '.join(schema.COLUMNS)} FROM events ORDER BY rowid"
        ours = one.connection.execute(query).fetchall()
        theirs = other.connection.execute(query).fetchall()
        assert [tuple(row)[:12] for row in ours] == [tuple(row)[:12] for row in theirs]
    honeytrace.flush(10)


@pytest.mark.parametrize("events", [1, 17, 700, 1023, 1024, 1500, 2048])
def test_plain_rows_of_any_count_are_stored_once(tmp_path: Path, events: int) -> None:
    """Plain rows go in statements of up to 1024 rows (padded with repeats of the last, which
    are ignored): one statement, its own transaction, up to that (a writer group of the
    flusher's batches, local/exporter.py); a batch past that takes several, in one
    transaction."""
    sid = "6f4de29f-9b31-41e0-8000-000000000001"
    head = {"event_id": sid, "session_id": sid, "event_type": "session", "event_name": "s"}
    rows = []
    for n in range(events):
        event_id = f"7a4de29f-9b31-41e0-8000-{n:012x}"
        inputs = json.dumps({"n": n}, separators=(",", ":"))
        rows.append((event_id, sid, sid, "tool", "f", "src", n, n + 1, 1.0, "[]", inputs, "{}"))
    with Store(tmp_path / "p.db") as store:
        seen: list[str] = []
        store.connection.set_trace_callback(lambda sql: seen.append(sql.split(None, 1)[0]))
        store.put_events([head, *rows])
        statements = -(-(events + 1) // 1024)  # (the session's row, then its events)
        several = ["BEGIN", *["INSERT"] * statements, "COMMIT"]
        assert seen == (["INSERT"] if statements == 1 else several)
        store.put_events([head, *rows])  # again: nothing new
        tree = store.session_tree(sid)
    assert tree is not None
    assert [child["inputs"] for child in tree["children"]] == [{"n": n} for n in range(events)]


def test_plain_rows_of_a_session_not_in_the_batch_take_the_general_path(tmp_path: Path) -> None:
    """A session longer than a batch: its later batches carry plain rows without the session's
    own event; they are stored under the session already there (or a placeholder)."""
    sid = "6f4de29f-9b31-41e0-8000-000000000002"
    head = {"event_id": sid, "session_id": sid, "event_type": "session", "event_name": "long"}

    def row(n: int) -> tuple[Any, ...]:
        event_id = f"7a4de29f-9b31-41e0-8000-{n:012x}"
        return (event_id, sid, sid, "tool", "f", "src", n, n + 1, 1.0, "[]", "{}", "{}")

    with Store(tmp_path / "l.db") as store:
        store.put_events([row(1), row(2)])  # before its session: a placeholder
        store.put_events([head, row(3)])
        store.put_events([row(4)])
        tree = store.session_tree(sid)
        (placeholders,) = store.connection.execute(
            "SELECT COUNT(*) FROM events WHERE placeholder"
        ).fetchone()
    assert tree is not None and tree["event_name"] == "long" and placeholders == 0
    assert [child["start_time"] for child in tree["children"]] == [1, 2, 3, 4]


def test_rows_of_a_session_the_store_stored_go_in_one_statement(tmp_path: Path) -> None:
    """Later rows of a session this Store stored (an open session's next delivery, a session
    longer than a batch) go in the batch's one statement, without a placeholder for their
    session (which a Store that did not store it still makes, in a transaction)."""
    sid = "6f4de29f-9b31-41e0-8000-000000000003"
    other = "6f4de29f-9b31-41e0-8000-000000000004"
    head = {"event_id": sid, "session_id": sid, "event_type": "session", "event_name": "kept"}
    second = {**head, "event_id": other, "session_id": other, "event_name": "next"}

    def row(n: int, session: str = sid) -> tuple[Any, ...]:
        event_id = f"7a4de29f-9b31-41e0-8000-{n:012x}"
        return (event_id, session, session, "tool", "f", "src", n, n + 1, 1.0, "[]", "{}", "{}")

    seen: list[str] = []
    with Store(tmp_path / "k.db") as store:
        store.put_events([head, row(1)])
        store.connection.set_trace_callback(lambda sql: seen.append(sql.split(None, 1)[0]))
        store.put_events([second, row(2, other), row(3), row(4)])
        assert seen == ["INSERT"]
        tree = store.session_tree(sid)
    assert tree is not None and tree["event_name"] == "kept"
    assert [child["start_time"] for child in tree["children"]] == [1, 3, 4]
    seen.clear()
    with Store(tmp_path / "k.db") as store:  # another connection: it did not store the session
        store.connection.set_trace_callback(lambda sql: seen.append(sql.split(None, 1)[0]))
        store.put_events([row(5)])
        assert seen == ["BEGIN", "INSERT", "INSERT", "COMMIT"]  # (the placeholder, ignored)
        tree = store.session_tree(sid)
        (placeholders,) = store.connection.execute(
            "SELECT COUNT(*) FROM events WHERE placeholder"
        ).fetchone()
    assert tree is not None and len(tree["children"]) == 4 and placeholders == 0
