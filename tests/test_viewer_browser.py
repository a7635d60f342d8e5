"""The trace viewer in a real browser: headless Chromium (Debian's package, never a downloaded
one) driven by Playwright against a real collector filled by real traced code.

Run only these with ``pytest -m browser``; they are part of the normal suite too. The set-up
installs ``chromium`` with apt-get when it is missing and the suite runs as root, and skips with
the reason otherwise. Screenshots of the sessions page and a trace go to
``.test-artifacts/screenshots/`` (``HONEYTRACE_SCREENSHOTS=docs/screenshots`` refreshes the
README's copies).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from honeytrace.local.collector import create_app
from tests.support import viewer_data
from tests.support.collector_server import CollectorServer

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Every run saves its screenshots (CI keeps them as artifacts of the run); the README's copies
# in docs/screenshots/ change only on purpose: HONEYTRACE_SCREENSHOTS=docs/screenshots.
SCREENSHOTS = Path(
    os.environ.get("HONEYTRACE_SCREENSHOTS")
    or Path(__file__).resolve().parents[1] / ".test-artifacts" / "screenshots"
)
WAIT_MS = 10_000
KEY = "viewer-s3cret"

# Playwright must use the system Chromium, never fetch its own.
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


def _install_chromium() -> str | None:
    """None when /usr/bin/chromium is there (installed now if need be), else why it is not."""
    if os.path.exists(CHROMIUM):
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"{CHROMIUM} is missing and apt-get cannot run here (not root, or no apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=900, check=False
        )
        if done.returncode != 0:
            return f"{' '.join(command)} failed: {done.stderr[-500:]}"
    return None if os.path.exists(CHROMIUM) else f"chromium installed but {CHROMIUM} is absent"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for this module. Not for the session: Playwright's sync API keeps
    its event loop running in the main thread while it is started, and later tests that call
    asyncio.run() would fail."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    problem = _install_chromium()
    if problem:
        pytest.skip(problem)
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, viewer_data.Recorded]]:
    """A collector (no key) holding the recorded sessions; its URL and their ids."""
    db = str(tmp_path_factory.mktemp("viewer") / "traces.db")
    with CollectorServer(create_app(db), db) as server:
        yield server.url, viewer_data.record(server.url)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on(
        "console",
        lambda msg: errors.append(msg.text) if msg.type == "error" else None,
    )
    yield tab
    context.close()
    assert not errors, errors  # no script error and no CSP violation on any page


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def rows(page: Any) -> Any:
    return page.locator("#session-rows tr[data-session-id]")


# -- sessions page ------------------------------------------------------------------------


def test_sessions_page_lists_searches_and_filters(page: Any, served: Any) -> None:
    url, recorded = served
    response = page.goto(url + "/")
    assert response.status == 200
    expect(rows(page)).to_have_count(5)
    expect(page.locator("#total")).to_have_text(re.compile(r"1.5 of 5 sessions"))
    starts = [row.locator("td").nth(3).inner_text() for row in rows(page).all()]
    assert starts == sorted(starts, reverse=True) and starts[0] > starts[-1]  # newest first
    support = page.locator(f"tr[data-session-id='{recorded.support}']")
    expect(support.locator("td").nth(7)).to_have_text("84")  # tokens in
    expect(support.locator("td").nth(8)).to_have_text("34")  # tokens out
    expect(support.locator("td").nth(9)).to_have_text("$0.00420")  # cost
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "sessions.png"))

    page.fill("#search", "refunds")  # text inside inputs
    expect(rows(page)).to_have_count(2)
    page.fill("#search", recorded.failing[:8])  # an id prefix
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_have_attribute("data-session-id", recorded.failing)
    page.fill("#search", "")
    expect(rows(page)).to_have_count(5)
    page.check("#errors-only")  # both support chats hold a handled error, plus the failing one
    expect(rows(page)).to_have_count(3)
    assert "errors=1" in page.url
    page.select_option("#type", "model")
    expect(rows(page)).to_have_count(2)


def test_new_sessions_appear_without_reload(page: Any, tmp_path: Path) -> None:
    with CollectorServer(create_app(str(tmp_path / "traces.db"))) as server:
        page.goto(server.url + "/")
        expect(page.locator("#session-rows")).to_contain_text("No sessions yet")
        for number in (1, 2):
            body = {"session_name": f"late-{number}"}
            created = httpx.post(server.url + "/v1/sessions", json=body)
            assert created.status_code == 200
            expect(rows(page)).to_have_count(number)
            expect(rows(page).first).to_contain_text(f"late-{number}")
        expect(page.locator("#total")).to_have_text(re.compile(r"^1.2 of 2 sessions$"))


def test_sort_by_cost(page: Any, served: Any) -> None:
    url, recorded = served
    page.goto(url + "/?sort=cost&order=desc&type=model")
    expect(rows(page)).to_have_count(2)
    assert rows(page).first.get_attribute("data-session-id") in (
        recorded.support,
        recorded.support_again,
    )


# -- trace page ---------------------------------------------------------------------------


def test_trace_page_tree_waterfall_and_totals(page: Any, served: Any) -> None:
    url, recorded = served
    page.goto(f"{url}/sessions/{recorded.support}")
    bars = page.locator(".bar")
    expect(bars).to_have_count(9)  # the session and its 8 events
    tree = httpx.get(f"{url}/api/sessions/{recorded.support}").json()
    expected = [row[0] for row in tree["events"]]
    assert [bars.nth(i).get_attribute("data-event-id") for i in range(9)] == expected
    names = page.locator(".row .ev-name").all_inner_texts()
    assert names == [
        "support-chat",
        "answer",
        "search_knowledge_base",
        "lookup_order",
        "generate",
        "answer",
        "search_knowledge_base",
        "lookup_order",
        "generate",
    ]
    # Bars are placed by start time: a child never starts left of its parent, later siblings
    # never left of earlier ones.
    lefts = [bars.nth(i).bounding_box()["x"] for i in range(9)]
    assert lefts[1] >= lefts[0] and lefts[2] >= lefts[1] and lefts[5] >= lefts[1]
    assert "error" in (bars.nth(7).get_attribute("class") or "")  # lookup_order of B-2
    expect(page.locator("#total-events .value")).to_have_text("8")
    expect(page.locator("#total-errors .value")).to_have_text("1")
    expect(page.locator("#total-tokens-in .value")).to_have_text("84")
    expect(page.locator("#total-tokens-out .value")).to_have_text("34")
    expect(page.locator("#total-cost .value")).to_have_text("$0.00420")
    expect(page.locator("#total-duration .value")).to_have_text(re.compile(r"\d"))
    # Collapse the first chain: its three children leave the tree and the waterfall.
    page.locator(".row").nth(1).locator("button.toggle").click()
    expect(bars).to_have_count(6)
    page.locator(".row").nth(1).locator("button.toggle").click()
    expect(bars).to_have_count(9)


def test_model_event_shows_tokens_messages_and_config(page: Any, served: Any) -> None:
    url, recorded = served
    page.goto(f"{url}/sessions/{recorded.support}")
    page.locator(".row", has_text="generate").first.click()
    expect(page.locator("#detail-title")).to_contain_text("generate")
    usage = page.locator("#usage")
    expect(usage).to_contain_text("tokens in42")
    expect(usage).to_contain_text("tokens out17")
    expect(usage).to_contain_text("tokens total59")
    expect(usage).to_contain_text("time to first token120 ms")
    chat = page.locator("#conversation")
    expect(chat.locator("li")).to_have_count(3)
    expect(chat.locator("li").nth(0)).to_contain_text("system")
    expect(chat.locator("li").nth(0)).to_contain_text("You are a helpful support agent.")
    expect(chat.locator("li").nth(1)).to_contain_text("How do refunds work?")
    expect(chat.locator("li").nth(2)).to_contain_text("friendly: Refunds are issued")
    expect(chat.locator(".tool-call")).to_contain_text("lookup_order")
    config = page.locator("[data-section='config']")
    expect(config).to_contain_text("fake-gpt")
    expect(config).to_contain_text("temperature")
    ids = page.locator("[data-section='times and ids']")
    expect(ids.locator("button.copy")).to_have_count(5)  # start, end, event, parent, session
    page.wait_for_timeout(50)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "trace.png"))


def test_error_event_shows_error_and_traceback(page: Any, served: Any) -> None:
    url, recorded = served
    page.goto(f"{url}/sessions/{recorded.failing}")
    page.locator(".row", has_text="explode").click()
    expect(page.locator("#error-text")).to_have_text("ValueError: limit 3 is too small")
    expect(page.locator("pre.traceback")).to_contain_text("Traceback")
    expect(page.locator("pre.traceback")).to_contain_text("raise ValueError")


def test_big_input_is_loaded_on_demand(page: Any, served: Any) -> None:
    url, recorded = served
    page.goto(f"{url}/sessions/{recorded.big}")
    page.locator(".row", has_text="summarize").click()
    load = page.locator("button.load")
    expect(load).to_contain_text("Load inputs")
    load.click()
    section = page.locator("[data-section='inputs']")
    more = section.locator("button.more")
    expect(more).to_contain_text("show all")  # a long string says it is long
    more.click()
    expect(section.locator(".j-str")).to_contain_text("lorem ipsum lorem ipsum")
    text = section.locator(".j-str").inner_text()
    assert len(text) > 200_000


def test_keyboard_navigation(page: Any, served: Any) -> None:
    url, recorded = served
    page.goto(url + "/")
    expect(rows(page)).to_have_count(5)
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search"
    page.keyboard.press("Escape")
    page.keyboard.press("ArrowDown")  # the first row
    page.keyboard.press("ArrowDown")  # the second
    expect(page.locator("tr.cursor")).to_have_count(1)
    second = rows(page).nth(1).get_attribute("data-session-id")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{url}/sessions/{second}")

    page.goto(f"{url}/sessions/{recorded.support}")
    expect(page.locator(".bar")).to_have_count(9)
    page.locator("#rows").focus()
    for _ in range(4):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("#detail-title")).to_contain_text("generate")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    expect(page.locator("#detail-title")).to_contain_text("lookup_order")


def test_compare_two_sessions(page: Any, served: Any) -> None:
    url, recorded = served
    page.goto(url + "/?q=support")
    expect(rows(page)).to_have_count(2)
    expect(page.locator("#compare")).to_be_disabled()
    for session_id in (recorded.support, recorded.support_again):
        page.locator(f"tr[data-session-id='{session_id}'] input.pick").check()
    page.click("#compare")
    expect(page).to_have_url(re.compile(r"/compare\?a="))
    table = page.locator("#compare-table tbody tr")
    expect(table).to_have_count(9)  # the sessions, then their 8 aligned event paths
    differs = page.locator("#compare-table tr.differs")
    # The two styles make each model answer (and so each chain's result) differ.
    expect(differs).to_have_count(4)
    expect(differs.first).to_contain_text("outputs differ")
    differs.last.locator("button.diff").click()  # the second model answer, both sides
    shown = page.locator("#compare-table tr.outputs-row")
    expect(shown.locator(".card").nth(0)).to_contain_text("friendly: unknown order")
    expect(shown.locator(".card").nth(1)).to_contain_text("terse: unknown order")
    expect(page.locator(".side-a")).to_contain_text("$0.00420")


def test_trace_data_is_escaped_never_run(page: Any, served: Any) -> None:
    url, recorded = served
    page.goto(url + "/")
    hostile_row = page.locator(f"tr[data-session-id='{recorded.hostile}']")
    expect(hostile_row).to_contain_text("<script>window.__pwned = 1</script>")
    page.goto(f"{url}/sessions/{recorded.hostile}")
    page.locator(".row", has_text="hostile-tool").click()
    expect(page.locator("[data-section='inputs']")).to_contain_text("<img src=x onerror=")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main script, main img").count() == 0


def test_security_headers(page: Any, served: Any) -> None:
    url, _ = served
    response = page.goto(url + "/")
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    api = page.request.get(url + "/api/sessions")
    assert api.headers["content-security-policy"] == csp
    # Nothing is fetched from anywhere but the collector itself.
    origins: set[str] = set()
    page.on("request", lambda request: origins.add(request.url.split("/")[2]))
    page.reload()
    expect(rows(page)).to_have_count(5, timeout=WAIT_MS)
    assert origins == {url.split("/")[2]}


def test_login_with_key_sets_http_only_cookie(browser: Any, tmp_path: Path) -> None:
    app = create_app(str(tmp_path / "traces.db"), api_key=KEY)
    with CollectorServer(app) as server:
        recorded = viewer_data.record(server.url, api_key=KEY)
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(server.url + "/")
        expect(page).to_have_url(server.url + "/login")
        page.fill("#key", "not-the-key")
        page.click("button[type=submit]")
        expect(page.locator("#failed")).to_be_visible()
        assert context.cookies() == []
        page.fill("#key", KEY)
        page.click("button[type=submit]")
        expect(page).to_have_url(server.url + "/")
        expect(rows(page)).to_have_count(5)
        (cookie,) = context.cookies()
        assert cookie["name"] == "honeytrace_login" and cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict" and cookie["path"] == "/"
        assert KEY not in cookie["value"]
        assert page.evaluate("document.cookie") == ""  # out of scripts' reach
        page.goto(f"{server.url}/sessions/{recorded.support}")
        expect(page.locator(".bar")).to_have_count(9)
        # The cookie opens reads only: a write still needs the bearer key.
        write = page.request.post(server.url + "/v1/sessions", data={"session_name": "x"})
        assert write.status == 401
        assert page.request.get(server.url + "/api/sessions").status == 200
        context.close()


def test_open_events_and_incomplete_sessions_say_so(page: Any, tmp_path: Path) -> None:
    with CollectorServer(create_app(str(tmp_path / "traces.db"))) as server:
        sid = str(uuid.uuid4())
        session = {
            "session_id": sid,
            "session_name": "cut-short",
            "start_time": 1_700_000_000_000,
            "metadata": {"incomplete": True, "honeytrace": {"dropped_events": 2}},
        }
        assert httpx.post(server.url + "/v1/sessions", json=session).status_code == 200
        base = {"event_type": "tool", "inputs": {}, "start_time": 1_700_000_000_001}
        events = [
            {**base, "event_name": "still-running"},
            {**base, "event_name": "closed-at-exit", "duration": 3,
             "metadata": {"incomplete": True}},
        ]  # fmt: skip
        batch = httpx.post(f"{server.url}/v1/sessions/{sid}/events/batch", json={"events": events})
        assert batch.status_code == 200
        page.goto(f"{server.url}/sessions/{sid}")
        banners = page.locator(".banners")
        expect(banners).to_contain_text("marked incomplete")
        expect(banners).to_contain_text("2 events of this session were dropped")
        expect(banners).to_contain_text("1 event(s) have no end yet")
        expect(page.locator(".row", has_text="still-running").locator(".tag")).to_have_text("open")
        closed = page.locator(".row", has_text="closed-at-exit").locator(".tag")
        expect(closed).to_have_text("incomplete")
