"""The viewer's JSON read routes and its pages' plumbing, over real HTTP on 127.0.0.1: paging,
search, filters, sorts, ETags, the compact tree, deferred fields, compare, the login cookie and
the security headers. (The pages themselves are tested in a browser: test_viewer_browser.py.)"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from honeytrace.local.collector import create_app
from honeytrace.local.collector.viewer.pages import STATIC
from tests.support.collector_server import (
    CollectorServer,
    collector_fixture,
    collector_server,  # noqa: F401 -- registers the module-scoped server fixture
)

collector = collector_fixture
T0 = 1_700_000_000_000


def new_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def client(collector: CollectorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=collector.url, timeout=10.0) as http:
        yield http


def session(
    client: httpx.Client, name: str, start: int, *events: dict[str, Any], **fields: Any
) -> str:
    sid = new_id()
    body = {
        "session_id": sid,
        "session_name": name,
        "start_time": start,
        "source": "test",
        **fields,
    }
    assert client.post("/v1/sessions", json=body).status_code == 200
    if events:
        answer = client.post(f"/v1/sessions/{sid}/events/batch", json={"events": list(events)})
        assert answer.status_code == 200, answer.text
    return sid


def event(**fields: Any) -> dict[str, Any]:
    return {
        "event_id": new_id(),
        "event_type": "tool",
        "event_name": "step",
        "inputs": {},
        "start_time": T0,
        "duration": 5,
        **fields,
    }


def listed(client: httpx.Client, **params: Any) -> dict[str, Any]:
    answer = client.get("/api/sessions", params=params)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def names(page: dict[str, Any]) -> list[str]:
    return [row["name"] for row in page["sessions"]]


# -- the session list ---------------------------------------------------------------------


def test_sessions_paged_newest_first_with_total(client: httpx.Client) -> None:
    for number in range(7):
        session(client, f"s{number}", T0 + number * 1000)
    first = listed(client, limit=3)
    assert first["total"] == 7 and names(first) == ["s6", "s5", "s4"]
    last = listed(client, limit=3, offset=6)
    assert last["total"] == 7 and names(last) == ["s0"]
    assert names(listed(client, order="asc", limit=2)) == ["s0", "s1"]


def test_sessions_search_and_filters(client: httpx.Client) -> None:
    model = event(event_type="model", event_name="llm", config={"model": "gpt-x"})
    chat_events = [model, event(inputs={"q": "Where is my PARCEL"})]
    chat = session(client, "chat", T0, *chat_events)
    failed = session(client, "job", T0 + 1000, event(error="KeyError: 'missing-key'"))
    session(client, "other", T0 + 2000, source="prod")
    assert names(listed(client, q="CHA")) == ["chat"]  # name, any case
    assert names(listed(client, q="parcel")) == ["chat"]  # text in inputs
    assert names(listed(client, q="missing-key")) == ["job"]  # text in an error
    assert names(listed(client, q=failed[:8])) == ["job"]  # an id prefix
    assert names(listed(client, q=failed[:13].upper())) == ["job"]  # any case, with its hyphen
    tool_id = chat_events[1]["event_id"]
    assert names(listed(client, q=tool_id[:9])) == ["chat"]  # an event's id finds its session
    session(client, "facade", T0 + 3000)
    assert names(listed(client, q="facade")) == ["facade"]  # hex letters alone: a word
    assert names(listed(client, errors=1)) == ["job"]
    assert names(listed(client, model="gpt-x")) == ["chat"]
    assert names(listed(client, type="model")) == ["chat"]
    assert names(listed(client, source="prod")) == ["other"]
    assert names(listed(client, since=T0 + 500, until=T0 + 1500)) == ["job"]
    assert names(listed(client, since="2023-11-14T22:13:21Z", until=T0 + 2500)) == ["other", "job"]
    assert listed(client, q="nothing-like-this")["total"] == 0
    facets = client.get("/api/facets").json()
    assert facets == {
        "sources": ["prod", "test"],
        "models": ["gpt-x"],
        "types": ["model", "session", "tool"],
    }
    assert chat


def test_sessions_figures_and_sorts(client: httpx.Client) -> None:
    cheap = event(metrics={"prompt_tokens": 10, "completion_tokens": 2, "cost_usd": 0.001})
    dear = event(metrics={"input_tokens": 100, "output_tokens": 20, "cost_usd": 0.5})
    session(client, "cheap", T0, cheap, duration=900)
    session(client, "dear", T0 + 1000, dear, event(error="boom"), duration=50)
    session(client, "free", T0 + 2000, duration=10)
    rows = {row["name"]: row for row in listed(client)["sessions"]}
    assert rows["dear"]["events"] == 2 and rows["dear"]["errors"] == 1
    assert (rows["dear"]["tokens_in"], rows["dear"]["tokens_out"]) == (100, 20)
    assert rows["dear"]["cost"] == 0.5 and rows["free"]["cost"] is None
    assert names(listed(client, sort="cost")) == ["dear", "cheap", "free"]
    assert names(listed(client, sort="cost", order="asc")) == ["cheap", "dear", "free"]
    assert names(listed(client, sort="duration")) == ["cheap", "dear", "free"]


def test_sessions_etag_holds_until_a_write(client: httpx.Client) -> None:
    session(client, "one", T0)
    first = client.get("/api/sessions")
    etag = first.headers["etag"]
    again = client.get("/api/sessions", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other_query = client.get("/api/sessions?limit=5", headers={"If-None-Match": etag})
    assert other_query.status_code == 200
    session(client, "two", T0 + 1)
    changed = client.get("/api/sessions", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and names(changed.json()) == ["two", "one"]


@pytest.mark.parametrize(
    ("query", "word"),
    [("sort=name", "sort"), ("order=up", "order"), ("limit=0", "limit"), ("limit=x", "limit"),
     ("since=yesterday", "since")],
)  # fmt: skip
def test_sessions_bad_query_is_400_naming_it(client: httpx.Client, query: str, word: str) -> None:
    answer = client.get(f"/api/sessions?{query}")
    assert answer.status_code == 400 and word in answer.json()["message"]


# -- one session --------------------------------------------------------------------------


def test_session_view_is_a_compact_depth_first_tree(client: httpx.Client) -> None:
    sid = new_id()
    chain = event(event_id=new_id(), event_type="chain", event_name="chain", start_time=T0 + 1)
    late = event(event_name="late", start_time=T0 + 3, parent_id=chain["event_id"])
    early = event(
        event_name="early",
        start_time=T0 + 2,
        parent_id=chain["event_id"],
        metrics={"prompt_tokens": 3, "completion_tokens": 4, "cost_usd": 0.25},
    )
    still_open = event(event_name="open", start_time=T0 + 4, duration=None)
    closed_at_exit = event(event_name="cut", start_time=T0 + 5, metadata={"incomplete": True})
    body = {"session_id": sid, "session_name": "tree", "start_time": T0,
            "metadata": {"honeytrace": {"dropped_events": 3}}}  # fmt: skip
    client.post("/v1/sessions", json=body)
    client.post(
        f"/v1/sessions/{sid}/events/batch",
        json={"events": [late, chain, still_open, early, closed_at_exit]},
    )
    view = client.get(f"/api/sessions/{sid}").json()
    columns = view["columns"]
    rows = [dict(zip(columns, row, strict=True)) for row in view["events"]]
    assert [row["event_name"] for row in rows] == ["tree", "chain", "early", "late", "open", "cut"]
    assert [row["depth"] for row in rows] == [0, 1, 2, 2, 1, 1]
    assert [row["parent"] for row in rows] == [-1, 0, 1, 1, 0, 0]
    assert [row["state"] for row in rows][4:] == ["open", "incomplete"]
    assert (rows[2]["tokens_in"], rows[2]["tokens_out"], rows[2]["cost"]) == (3, 4, 0.25)
    assert view["totals"]["events"] == 5 and view["totals"]["cost"] == 0.25
    assert view["totals"]["tokens"] == {
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
    }
    assert view["session"]["dropped_events"] == 3
    assert client.get(f"/api/sessions/{new_id()}").status_code == 404
    assert client.get("/api/sessions/not-a-uuid").status_code == 400


def test_event_details_defer_big_fields_and_serve_them_whole(client: httpx.Client) -> None:
    big = "x" * 300_000
    tool = event(inputs={"document": big}, outputs={"n": 1}, metadata={"traceback": "Tb"})
    session(client, "big", T0, tool)
    detail = client.get(f"/api/events/{tool['event_id']}").json()
    assert detail["inputs"] is None and detail["deferred"] == {"inputs": 300_015}
    assert detail["outputs"] == {"n": 1} and detail["metadata"] == {"traceback": "Tb"}
    whole = client.get(f"/api/events/{tool['event_id']}/fields/inputs")
    assert whole.headers["content-type"] == "application/json"
    assert whole.json() == {"document": big}
    assert client.get(f"/api/events/{tool['event_id']}/fields/nope").status_code == 400
    assert client.get(f"/api/events/{new_id()}").status_code == 404


def test_compare_aligns_paths_and_marks_differences(client: httpx.Client) -> None:
    def run(answer: str, extra: bool) -> str:
        steps = [
            event(event_name="search", outputs={"hits": 2}),
            event(
                event_type="model", event_name="llm", outputs={"text": answer}, start_time=T0 + 1
            ),
        ]
        if extra:
            steps.append(event(event_name="retry", start_time=T0 + 2))
        return session(client, "run", T0, *steps)

    first, second = run("yes", extra=False), run("no", extra=True)
    result = client.get(f"/api/compare?a={first}&b={second}").json()
    rows = {row["event_name"]: row for row in result["rows"]}
    assert list(rows) == ["run", "search", "llm", "retry"]
    assert rows["search"]["outputs_differ"] is False
    assert rows["llm"]["outputs_differ"] is True
    assert rows["retry"]["a"] is None and rows["retry"]["b"]["duration"] == 5
    assert result["a"]["totals"]["events"] == 2 and result["b"]["totals"]["events"] == 3
    assert client.get(f"/api/compare?a={first}&b={new_id()}").status_code == 404
    assert client.get(f"/api/compare?a={first}").status_code == 400


# -- pages, login, headers ----------------------------------------------------------------


def test_every_answer_has_the_security_headers(client: httpx.Client) -> None:
    for path in ("/", f"/sessions/{new_id()}", "/compare", "/static/app.js", "/api/sessions",
                 "/api/events/nope", "/nowhere"):  # fmt: skip
        answer = client.get(path)
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe" not in csp, path
        assert answer.headers["x-content-type-options"] == "nosniff", path
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")


def test_static_files_reference_nothing_external() -> None:
    files = sorted(path.name for path in STATIC.iterdir())
    assert {"index.html", "login.html", "app.js", "viewer.css"} <= set(files)
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), path.name
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text, path.name
        if path.suffix == ".html":
            assert "<script>" not in text and " style=" not in text, path.name  # CSP-clean


def test_login_cookie_opens_reads_not_writes(tmp_path: Path) -> None:
    app = create_app(str(tmp_path / "traces.db"), api_key="k3y")
    with CollectorServer(app) as server, httpx.Client(base_url=server.url) as http:
        browser_get = http.get("/", headers={"Accept": "text/html"})
        assert browser_get.status_code == 303 and browser_get.headers["location"] == "/login"
        assert http.get("/login").status_code == 200  # the form and its assets need no key
        assert http.get("/static/viewer.css").status_code == 200
        wrong = http.post("/login", data={"key": "nope"})
        assert wrong.status_code == 303 and wrong.headers["location"] == "/login?failed=1"
        assert "set-cookie" not in wrong.headers
        right = http.post("/login", data={"key": "k3y"})
        assert right.status_code == 303 and right.headers["location"] == "/"
        cookie = right.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert "k3y" not in cookie
        # httpx keeps the cookie from now on: reads pass, writes still need the bearer key.
        assert http.get("/api/sessions").status_code == 200
        assert http.get("/", headers={"Accept": "text/html"}).status_code == 200
        assert http.post("/v1/sessions", json={"session_name": "x"}).status_code == 401
        bearer = {"Authorization": "Bearer k3y"}
        assert (
            http.post("/v1/sessions", json={"session_name": "x"}, headers=bearer).status_code == 200
        )
        forged = httpx.get(server.url + "/api/sessions", cookies={"honeytrace_login": "forged"})
        assert forged.status_code == 401
        out = http.post("/logout")
        assert out.status_code == 303 and 'honeytrace_login=""' in out.headers["set-cookie"]


def test_login_page_without_a_key_goes_home(client: httpx.Client) -> None:
    answer = client.get("/login")
    assert answer.status_code == 303 and answer.headers["location"] == "/"
