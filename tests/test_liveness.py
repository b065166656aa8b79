"""Honest status: the heartbeat, the pid/host lease, and a dead process's run read as crashed by any reader."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import fast_run

import recordkit as rk

DEADLINE = 120.0
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX processes")


def _sql(store_path: Path, statement: str, *params: object) -> list[tuple[object, ...]]:
    """Read or change the database directly, as another process (or a dead one) would have left it."""
    conn = sqlite3.connect(store_path / "recordkit.db", timeout=60, isolation_level=None)
    try:
        return conn.execute(statement, params).fetchall()
    finally:
        conn.close()


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def _abandon(store: rk.Store, run: rk.Run) -> None:
    """Let go of a live run without finishing it, as a process that died would (no more heartbeats)."""
    from recordkit.runs import lifecycle

    store._writer.untrack(run.id)
    lifecycle.forget(run)
    store.flush()


def test_the_writer_thread_keeps_a_heartbeat(store_path: Path) -> None:
    with rk.open(store_path, heartbeat=0.05) as store:
        run = fast_run(store.collection("study"))
        started = run.start_time
        _wait_for(lambda: _sql(store_path, "SELECT heartbeat FROM runs")[0][0] > started, "a heartbeat")  # type: ignore[operator]
        run.next_step(3)
        _wait_for(lambda: _sql(store_path, "SELECT step FROM runs")[0][0] == 3, "the step counter")
        row = _sql(store_path, "SELECT host, pid FROM runs")[0]
        assert row[1] == os.getpid() and isinstance(row[0], str) and row[0]
        run.finish()


SLEEPS_IN_A_RUN = """
import sys, time
import recordkit as rk

run = rk.open(sys.argv[1]).collection("study").start_run(capture=False)
run.log(x=1.0)
run.flush()
print(run.id, flush=True)
time.sleep(600)
"""


def test_a_killed_process_reads_crashed_for_any_reader(tmp_path: Path) -> None:
    script = tmp_path / "sleeps.py"
    script.write_text(textwrap.dedent(SLEEPS_IN_A_RUN))
    store_path = tmp_path / "records"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECORDKIT_")}
    child = subprocess.Popen([sys.executable, str(script), str(store_path)], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
        assert run_id, "the child did not start its run"
        with rk.open(store_path) as reader:
            assert reader.run(run_id).status == "running"  # alive: nobody calls it crashed
        os.kill(child.pid, signal.SIGKILL)
        child.wait(DEADLINE)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert _sql(store_path, "SELECT status FROM runs") == [("running",)]  # nobody cleaned up
    with rk.open(store_path) as reader:
        run = reader.run(run_id)
        assert run.status == "crashed" and run.had_error and run.error_number == 1
        assert run.records[0]["x"] == 1.0
        assert "crashed" in run.events.names()
        assert run.events.named("crashed")[0].data["pid"] == child.pid


def test_a_reused_pid_does_not_keep_a_dead_run_alive(store_path: Path) -> None:
    with rk.open(store_path) as store:
        run = fast_run(store.collection("study"))
        run_id = run.id
        # The run's process "died" a minute ago (a heartbeat then), and its pid now belongs to a
        # process started later: a real, live process that cannot have written that heartbeat.
        newcomer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        try:
            _abandon(store, run)
            an_hour_ago = time.time() - 3600
            _sql(store_path, "UPDATE runs SET pid = ?, heartbeat = ? WHERE id = ?", newcomer.pid, an_hour_ago, run_id)
            with rk.open(store_path) as reader:
                assert reader.run(run_id).status == "crashed"
        finally:
            newcomer.kill()
            newcomer.wait()


def test_a_live_process_with_a_recent_heartbeat_stays_running(store_path: Path) -> None:
    with rk.open(store_path) as store:
        run = fast_run(store.collection("study"))
        elder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        try:
            _abandon(store, run)
            # A process started before the heartbeat could have written it: not a reuse.
            _sql(store_path, "UPDATE runs SET pid = ?, heartbeat = ? WHERE id = ?", elder.pid, time.time() + 5, run.id)
            with rk.open(store_path) as reader:
                assert reader.run(run.id).status == "running"
        finally:
            elder.kill()
            elder.wait()


def test_another_hosts_run_crashes_when_its_lease_expires(store_path: Path) -> None:
    with rk.open(store_path, lease=30) as store:
        fresh = fast_run(store.collection("study"))
        stale = fast_run(store.collection("study"))
        for run in (fresh, stale):
            _abandon(store, run)
        _sql(store_path, "UPDATE runs SET host = 'elsewhere', heartbeat = ? WHERE id = ?", time.time(), fresh.id)
        _sql(store_path, "UPDATE runs SET host = 'elsewhere', heartbeat = ? WHERE id = ?", time.time() - 31, stale.id)
        with rk.open(store_path, lease=30) as reader:
            assert reader.run(fresh.id).status == "running"
            assert reader.run(stale.id).status == "crashed"
