"""A collector whose requests are recorded (method, path, content type, encoding, status), over
the shared server of ``tests.support.collector_server``, and readers of what it stored: the
OTLP tests assert both what the clients sent and the tree that came of it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.collector_server import AppSwitch, CollectorServer

__all__ = ["Recorded", "RecordedCollector", "recorded_collector", "stored_sessions", "walk"]


@dataclass
class Recorded:
    method: str
    path: str
    content_type: str
    encoding: str
    status: int = 0


@dataclass
class RecordedCollector:
    url: str
    db_path: str
    requests: list[Recorded] = field(default_factory=list)

    def sent(self, path: str) -> list[Recorded]:
        """The requests to ``path``."""
        return [item for item in self.requests if item.path == path]


class _Recorder:
    def __init__(self, app: Any, requests: list[Recorded]) -> None:
        self.app = app
        self.requests = requests

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        item = Recorded(
            scope["method"],
            scope["path"],
            headers.get("content-type", ""),
            headers.get("content-encoding", ""),
        )
        self.requests.append(item)

        async def watch(message: Any) -> None:
            if message["type"] == "http.response.start":
                item.status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)


@pytest.fixture
def recorded_collector(
    collector_server: tuple[CollectorServer, AppSwitch], tmp_path: Path
) -> Iterator[RecordedCollector]:
    """A fresh collector (no API key) whose requests are recorded."""
    from honeytrace.local.collector import create_app

    server, switch = collector_server
    db_path = str(tmp_path / "collector" / "traces.db")
    app = create_app(db_path)
    found = RecordedCollector(server.url, db_path)
    switch.app = _Recorder(app, found.requests)
    try:
        yield found
    finally:
        app.state.store.close()
        switch.app = None


def stored_sessions(db_path: str) -> list[dict[str, Any]]:
    """Every stored session as its tree (``Store.session_tree``), oldest first."""
    from honeytrace.local.store import Store

    with Store(db_path) as store:
        listed = store.list_sessions(1000)
        trees = [store.session_tree(item["session_id"]) for item in reversed(listed)]
    return [tree for tree in trees if tree is not None]


def walk(tree: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every event of a tree, the root first, depth first."""
    stack = [tree]
    while stack:
        event = stack.pop()
        yield event
        stack.extend(reversed(event["children"]))
