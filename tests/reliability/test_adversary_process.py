"""Issue 12, whole processes: signals, interpreter exit and its deadline.

Every script runs under ``sys.executable``, so CI's run on each CPython (3.10-3.13) covers the
exit path of that version (3.12 refuses new threads at exit: item 6).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import honeytrace
from tests.support.fake_api import FakeApi, fake_api_fixture

fake_api = fake_api_fixture

SRC = str(Path(honeytrace.__file__).resolve().parents[1])  # the package under test


def _env(api: FakeApi, **env: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])),
        "HH_API_KEY": "test-key",
        "HH_API_URL": api.url,
        "HONEYTRACE_RAISE_INTERNAL_ERRORS": "",
        **env,
    }


def _run(
    code: str, api: FakeApi, timeout: float = 60.0, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=_env(api, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# -- item 1: no lock on the application's threads ------------------------------------------


def test_traced_calls_from_a_signal_handler_during_an_overflow_do_not_deadlock(
    fake_api: FakeApi,
) -> None:
    """Item 1: the overflow counted its drop under a non-reentrant lock; a signal handler (or
    a ``__del__``) making a traced call, or calling ``stats()``, while its thread held it
    deadlocked that thread. Thousands of SIGALRMs land in a loop of overflowing calls."""
    fake_api.blackhole()  # the flusher hangs in its first request: the queue stays full
    result = _run(
        """
        import signal, honeytrace

        @honeytrace.trace_tool
        def work(i):
            return i

        def on_alarm(signum, frame):
            work(-1)
            honeytrace.stats()

        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
        with honeytrace.session("overflow"):
            for i in range(300_000):
                work(i)
        signal.setitimer(signal.ITIMER_REAL, 0)
        stats = honeytrace.stats()
        assert stats.dropped["queue_full"] > 0, stats
        print("done", flush=True)
        """,
        fake_api,
        timeout=60.0,
        HONEYTRACE_MAX_QUEUE="10",
        HONEYTRACE_EXIT_TIMEOUT="0.5",
    )
    fake_api.release()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"


def test_a_traced_call_from_a_signal_handler_while_the_flusher_starts_does_not_hang(
    fake_api: FakeApi,
) -> None:
    """A signal that lands while the first session starts the flusher (its modules being
    imported) and whose handler makes a traced call: that call must not start the flusher
    again (it waited forever on the import lock of the module half imported: 6 hangs in 30
    runs of the test above, bytecode not cached). Here the signal is raised from inside that
    import, every time; both events arrive."""
    result = _run(
        """
        import signal, sys, honeytrace

        @honeytrace.trace_tool
        def work(i):
            return i

        def on_signal(signum, frame):
            with honeytrace.session("from-the-handler"):
                work(-1)

        def raise_in_the_flusher_module(frame, event, arg):
            # the handler runs while honeytrace._deliver.flusher is half imported
            code = frame.f_code
            if code.co_name == "<module>" and code.co_filename.endswith("flusher.py"):
                sys.settrace(None)
                signal.raise_signal(signal.SIGUSR1)
            return None

        signal.signal(signal.SIGUSR1, on_signal)
        sys.settrace(raise_in_the_flusher_module)
        with honeytrace.session("outer"):
            work(1)
        assert honeytrace.flush(10)
        print("done", honeytrace.stats().sent, flush=True)
        """,
        fake_api,
        timeout=30.0,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "done"
    assert "internal error" not in result.stderr  # (the second start's import failed)
    names = {s.get("event_name") for s in fake_api.sessions.values()}
    assert {"outer", "from-the-handler"} <= names


def test_sigterm_under_a_full_queue_ends_every_process(fake_api: FakeApi) -> None:
    """Item 1: under a full queue, 6 of 20 processes were still alive 10 s after SIGTERM (our
    handler's traced work met the lock its own thread held)."""
    fake_api.blackhole()
    code = textwrap.dedent(
        """
        import honeytrace

        @honeytrace.trace_tool
        def work(i):
            return i

        with honeytrace.session("busy"):
            work(0)
            print("ready", flush=True)
            while True:
                work(1)
        """
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env=_env(fake_api, HONEYTRACE_MAX_QUEUE="10", HONEYTRACE_EXIT_TIMEOUT="1"),
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        for process in processes:
            process.send_signal(signal.SIGTERM)
        statuses = []
        for process in processes:
            try:
                statuses.append(process.wait(timeout=20))
            except subprocess.TimeoutExpired:
                statuses.append(None)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        fake_api.release()
    assert statuses == [-signal.SIGTERM] * 4  # delivered what it could, then died of SIGTERM


# -- item 6: exit delivery without new threads ----------------------------------------------


def test_several_sessions_pending_at_exit_are_all_delivered(fake_api: FakeApi) -> None:
    """Item 6: on 3.12 a script ending with more than one session pending delivered nothing:
    the exit path started sender threads ("can't create new thread at interpreter
    shutdown"). Exit delivery uses the threads that already run."""
    result = _run(
        """
        import honeytrace

        @honeytrace.trace_tool
        def work(i):
            return i

        for n in range(5):
            with honeytrace.session(f"s{n}") as session:
                for i in range(3):
                    work(i)
            print(session.session_id)
        """,
        fake_api,
        HONEYTRACE_FLUSH_INTERVAL="3600",
    )
    assert result.returncode == 0, result.stderr
    assert "can't create new thread" not in result.stderr
    session_ids = result.stdout.split()
    assert len(session_ids) == 5
    for session_id in session_ids:
        assert session_id in fake_api.sessions, result.stderr
        assert len(fake_api.events_for(session_id)) == 3
    assert fake_api.violations == []


# -- item 14: atexit hooks that run after ours ----------------------------------------------


def test_events_of_an_atexit_hook_registered_before_ours_are_delivered(
    fake_api: FakeApi,
) -> None:
    """Item 14: atexit runs hooks last-registered first, so a hook registered before
    honeytrace's runs after it: its events were lost, uncounted."""
    result = _run(
        """
        import atexit, honeytrace

        @honeytrace.trace_tool
        def work(i):
            return i

        def goodbye():
            with honeytrace.session("goodbye") as session:
                work(1)
                work(2)
            print(session.session_id, flush=True)

        atexit.register(goodbye)  # before honeytrace registers its own (at the first session)
        with honeytrace.session("main"):
            work(0)
        """,
        fake_api,
        HONEYTRACE_FLUSH_INTERVAL="3600",
    )
    assert result.returncode == 0, result.stderr
    session_id = result.stdout.strip()
    assert session_id in fake_api.sessions, result.stderr
    assert len(fake_api.events_for(session_id)) == 2
    assert fake_api.violations == []


# -- item 21: exit by its deadline ----------------------------------------------------------


def test_exit_returns_by_exit_timeout_when_the_server_hangs(fake_api: FakeApi) -> None:
    """Item 21: a blackholed run exited 5.55 s after its last line with exit_timeout=5 (0.5 s
    more for the flusher, plus the walk). The promise is exit_timeout + 100 ms; the test allows
    a second for the interpreter's own teardown on a busy machine."""
    fake_api.blackhole()
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import honeytrace

                @honeytrace.trace_tool
                def work(i):
                    return i

                for n in range(3):
                    with honeytrace.session(f"s{n}"):
                        work(n)
                print("last line", flush=True)
                """
            ),
        ],
        env=_env(fake_api, HONEYTRACE_EXIT_TIMEOUT="1", HONEYTRACE_TIMEOUT="30"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "last line"
        started = time.monotonic()
        process.wait(timeout=30)
        elapsed = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        fake_api.release()
    assert process.returncode == 0
    assert elapsed < 1 + 1.0, f"exited {elapsed:.2f} s after its last line (exit_timeout=1)"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="3.12+ refuse threads at exit")
def test_exit_refusing_new_threads_still_delivers_a_session_opened_late(
    fake_api: FakeApi,
) -> None:
    """Item 6 and 14 together, where it matters: on 3.12+ no thread can start once exit began,
    and a session opened by a late atexit hook needs a flusher: the exiting thread delivers."""
    result = _run(
        """
        import atexit, honeytrace

        @honeytrace.trace_tool
        def work(i):
            return i

        def late():
            with honeytrace.session("late") as session:
                work(1)
            print(session.session_id, flush=True)

        atexit.register(late)
        with honeytrace.session("first"):
            work(0)
        honeytrace.shutdown(5)  # no flusher left when the late hook runs
        """,
        fake_api,
    )
    assert result.returncode == 0, result.stderr
    session_id = result.stdout.strip()
    assert session_id in fake_api.sessions, result.stderr
    assert len(fake_api.events_for(session_id)) == 1
