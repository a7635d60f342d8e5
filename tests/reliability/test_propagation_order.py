"""Propagation against a strict server: the attached side's events never reach it before the
session they join (issue 12, item 22)."""

from __future__ import annotations

import json
import queue
import threading
import urllib.request
import uuid

import honeytrace
from honeytrace.propagation import attach, inject
from tests.support.fake_api import FakeApi, fake_api_fixture

fake_api = fake_api_fixture


@honeytrace.trace_tool
def tool(i: int) -> int:
    return i


def test_attach_in_another_thread_joins_the_session_live_in_this_process(
    fake_api: FakeApi,
) -> None:
    honeytrace.configure(api_key="test-key", server_url=fake_api.url, retry_deadline=20.0)
    handed: queue.Queue[dict[str, str]] = queue.Queue()
    done = threading.Event()

    def worker() -> None:  # the "service called", in the same process
        with attach(handed.get(timeout=10)):
            tool(7)
        done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    with honeytrace.session("caller") as session:
        handed.put(inject({}))
        assert done.wait(10)
        # The worker's event is finished while the session is still open: flushed now, it
        # must not go ahead of the session's create.
        assert honeytrace.flush(10)
    thread.join(10)
    assert honeytrace.flush(10)
    assert fake_api.violations == []
    (event,) = fake_api.events_for(session.session_id)
    assert event["inputs"] == {"i": 7}
    assert honeytrace.stats().dropped == {}


def test_a_batch_for_a_session_not_yet_created_by_its_owner_is_retried(
    fake_api: FakeApi,
) -> None:
    honeytrace.configure(api_key="test-key", server_url=fake_api.url, retry_deadline=20.0)
    session_id = str(uuid.uuid4())
    headers = {"baggage": f"honeytrace.session_id={session_id}"}
    with attach(headers):
        tool(1)
    honeytrace.flush(0.1)
    # The owning service creates its session only now: the batch was answered "not found".
    assert fake_api.wait_for(lambda: fake_api.requests_for("batch") != [], 10)
    request = urllib.request.Request(
        f"{fake_api.url}/v1/sessions",
        data=json.dumps({"session_id": session_id, "session_name": "owner"}).encode(),
        headers={
            "Authorization": "Bearer test-key",
            "Content-Type": "application/json",
            "User-Agent": "honeytrace/owner",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
    assert honeytrace.flush(20)
    assert len(fake_api.events_for(session_id)) == 1
    assert honeytrace.stats().dropped == {}
