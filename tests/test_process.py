"""Whole processes: delivery at interpreter exit, and tracing across os.fork()."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.support.fake_api import FakeApi, fake_api_fixture

fake_api = fake_api_fixture

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


def script_env(api: FakeApi, **env: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])),
        "HH_API_KEY": "test-key",
        "HH_API_URL": api.url,
        **env,
    }


def run_script(
    code: str, api: FakeApi, timeout: float = 60.0, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=script_env(api, HONEYTRACE_RAISE_INTERNAL_ERRORS="1", **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def terminate_after_one_session(code: str, api: FakeApi) -> tuple[str, int]:
    """Start ``code`` (which prints its session id, then sleeps), SIGTERM it once the id is
    printed; the session id and the exit status."""
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=script_env(api, HONEYTRACE_FLUSH_INTERVAL="3600"),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    session_id = process.stdout.readline().strip()
    process.terminate()
    return session_id, process.wait(timeout=30)


def test_events_are_delivered_at_exit_without_flush(fake_api: FakeApi) -> None:
    result = run_script(
        """
        import honeytrace

        @honeytrace.trace_tool
        def work(i):
            return i

        with honeytrace.session("exit") as s:
            for i in range(20):
                work(i)
        print(s.session_id)
        """,
        fake_api,
        HONEYTRACE_FLUSH_INTERVAL="3600",
    )
    assert result.returncode == 0, result.stderr
    session_id = result.stdout.strip()
    assert len(fake_api.events_for(session_id)) == 20
    assert session_id in fake_api.sessions


PLUGIN = """
import threading

# What Logfire's pydantic plugin does on import: work that a Python at exit refuses.
threading._register_atexit(lambda: None)


class Plugin:
    def new_schema_validator(self, *args, **kwargs):
        return None, None, None


plugin = Plugin()
"""


def test_a_pydantic_plugin_that_fails_at_exit_loses_nothing(fake_api: FakeApi, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A short script with Logfire installed lost every event: the flusher imported its
    # pydantic models for the first time as the interpreter shut down, pydantic loaded the
    # installed plugins then, and Logfire's refused to load after shutdown had begun.
    (tmp_path / "failing_plugin.py").write_text(PLUGIN)
    info = tmp_path / "failing_plugin-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: failing-plugin\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[pydantic]\nfailing = failing_plugin:plugin\n")
    result = run_script(
        """
        import honeytrace

        @honeytrace.trace_tool
        def work(i):
            return i

        with honeytrace.session("exit") as s:
            for i in range(5):
                work(i)
        print(s.session_id)
        """,
        fake_api,
        HONEYTRACE_FLUSH_INTERVAL="3600",
        PYTHONPATH=os.pathsep.join([SRC, str(tmp_path)]),
    )
    assert result.returncode == 0, result.stderr
    session_id = result.stdout.strip()
    assert len(fake_api.events_for(session_id)) == 5, result.stderr
    assert session_id in fake_api.sessions


def test_a_session_still_open_at_exit_is_closed_and_marked_incomplete(fake_api: FakeApi) -> None:
    result = run_script(
        """
        import honeytrace

        s = honeytrace.session("left-open")
        s.__enter__()
        honeytrace.trace_tool(lambda: 1)()
        print(s.session_id)
        """,
        fake_api,
    )
    assert result.returncode == 0, result.stderr
    session = fake_api.sessions[result.stdout.strip()]
    assert session["metadata"]["incomplete"] is True
    assert isinstance(session["end_time"], int)


def test_exit_is_bounded_when_the_server_hangs(fake_api: FakeApi) -> None:
    fake_api.blackhole()
    result = run_script(
        """
        import honeytrace
        honeytrace.trace_tool(lambda: 1)()
        """,
        fake_api,
        timeout=30.0,
        HONEYTRACE_EXIT_TIMEOUT="1",
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_traces_and_does_not_resend_the_parents_events(fake_api: FakeApi) -> None:
    result = run_script(
        """
        import os, honeytrace

        @honeytrace.trace_tool
        def work(who):
            return who

        honeytrace.configure(flush_interval=3600)
        with honeytrace.session("parent") as s:
            work("before-fork")     # pending in the parent's buffer at fork time
            pid = os.fork()
            if pid == 0:
                with honeytrace.session("child") as c:
                    work("child")
                ok = honeytrace.flush(20)
                print("child", c.session_id, ok, honeytrace.stats().sent, flush=True)
                os._exit(0)
            os.waitpid(pid, 0)
            work("after-fork")
        print("parent", s.session_id, honeytrace.flush(20), flush=True)
        """,
        fake_api,
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    child_id, child_ok, child_sent = lines["child"].split()
    parent_id, parent_ok = lines["parent"].split()
    assert child_ok == "True" and parent_ok == "True"
    assert child_sent == "2"  # the child's own session and event, nothing of the parent's
    parent_events = [e["inputs"]["who"] for e in fake_api.events_for(parent_id)]
    assert sorted(parent_events) == ["after-fork", "before-fork"]
    assert [e["inputs"]["who"] for e in fake_api.events_for(child_id)] == ["child"]
    assert fake_api.duplicate_event_ids == []


def test_sigterm_delivers_then_dies_of_sigterm(fake_api: FakeApi) -> None:
    session_id, status = terminate_after_one_session(
        """
        import sys, time, honeytrace
        with honeytrace.session("terminated") as s:
            honeytrace.trace_tool(lambda: 1)()
        print(s.session_id, flush=True)
        time.sleep(60)
        """,
        fake_api,
    )
    assert status == -15
    assert len(fake_api.events_for(session_id)) == 1


def test_the_apps_own_sigterm_handler_still_runs(fake_api: FakeApi) -> None:
    session_id, status = terminate_after_one_session(
        """
        import signal, sys, time, honeytrace
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))
        with honeytrace.session("handled") as s:
            honeytrace.trace_tool(lambda: 1)()
        print(s.session_id, flush=True)
        time.sleep(60)
        """,
        fake_api,
    )
    assert status == 3
    assert len(fake_api.events_for(session_id)) == 1


def test_events_still_open_at_exit_are_delivered_as_incomplete(fake_api: FakeApi) -> None:
    result = run_script(
        """
        import threading, honeytrace

        started = threading.Event()

        @honeytrace.trace_tool
        def stuck():
            started.set()
            threading.Event().wait()

        @honeytrace.trace_chain
        def stream():
            yield 1
            yield 2

        with honeytrace.session("open-at-exit") as s:
            threading.Thread(target=honeytrace.wrap(stuck), daemon=True).start()
            started.wait(10)
            gen = stream()
            next(gen)                # abandoned half-way, still referenced
        print(s.session_id)
        """,
        fake_api,
    )
    assert result.returncode == 0, result.stderr
    events = {e["event_name"]: e for e in fake_api.events_for(result.stdout.strip())}
    assert set(events) == {"stuck", "stream"}
    assert events["stuck"]["metadata"]["incomplete"] is True
    assert events["stream"]["metadata"]["incomplete"] is True
    assert events["stream"]["outputs"] == {"result": [1]}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_multiprocessing_fork_workers_trace_like_preloaded_gunicorn(fake_api: FakeApi) -> None:
    result = run_script(
        """
        import multiprocessing, honeytrace

        @honeytrace.trace_session
        def handle(request):
            return honeytrace.trace_tool(lambda r: r * 2, name="work")(request)

        handle(0)               # the parent traced before forking: pending, unflushed
        honeytrace.configure(flush_interval=3600)

        def worker(n):
            handle(n)
            assert honeytrace.flush(20)

        ctx = multiprocessing.get_context("fork")
        processes = [ctx.Process(target=worker, args=(n,)) for n in (1, 2, 3)]
        for p in processes:
            p.start()
        for p in processes:
            p.join(30)
        print([p.exitcode for p in processes], honeytrace.flush(20))
        """,
        fake_api,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[0, 0, 0] True"
    inputs = sorted(s["inputs"]["request"] for s in fake_api.sessions.values())
    assert inputs == [0, 1, 2, 3]
    assert fake_api.event_count == 4
    assert fake_api.duplicate_event_ids == []
