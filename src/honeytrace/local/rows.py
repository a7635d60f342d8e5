"""How the store's rows are made and read: event bodies as column values, JSON text for the
object columns (one C encoder for every value), rows back as the API's JSON."""

from __future__ import annotations

import itertools
import json
import math
import os
import sqlite3
import uuid
from collections.abc import Mapping
from typing import Any

from honeytrace.local.query import JSON_COLUMNS, SCALAR_COLUMNS, is_number
from honeytrace.local.schema import PLAIN_COLUMNS

__all__ = [
    "as_dict",
    "dumps",
    "encode_columns",
    "event_row",
    "event_values",
    "full_row",
    "insert_row",
    "is_uuid",
    "lower_id",
    "new_id",
    "plain_row",
    "row_to_event",
    "session_row",
    "update_row",
]

Body = Mapping[str, Any]
JsonObject = dict[str, Any]


def event_values(body: Body) -> JsonObject:
    """The columns of an event body, as Python values (absent ones left out, so the table's
    defaults apply)."""
    values: JsonObject = {}
    for field in ("event_name", "source", "project_id", "error"):
        if body.get(field) is not None:
            values[field] = str(body[field])
    for field in ("start_time", "end_time", "duration"):
        if is_number(body.get(field)):
            values[field] = body[field]
    for field in JSON_COLUMNS:
        if body.get(field) is not None:
            values[field] = body[field]
    values.setdefault("event_name", "unknown")
    values.setdefault("source", "unknown")
    return values


def is_uuid(value: object) -> bool:
    """True for the 36-character hyphenated form of a UUID (what the API calls a UUID)."""
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def lower_id(value: Any) -> str | None:
    """An id as stored: UUIDs compare case-insensitively, so they are kept in lower case."""
    return value.lower() if isinstance(value, str) and value else None


def new_id() -> str:
    """A fresh id for an event or session that came without one: a valid lower-case UUIDv4
    string (version nibble 4, variant bits 10) made of a random 60-bit prefix per process and a
    counter. Ids of one process then sort next to each other, so each insert into the id index
    lands on the page the previous one dirtied instead of a random page (measured: about 7 us
    less CPU per stored event than ``uuid4`` ids at 100k events). The prefix is drawn again in a
    forked child, so parent and child never hand out the same id."""
    low = _ID_VARIANT | (next(_id_counter) & _ID_COUNTER_MASK)
    text = f"{low:016x}"
    return f"{_id_prefix}{text[:4]}-{text[4:]}"


_ID_VARIANT, _ID_COUNTER_MASK = 0b10 << 62, (1 << 62) - 1
_id_prefix = ""
_id_counter = itertools.count()


def _new_id_prefix() -> None:
    global _id_prefix, _id_counter  # per-process state, drawn again after fork
    high = int.from_bytes(os.urandom(8), "big") & ~(0xF << 12) | (4 << 12)
    text = f"{high:016x}"
    _id_prefix = f"{text[:8]}-{text[8:12]}-{text[12:]}-"
    _id_counter = itertools.count()


_new_id_prefix()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_id_prefix)


def event_row(body: Body, event_id: str, session_id: str, parent_id: str) -> tuple[Any, ...]:
    """The values of :data:`_INSERT_EVENT` for one event: what ``event_values`` and the
    table's defaults make of it, in one pass (this runs once per event of every batch, so it
    calls nothing per field beyond ``body.get`` and the JSON encoder of non-empty objects)."""
    get = body.get
    name, source, project, error = get("event_name"), get("source"), get("project_id"), get("error")
    start, end, duration = get("start_time"), get("end_time"), get("duration")
    children = get("children_ids")
    config, inputs, outputs = get("config"), get("inputs"), get("outputs")
    metadata, feedback, metrics = get("metadata"), get("feedback"), get("metrics")
    properties = get("user_properties")
    return (
        event_id,
        session_id,
        parent_id,
        get("event_type") or "chain",  # the legacy routes let an event omit its type
        name if type(name) is str else "unknown" if name is None else str(name),
        source if type(source) is str else "unknown" if source is None else str(source),
        project if project is None or type(project) is str else str(project),
        error if error is None or type(error) is str else str(error),
        start if type(start) in _NUMBER_TYPES else None,  # bool is not a number here
        end if type(end) in _NUMBER_TYPES else None,
        duration if type(duration) in _NUMBER_TYPES else None,
        "[]" if children is None or children == [] else dumps(children),
        dumps(config) if config else "{}",
        dumps(inputs) if inputs else "{}",
        dumps(outputs) if outputs else "{}",
        dumps(metadata) if metadata else "{}",
        dumps(feedback) if feedback else "{}",
        dumps(metrics) if metrics else "{}",
        dumps(properties) if properties else "{}",
    )


def plain_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row of :func:`event_row` or :func:`session_row` as a plain row (the columns of
    :data:`.schema.PLAIN_COLUMNS`) when the columns it leaves out hold their defaults; else the
    row itself. (Plain rows bind fewer values: the store writes them faster.)"""
    if (
        row[6] is None
        and row[7] is None
        and row[12] == "{}"
        and row[15] == "{}"
        and row[16] == "{}"
        and row[17] == "{}"
        and row[18] == "{}"
    ):
        return (*row[:6], *row[8:12], row[13], row[14])
    return row


def full_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A plain row as :func:`event_row` lays out its values (every column of
    :data:`.schema.INSERT_EVENT`, the defaults filled in); a full row as it is."""
    if len(row) != PLAIN_WIDTH:
        return row
    return (*row[:6], None, None, *row[6:10], "{}", row[10], row[11], "{}", "{}", "{}", "{}")


def session_row(body: Body, session_id: str, now: int) -> tuple[Any, ...]:
    """The row of a new session (the values of :data:`schema.INSERT_EVENT`): what the first
    create of :func:`.session_writes.upsert_session` stores, ``event_values`` with the session's own
    fields and the table's defaults (a JSON column given, even empty, is kept as given)."""
    values = event_values(body)
    get = values.get
    start = get("start_time")
    return (
        session_id,
        session_id,
        None,
        "session",
        values["event_name"],
        values["source"],
        get("project_id"),
        get("error"),
        now if start is None else start,
        get("end_time"),
        get("duration"),
        *(
            (_DEFAULTS[field] if field not in values else dumps(values[field]))
            for field in JSON_COLUMNS
        ),
    )


PLAIN_WIDTH = len(PLAIN_COLUMNS)
_DEFAULTS = {field: "[]" if field == "children_ids" else "{}" for field in JSON_COLUMNS}
_NUMBER_TYPES = frozenset({int, float})
# event_row writes the JSON columns in this order, the table's.
assert JSON_COLUMNS == (
    "children_ids",
    "config",
    "inputs",
    "outputs",
    "metadata",
    "feedback",
    "metrics",
    "user_properties",
)


def encode_columns(values: Mapping[str, Any]) -> JsonObject:
    return {
        field: dumps(value) if field in JSON_COLUMNS else value for field, value in values.items()
    }


def insert_row(conn: sqlite3.Connection, values: Mapping[str, Any], *, or_ignore: bool) -> None:
    encoded = encode_columns(values)
    verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
    names = ", ".join(encoded)
    marks = ", ".join("?" * len(encoded))
    conn.execute(f"{verb} INTO events ({names}) VALUES ({marks})", tuple(encoded.values()))


def update_row(conn: sqlite3.Connection, event_id: str, changes: Mapping[str, Any]) -> int:
    """Set ``changes`` (columns -> values) on the row of ``event_id``; returns how many rows
    it found (0 or 1; 0 without changes)."""
    if not changes:
        return 0
    encoded = encode_columns(changes)
    assignments = ", ".join(f"{field} = ?" for field in encoded)
    return int(
        conn.execute(
            f"UPDATE events SET {assignments} WHERE event_id = ?", (*encoded.values(), event_id)
        ).rowcount
    )


def row_to_event(row: sqlite3.Row) -> JsonObject:
    event: JsonObject = {column: row[column] for column in SCALAR_COLUMNS}
    for column in JSON_COLUMNS:
        text = row[column]
        # Most object fields are empty: skip the JSON parser for them (big trees read faster).
        event[column] = {} if text == "{}" else [] if text == "[]" else json.loads(text)
    return event


def as_dict(value: Any) -> JsonObject:
    return dict(value) if isinstance(value, Mapping) else {}


def _not_json(value: Any) -> Any:
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _make_encoder() -> Any:
    """``json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)``, with
    the C encoder made once: json.dumps makes a new one per call, half the cost of a small
    object (and a batch encodes five objects per event)."""
    maker = getattr(json.encoder, "c_make_encoder", None)
    if maker is None:  # no C accelerator (another interpreter)
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    encoder = maker(
        None, _not_json, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
    join = "".join

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return str(json.encoder.encode_basestring(value))
        return join(encoder(value, 0))

    return encode


def _make_fast_encoder() -> Any:
    """pydantic-core's Rust serializer (pydantic is a dependency anyway), three times as fast
    as the C encoder on the small objects of an event: NaN and infinities as null, a value it
    does not know raises (then :func:`dumps` takes the slow path). None where this
    pydantic-core lacks ``inf_nan_mode``."""
    try:
        from pydantic_core import to_json

        to_json({}, inf_nan_mode="null", fallback=_not_json)
    except (ImportError, TypeError):  # pragma: no cover -- an old pydantic-core
        return None

    def encode(value: Any) -> str:
        return to_json(value, inf_nan_mode="null", fallback=_not_json).decode()

    return encode


_ENCODE = _make_fast_encoder() or _make_encoder()


def dumps(value: Any) -> str:
    """JSON text that SQLite's JSON functions accept: NaN and infinities become null, and
    what JSON cannot hold becomes its ``str``."""
    try:
        text: str = _ENCODE(value)
    except (ValueError, TypeError):
        return json.dumps(_finite(value), ensure_ascii=False, separators=(",", ":"), default=str)
    return text


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(key): _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
