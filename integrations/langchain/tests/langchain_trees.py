"""Reading what was stored: the local store a user's ``honeytrace show`` reads, as trees."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import honeytrace
from honeytrace.local.store import Store


class Stored:
    """The embedded store the events go to; only sessions stored after it was made count."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._before = {session["session_id"] for session in self._all()}

    def _all(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with Store(self.path) as store:
            return store.list_sessions(1000)

    def sessions(self) -> list[dict[str, Any]]:
        """This test's sessions, newest first, after a flush."""
        assert honeytrace.flush(10.0)
        return [s for s in self._all() if s["session_id"] not in self._before]

    def tree(self, session_id: str | None = None) -> dict[str, Any]:
        """A session's stored tree (this test's latest by default), after a flush."""
        if session_id is None:
            mine = self.sessions()
            assert mine, "no session stored"
            session_id = mine[0]["session_id"]
        assert honeytrace.flush(10.0)
        with Store(self.path) as store:
            tree = store.session_tree(session_id)
        assert tree is not None
        return tree


def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every event of a tree, depth first, in order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current["children"]))


def find(node: dict[str, Any], name: str, event_type: str | None = None) -> list[dict[str, Any]]:
    return [
        event
        for event in walk(node)
        if event["event_name"] == name and (event_type is None or event["event_type"] == event_type)
    ]


def shape(node: dict[str, Any]) -> Any:
    """The tree as nested (type, name, [children]) tuples, leaving out empty child lists."""
    children = [shape(child) for child in node["children"]]
    label = f"{node['event_type']} {node['event_name']}"
    return (label, children) if children else label
