"""Ids the store makes for events and sessions sent without one: valid lower-case UUIDv4
strings that sort next to each other within a process (so inserts into the id index stay on
the same pages), never repeated, and never shared with a forked child."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from honeytrace.local.rows import new_id
from honeytrace.local.store import Store


def assert_v4(value: str) -> None:
    parsed = uuid.UUID(value)
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122
    assert str(parsed) == value  # lower case, hyphenated


def test_generated_ids_are_v4_distinct_and_ordered(tmp_path: Path) -> None:
    with Store(tmp_path / "t.db") as store:
        ids = store.add_events(None, [{"event_name": f"e{n}"} for n in range(200)])
        session = store.put_session({"session_name": "s"})
        other = store.put_session({"session_name": "t"})
        for value in [*ids, session, other]:
            assert_v4(value)
        # Sessions' ids stay random: people read them shortened (8 characters) and search
        # by prefix.
        assert session[:8] != other[:8]
        assert len(set(ids)) == len(ids)
        # One process's ids share their first 19 characters and increase: neighbours in the
        # index (random uuid4 ids would share nothing).
        assert {value[:19] for value in ids} == {ids[0][:19]}
        assert ids == sorted(ids)
        stored = store.get_event(ids[0])
        assert stored is not None
        assert stored["event_id"] == ids[0]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_draws_its_own_prefix() -> None:
    before = new_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover -- the child
        try:
            os.write(write, new_id().encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    after = new_id()
    assert_v4(child)
    assert child[:19] != before[:19]
    assert after[:19] == before[:19]
    assert child not in {before, after}
