"""The ids honeytrace gives its events: valid lower-case UUIDv4 strings that sort
together within a process (the store's id index appends instead of writing random pages), and
never the same in a forked child as in its parent."""

from __future__ import annotations

import os
import re
import uuid

import pytest

import honeytrace
from honeytrace.testing import capture

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@honeytrace.trace_tool
def step(i: int) -> int:
    return i


def test_ids_are_uuid4_strings_of_one_process_that_sort_together() -> None:
    with capture() as captured:
        for _ in range(3):
            with honeytrace.session("ids"):
                for i in range(50):
                    step(i)
    ids = [event["event_id"] for event in captured.events]
    sessions = [s["session_id"] for s in captured.sessions]
    assert len(set(ids + sessions)) == 153
    for text in ids + sessions:
        assert UUID4.fullmatch(text), text
        assert uuid.UUID(text).version == 4
    assert len({text[:18] for text in ids}) == 1  # one prefix in this process
    # Sessions' ids stay random: they are what people see shortened and search by prefix.
    assert len({text[:8] for text in sessions}) == 3
    numbers = sorted(uuid.UUID(text).int for text in ids)
    assert numbers[-1] - numbers[0] < 1 << 20  # neighbours, not 153 random points


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_draws_ids_of_its_own() -> None:
    from honeytrace._record.span import format_id, new_id

    read, write = os.pipe()
    parent_before = format_id(new_id())
    pid = os.fork()
    if pid == 0:  # the child: its first id, to the parent
        os.write(write, format_id(new_id()).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent_after = format_id(new_id())
    assert UUID4.fullmatch(child)
    assert child[:18] != parent_before[:18]  # another prefix: no id can repeat the parent's
    assert parent_after[:18] == parent_before[:18]
