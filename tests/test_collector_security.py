"""The collector against an adversary (issue 12, item 23), over raw sockets to real uvicorn on
127.0.0.1: DNS rebinding (a foreign Host), cross-site writes from a browser page, oversized and
compressed-bomb bodies, a stalled body, half-open connections, and the ``serve`` flags."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from honeytrace.local.collector import create_app
from honeytrace.local.collector.connections import uvicorn_options
from honeytrace.local.collector.guard import CollectorGuard, host_name
from tests.support.collector_server import CollectorServer, wait_for

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
T0 = 1_700_000_000_000
MIB = 1024 * 1024


def new_id() -> str:
    return str(uuid.uuid4())


class Answer:
    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines and lines[0] else 0
        self.headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:])
        }

    def json(self) -> Any:
        return json.loads(self.body)


def read_all(sock: socket.socket, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    host: str | None = "127.0.0.1",
) -> Answer:
    """One request, written by hand (any Host, any Origin), answered on a closed connection."""
    lines = [f"{method} {path} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall("\r\n".join(lines).encode("latin-1") + body)
        return Answer(read_all(sock))


def session_body(session_id: str) -> bytes:
    return json.dumps({"session_id": session_id, "session_name": "chat", "start_time": T0}).encode()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[CollectorServer]:
    db = str(tmp_path / "traces.db")
    app = create_app(db, allowed_hosts=["traces.internal"], max_body_bytes=MIB)
    with CollectorServer(app, db_path=db) as server:
        yield server


def stored(server: CollectorServer, session_id: str) -> bool:
    return request(server.port, "GET", f"/v1/sessions/{session_id}").status == 200


# -- Host: DNS rebinding ------------------------------------------------------------------------


def test_a_foreign_host_cannot_read_traces(served: CollectorServer) -> None:
    sid = new_id()
    assert request(served.port, "POST", "/v1/sessions", body=session_body(sid)).status == 200
    # A page at http://rebind.attacker.example:PORT whose name now resolves to 127.0.0.1.
    answer = request(
        served.port, "GET", f"/v1/sessions/{sid}", host=f"rebind.attacker.example:{served.port}"
    )
    assert answer.status == 421
    assert sid not in answer.body.decode()
    message = answer.json()["message"]
    assert "rebind.attacker.example" in message and "--allow-host" in message
    # Nor the viewer, nor the search.
    assert request(served.port, "GET", "/", host="rebind.attacker.example").status == 421
    assert request(served.port, "POST", "/v1/events/search", body=b"{}", host="evil").status == 421


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.1:8787",
        "localhost",
        "LOCALHOST:1",
        "localhost.",
        "[::1]:8787",
        "[::1]",
        "traces.internal:443",
    ],
)
def test_loopback_names_and_allowed_hosts_are_answered(served: CollectorServer, host: str) -> None:
    assert request(served.port, "GET", "/healthz", host=host).status == 200


def test_a_request_without_host_is_no_browser_and_is_answered(served: CollectorServer) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")  # HTTP/1.0 needs no Host
        assert Answer(read_all(sock)).status == 200


def test_any_host_when_allowed_with_a_star(tmp_path: Path) -> None:
    app = create_app(str(tmp_path / "t.db"), allowed_hosts=["*"])
    with CollectorServer(app) as server:
        assert request(server.port, "GET", "/healthz", host="anything.example").status == 200


def test_host_names_are_normalised() -> None:
    assert host_name("[::1]:8787") == "::1"
    assert host_name("LocalHost.:80") == "localhost"
    assert host_name("::1") == "::1"
    assert host_name("example.com") == "example.com"


# -- Origin: cross-site writes ------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example", "Content-Type": "text/plain"},
        {"Origin": "https://evil.example:443"},
        {"Origin": "null"},  # a sandboxed iframe or a file:// page
        {"Origin": "http://localhost.evil.example"},
        {"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"},
    ],
)
def test_a_cross_site_write_is_refused_and_nothing_stored(
    served: CollectorServer, headers: dict[str, str]
) -> None:
    sid = new_id()
    answer = request(served.port, "POST", "/v1/sessions", headers, body=session_body(sid))
    assert answer.status == 403, answer.body
    assert answer.json()["errorCode"] == "CROSS_SITE"
    assert not stored(served, sid)


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, the SDK, any client that is not a browser
        {"Origin": "http://127.0.0.1:8787"},
        {"Origin": "http://localhost:3000", "Sec-Fetch-Site": "same-site"},
        {"Origin": "http://[::1]:8787", "Sec-Fetch-Site": "same-origin"},
        {"Origin": "https://traces.internal"},
    ],
)
def test_writes_from_allowed_origins_and_non_browsers_pass(
    served: CollectorServer, headers: dict[str, str]
) -> None:
    sid = new_id()
    headers = {"Content-Type": "application/json", **headers}
    answer = request(served.port, "POST", "/v1/sessions", headers, body=session_body(sid))
    assert answer.status == 200, answer.body
    assert stored(served, sid)


def test_a_cross_site_read_is_left_to_the_browser(served: CollectorServer) -> None:
    # The same-origin policy keeps the answer from the page (no CORS headers are sent).
    answer = request(served.port, "GET", "/healthz", {"Origin": "http://evil.example"})
    assert answer.status == 200
    assert "access-control-allow-origin" not in answer.headers


# -- body limits --------------------------------------------------------------------------------


def test_a_declared_oversized_body_is_refused_before_it_is_sent(served: CollectorServer) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/sessions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1073741824\r\n\r\n"
        )  # 1 GiB announced, not a byte of it sent
        answer = Answer(read_all(sock))
    assert answer.status == 413
    assert "--max-body-mb" in answer.json()["message"]


def test_a_streamed_oversized_body_is_cut_off_while_it_streams(served: CollectorServer) -> None:
    """Chunked, no length: the collector answers 413 after about the limit (1 MiB) and closes,
    while the client still has most of its 64 MiB to send."""
    sent = 0
    total = 64 * MIB
    chunk = b"[" + b"1," * 32767 + b"1]"  # 64 KiB of valid-looking JSON noise
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/sessions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while sent < total:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection: what this test wants
        answer = Answer(read_all(sock))
    assert sent < total / 2, f"the collector took {sent:,} bytes"
    # The answer may be lost to a reset when the client was still writing; if read, it is 413.
    assert answer.status in (0, 413)


def test_a_compressed_bomb_is_cut_at_the_decoded_limit(served: CollectorServer) -> None:
    bomb = gzip.compress(b" " * (64 * MIB))  # 64 MiB of JSON whitespace in ~64 KiB
    assert len(bomb) < MIB
    answer = request(served.port, "POST", "/v1/sessions", {"Content-Encoding": "gzip"}, bomb)
    assert answer.status == 413, answer.body


def test_a_gzip_body_within_the_limit_is_decoded_and_stored(served: CollectorServer) -> None:
    sid = new_id()
    body = gzip.compress(session_body(sid))
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    assert request(served.port, "POST", "/v1/sessions", headers, body).status == 200
    assert stored(served, sid)


@pytest.mark.parametrize(
    ("encoding", "body", "status"),
    [("br", b"x", 415), ("gzip", b"not gzip at all", 400), ("gzip", b"\x1f\x8b\x08\x00", 400)],
)
def test_a_body_that_cannot_be_decoded_is_a_clear_error(
    served: CollectorServer, encoding: str, body: bytes, status: int
) -> None:
    answer = request(served.port, "POST", "/v1/sessions", {"Content-Encoding": encoding}, body)
    assert answer.status == status, answer.body
    assert answer.json()["success"] is False


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"size": len(await request.body())})


def test_a_stalled_body_is_answered_408() -> None:
    app = CollectorGuard(Starlette(routes=[Route("/", _echo, methods=["POST"])]), read_timeout=0.5)
    with CollectorServer(app, lifespan="off") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nabc")
            answer = Answer(read_all(sock))  # 97 bytes are never sent
        assert answer.status == 408
        assert request(server.port, "POST", "/", body=b"abc").json() == {"size": 3}


# -- connections --------------------------------------------------------------------------------


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_half_open_connections_are_closed_after_the_head_deadline(tmp_path: Path) -> None:
    """200 clients that connect and send nothing or half a request head: each is closed by the
    server within the deadline, and a real client is answered meanwhile."""
    db = str(tmp_path / "traces.db")
    with CollectorServer(create_app(db), **uvicorn_options(header_timeout=1.0)) as server:
        sockets = []
        try:
            for number in range(200):
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
                if number % 2:
                    sock.sendall(b"POST /v1/sessions HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                sockets.append(sock)
            assert request(server.port, "GET", "/healthz").status == 200
            for sock in sockets:
                sock.setblocking(False)
            open_ones = list(sockets)
            deadline = time.monotonic() + 20.0
            while open_ones and time.monotonic() < deadline:
                open_ones = [sock for sock in open_ones if not _closed_by_server(sock)]
                time.sleep(0.05)
            assert not open_ones, f"{len(open_ones)} of 200 half-open connections still held"
        finally:
            for sock in sockets:
                sock.close()


def test_a_kept_alive_connection_that_stalls_in_its_next_head_is_closed(tmp_path: Path) -> None:
    db = str(tmp_path / "traces.db")
    with CollectorServer(create_app(db), **uvicorn_options(header_timeout=1.0)) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            first = b""
            while not first.endswith(b'"ok"}'):  # the whole answer, head and body
                first += sock.recv(4096)
            assert b" 200 " in first
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: loc")  # and nothing more
            sock.settimeout(15.0)
            assert sock.recv(4096) == b""


def test_a_slow_but_steady_head_within_the_deadline_is_answered(tmp_path: Path) -> None:
    db = str(tmp_path / "traces.db")
    with CollectorServer(create_app(db), **uvicorn_options(header_timeout=5.0)) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            for part in (b"GET /healthz HTTP/1.1\r\n", b"Host: localhost\r\n", b"\r\n"):
                sock.sendall(part)
                time.sleep(0.1)
            assert b" 200 " in sock.recv(4096)


# -- the command line ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_flags_allow_host_and_max_body_mb(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", "honeytrace", "serve", "--db", str(tmp_path / "t.db")]
    command += ["--port", str(port), "--allow-host", "traces.internal", "--allow-host", "b.lan"]
    command += ["--max-body-mb", "0.01"]  # ~10 KiB
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(url + "/healthz", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return proc.poll() is not None

        assert wait_for(up, timeout=30) and proc.poll() is None
        assert request(port, "GET", "/healthz", host="traces.internal").status == 200
        assert request(port, "GET", "/healthz", host="b.lan:8787").status == 200
        assert request(port, "GET", "/healthz", host="c.lan").status == 421
        big = json.dumps({"session_id": new_id(), "inputs": {"x": "y" * 20_000}}).encode()
        assert request(port, "POST", "/v1/sessions", body=big).status == 413
        assert request(port, "POST", "/v1/sessions", body=session_body(new_id())).status == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_serve_refuses_a_bad_max_body(capsys: pytest.CaptureFixture[str]) -> None:
    from honeytrace.local.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--max-body-mb", "0"])
    assert exit_info.value.code == 2
    assert "--max-body-mb" in capsys.readouterr().err
