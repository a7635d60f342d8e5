"""The collector served for real: uvicorn on 127.0.0.1, an ephemeral port, a background thread.

::

    with CollectorServer(create_app(db_path)) as server:   # or the ``collector`` fixture
        httpx.post(server.url + "/v1/sessions", json={...})

Start-up waits on ``server.started`` and shutdown on the thread, each with a deadline; the bound
port is read from the listening socket.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import uvicorn

__all__ = ["AppSwitch", "CollectorServer", "collector_fixture", "collector_server", "wait_for"]


def wait_for(condition: Any, timeout: float = 10.0, interval: float = 0.005) -> bool:
    """Poll ``condition()`` until it is true or ``timeout`` seconds passed; returns the last
    answer."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class CollectorServer:
    """One ASGI app under uvicorn in a daemon thread (uvicorn leaves signals alone there)."""

    def __init__(
        self,
        app: Any,
        db_path: str = "",
        lifespan: Literal["auto", "on", "off"] = "on",
        **options: Any,
    ) -> None:
        self.db_path = db_path
        """The store the app writes, when the creator says (for assertions)."""
        # options: more uvicorn.Config settings, e.g. the collector's connection limits.
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan=lifespan, **options
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, name="collector", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> CollectorServer:
        """Start serving; raises if the server is not up within ``timeout`` seconds."""
        self._thread.start()
        if not wait_for(lambda: self.server.started or not self._thread.is_alive(), timeout):
            raise TimeoutError("the collector did not start in time")
        if not self.server.started:
            raise RuntimeError("the collector failed to start (see the log above)")
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down as on SIGTERM (in-flight requests finish, the app's lifespan ends)."""
        self.server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("the collector did not stop in time")

    def __enter__(self) -> CollectorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class AppSwitch:
    """An ASGI app that forwards to whichever app is current: one server per test module, a
    fresh collector app (and store) per test, since starting and stopping uvicorn for each test
    would cost most of the suite's time. Served with ``lifespan="off"``."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def collector_server() -> Iterator[tuple[CollectorServer, AppSwitch]]:
    """The module's shared server (see :class:`AppSwitch`); use the ``collector`` fixture."""
    switch = AppSwitch()
    with CollectorServer(switch, lifespan="off") as server:
        yield server, switch


@pytest.fixture(name="collector")
def collector_fixture(
    collector_server: tuple[CollectorServer, AppSwitch], tmp_path: Path
) -> Iterator[CollectorServer]:
    """The ``collector`` fixture: a collector without API key over a fresh store in the test's
    tmp dir (``collector.db_path``). Import ``collector_fixture`` and ``collector_server`` into
    a test module to use it."""
    from honeytrace.local.collector import create_app

    server, switch = collector_server
    db_path = str(tmp_path / "collector" / "traces.db")
    switch.app = create_app(db_path)
    server.db_path = db_path
    try:
        yield server
    finally:
        switch.app.state.store.close()  # what the app's lifespan does at shutdown
        switch.app = None
