"""The embedded store's schema: the one ``events`` table, its indexes, and the statements a
batch of writes runs (each prepared once: sqlite3 caches them by text). :mod:`.store` uses them.
"""

from __future__ import annotations

from functools import lru_cache

from honeytrace.local.query import JSON_COLUMNS, SCALAR_COLUMNS

__all__ = [
    "COLUMNS",
    "DESCRIBE_PLACEHOLDER",
    "INSERT_EVENT",
    "INSERT_PLACEHOLDER",
    "MOVED_TO",
    "PLACEHOLDER_FIELDS",
    "PLAIN_COLUMNS",
    "REMEMBER_MOVE",
    "SCHEMA",
    "SCHEMA_VERSION",
    "SELECT",
    "insert_events",
]

SCHEMA_VERSION = 3  # 2: the viewer's filter indexes; 3: moved_sessions (all IF NOT EXISTS)

COLUMNS = SCALAR_COLUMNS + JSON_COLUMNS
SELECT = "SELECT " + ", ".join(COLUMNS) + ", placeholder FROM events"
# The two statements of a batch, each prepared once (sqlite3 caches them by text) and run
# with executemany: every event row has every column, in this order.
INSERT_EVENT = (
    f"INSERT OR IGNORE INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
)


# The columns of a plain row (local/event_rows.py: the common events, made by the flusher):
# the others are left to the table's defaults (NULL, '{}'), which is what they hold for these.
PLAIN_COLUMNS = (
    "event_id",
    "session_id",
    "parent_id",
    "event_type",
    "event_name",
    "source",
    "start_time",
    "end_time",
    "duration",
    "children_ids",
    "inputs",
    "outputs",
)


@lru_cache(maxsize=128)
def insert_events(rows: int, columns: tuple[str, ...] = COLUMNS) -> str:
    """INSERT_EVENT for ``rows`` rows at once (one multi-row VALUES; see
    :func:`honeytrace.local.bulk.insert_chunk`), of ``columns`` (all, or the plain rows'
    :data:`PLAIN_COLUMNS`: the table's defaults fill the rest)."""
    row = f"({', '.join('?' * len(columns))})"
    return f"INSERT OR IGNORE INTO events ({', '.join(columns)}) VALUES {', '.join([row] * rows)}"


PLACEHOLDER_FIELDS = ("event_name", "source", "start_time", "end_time", "duration")
DESCRIBE_PLACEHOLDER = (
    "UPDATE events SET "
    + ", ".join(f"{name} = coalesce(?, {name})" for name in PLACEHOLDER_FIELDS)
    + " WHERE event_id = ? AND placeholder = 1"
)
INSERT_PLACEHOLDER = (
    "INSERT OR IGNORE INTO events (event_id, session_id, event_type, event_name, source,"
    " start_time, placeholder) VALUES (?, ?, 'session', 'unknown', 'unknown', ?, 1)"
)
# The OTLP ingest's moves of a trace's placeholder session into the session a span named
# (old -> new), kept so that later spans of the trace follow whichever process stores them.
REMEMBER_MOVE = "INSERT OR REPLACE INTO moved_sessions (old, new) VALUES (?, ?)"
MOVED_TO = "SELECT new FROM moved_sessions WHERE old = ?"

SCHEMA = (
    # Times and duration have no declared type on purpose: SQLite then keeps each value as
    # given (an int stays an int, 12.5 stays 12.5) instead of converting it.
    """CREATE TABLE IF NOT EXISTS events (
        event_id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        parent_id TEXT,
        event_type TEXT NOT NULL,
        event_name TEXT,
        source TEXT,
        project_id TEXT,
        error TEXT,
        start_time,
        end_time,
        duration,
        children_ids TEXT NOT NULL DEFAULT '[]',
        config TEXT NOT NULL DEFAULT '{}',
        inputs TEXT NOT NULL DEFAULT '{}',
        outputs TEXT NOT NULL DEFAULT '{}',
        metadata TEXT NOT NULL DEFAULT '{}',
        feedback TEXT NOT NULL DEFAULT '{}',
        metrics TEXT NOT NULL DEFAULT '{}',
        user_properties TEXT NOT NULL DEFAULT '{}',
        placeholder INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE TABLE IF NOT EXISTS moved_sessions (old TEXT PRIMARY KEY, new TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS events_session ON events (session_id, start_time)",
    "CREATE INDEX IF NOT EXISTS events_parent ON events (parent_id)",
    "CREATE INDEX IF NOT EXISTS events_start ON events (start_time)",
    # The session list reads only session rows, newest first.
    """CREATE INDEX IF NOT EXISTS events_sessions ON events (start_time)
        WHERE event_type = 'session' AND event_id = session_id""",
    # The viewer (local/viewer_query.py): the session list's columns (covering, so a filter
    # checks 100k sessions without reading their rows), then the sessions with an error, with an
    # event of a type, with a model, and the events that report usage (the cost sort): indexes
    # instead of scans of every event's JSON. The partial ones hold only the rows they are about.
    """CREATE INDEX IF NOT EXISTS events_session_list ON events (start_time, event_id, source,
        duration, end_time, event_type, session_id)
        WHERE event_type = 'session' AND event_id = session_id""",
    """CREATE INDEX IF NOT EXISTS events_errors ON events (session_id)
        WHERE error IS NOT NULL AND error != ''""",
    "CREATE INDEX IF NOT EXISTS events_types ON events (event_type, session_id)",
    """CREATE INDEX IF NOT EXISTS events_models ON events (json_extract(config, '$.model'),
        session_id) WHERE event_type = 'model'""",
    "CREATE INDEX IF NOT EXISTS events_metrics ON events (session_id) WHERE metrics != '{}'",
)
