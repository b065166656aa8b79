"""The shared store through faults: a full spool disk, a server that is down or black-holed, a lease
that expires during an outage. The network is cut with the TCP proxy (tests/pgproxy.py), the disk is a
real small tmpfs; the machine's server is never stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from tests.conftest import engine_rows, fast_run, fill_disk, record_count, temp_files
from tests.pgproxy import Proxy

import recordkit as rk

pytestmark = pytest.mark.postgres


def test_a_full_spool_disk_keeps_every_batch_and_leaves_no_temp_file(
    pg_url: str, proxy: Proxy, small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECORDKIT_SPOOL", str(small_disk / "spool"))
    store = rk.open(proxy.via(pg_url))
    run = fast_run(store.collection("c"))
    run.log(i=0)
    run.flush()
    proxy.down()
    filler = fill_disk(small_disk)
    os.truncate(filler, filler.stat().st_size - 300_000)  # room for a few spooled batches, not for all
    errors = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for chunk in range(10):
            for i in range(1 + chunk * 2000, 1 + (chunk + 1) * 2000):
                run.log(i=i, note=f"record number {i} of the outage")
            try:
                run.flush(timeout=30)
            except rk.StorageError as exc:
                errors.append(str(exc))
    assert errors, "the spool's disk should have filled up"
    assert all("\n" not in e for e in errors) and any("disk is full" in e for e in errors), errors
    assert list((small_disk / "spool").rglob("*.batch")), "batches that fitted are spooled"
    assert temp_files(small_disk / "spool") == []
    filler.unlink()
    proxy.up()
    run.finish()
    assert record_count(store, run.id) == 20_001  # every record, once
    seqs = [r["i"] for r in rk.open(pg_url).run(run.id).records]
    assert seqs == list(range(20_001))
    assert not list((small_disk / "spool").rglob("*.batch"))
    store.close()


# --- lease vs outage -----------------------------------------------------------------------------
OFFLINE_FINISHER = """
import sys
import recordkit as rk
from recordkit.runs import meta

if sys.argv[2] != "here":
    meta._HOST = sys.argv[2]  # a run on another machine
store = rk.open(sys.argv[1])
run = store.collection("c").start_run(capture=False)
for i in range(50):
    run.log(i=i)
run.flush()
print(run.id, flush=True)
sys.stdin.readline()  # the parent cuts the network here
for i in range(50, 100):
    run.log(i=i)
run.finish()  # spooled: the server hears of it only when someone sends the spool
print(run.status, flush=True)
store.close()
"""


@pytest.mark.parametrize(
    ("host", "numbers"),
    [
        # Silence from another host may be an outage: the run keeps its number, the next run takes 2.
        pytest.param("elsewhere", {"late": 1, "next": 2}, id="lease-expired"),
        # A dead pid here frees the number; the late finish then takes the next free one.
        pytest.param("here", {"late": 2, "next": 1}, id="dead-process"),
    ],
)
def test_a_run_declared_crashed_during_an_outage_never_shares_its_number(
    pg_url: str, proxy: Proxy, tmp_path: Path, host: str, numbers: dict[str, int]
) -> None:
    script = tmp_path / "offline.py"
    script.write_text(OFFLINE_FINISHER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, str(script), proxy.via(pg_url), host], env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stdin is not None
    late_id = child.stdout.readline().strip()
    proxy.down()
    out, err = child.communicate("go\n", timeout=120)
    assert child.returncode == 0 and out.strip() == "finished", err
    store = rk.open(pg_url, lease=1.0)
    (heartbeat,) = engine_rows(store, "SELECT heartbeat FROM runs WHERE id = ?", (late_id,))[0]
    time.sleep(max(0.0, float(heartbeat) + 1.5 - time.time()))  # type: ignore[arg-type]
    with fast_run(store.collection("c")) as following:  # reaps the silent run as crashed first
        following.log(i=0)
    assert store.run(late_id).status is rk.RunStatus.CRASHED
    proxy.up()
    rk.open(proxy.via(pg_url)).close()  # adopts the dead process's spool and sends it: the late finish lands
    runs = {r.id: r for r in store.collection("c").runs()}
    late, following_row = runs[late_id], runs[following.id]
    assert (late.status, following_row.status) == (rk.RunStatus.FINISHED, rk.RunStatus.FINISHED)
    assert {"late": late.number, "next": following_row.number} == numbers
    assert [r["i"] for r in late.records] == list(range(100))  # nothing the late run recorded is lost
    store.close()


# --- a job that starts, runs and finishes with the server down -----------------------------------
OFFLINE_JOB = """
import sys
import recordkit as rk

store = rk.open(sys.argv[1], files=sys.argv[2])  # the server is down: the store opens offline
with store.collection("c").start_run(capture=False, config={"lr": 0.1}) as run:
    print(run.id, flush=True)
    for episode in range(1500):  # more scopes than one reserved block holds
        run.scope(episode=episode).log(reward=float(episode), step=episode)
    run.event("done", episodes=1500)
print(run.status, flush=True)
"""


def test_a_job_starts_runs_and_finishes_with_the_server_down_and_lands_once_later(
    pg_url: str, proxy: Proxy, tmp_path: Path
) -> None:
    script = tmp_path / "job.py"
    script.write_text(OFFLINE_JOB)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    rk.open(proxy.via(pg_url)).close()  # the store exists, and this machine has reached it before
    proxy.down()
    job = subprocess.run([sys.executable, str(script), proxy.via(pg_url), str(tmp_path / "files")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert job.returncode == 0, job.stderr
    run_id, status = job.stdout.split()
    assert status == "finished"
    assert "the store opens offline" in job.stderr and f"run {run_id} starts offline" in job.stderr
    proxy.up()
    # The same database by another spelling of its URL: the dead job's spool is adopted and sent.
    parts = proxy.via(pg_url).replace("postgresql://", "postgres://", 1)
    other_spelling = parts.replace("?", "?connect_timeout=7&", 1)
    assert other_spelling != proxy.via(pg_url)
    with rk.open(other_spelling) as store:
        run = store.run(run_id)
        assert run.status is rk.RunStatus.FINISHED and run.number == 1 and run.config["lr"] == 0.1
        rewards = [(r["episode"], r["reward"]) for r in run.records]
        assert rewards == [(e, float(e)) for e in range(1500)]  # each record exactly once, in order
        assert record_count(store, run_id) == 1500
        assert [e.name for e in run.events].count("done") == 1
    assert not list((tmp_path / "spool").rglob("*.batch"))


def test_a_store_never_reached_from_here_is_not_opened_offline(pg_url: str, proxy: Proxy) -> None:
    proxy.down()  # a mistyped or never-reached server fails at once instead of spooling forever
    with pytest.raises(rk.StorageUnavailableError, match=r"lost the PostgreSQL server|could not reach") as caught:
        rk.open(proxy.via(pg_url))
    assert "\n" not in str(caught.value)


def test_scopes_never_wait_on_a_black_holed_server(pg_url: str, proxy: Proxy) -> None:
    import threading

    store = rk.open(proxy.via(pg_url))
    run = fast_run(store.collection("c"))
    run.log(x=0.0)
    run.flush()
    proxy.freeze()  # connections stay open, nothing gets through: every round trip would hang
    made: list[int] = []

    def make_scopes() -> None:
        for i in range(3000):  # three reserved blocks' worth
            made.append(run.scope(i=i).scope_id)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        worker = threading.Thread(target=make_scopes, daemon=True)
        worker.start()
        worker.join(timeout=25)  # a hang detector, far above the instant it takes from memory
        assert not worker.is_alive(), f"run.scope() waited on the network ({len(made)} scopes made)"
        assert len(set(made)) == 3000
    proxy.up()
    run.scope(after=True).log(x=1.0)
    run.finish()
    check = rk.open(pg_url)
    assert [r["x"] for r in check.run(run.id).records] == [0.0, 1.0]
    assert len(check.run(run.id).records) == 2
    check.close()
    store.close()


def test_a_run_starts_while_the_network_swallows_every_packet(pg_url: str, proxy: Proxy) -> None:
    import threading

    store = rk.open(proxy.via(pg_url))
    first = fast_run(store.collection("c"))
    first.log(x=1.0)
    first.flush()
    proxy.freeze()  # the next round trip hangs until the connection is judged dead (keepalives)
    started: list[rk.Run] = []
    failed: list[BaseException] = []

    def start() -> None:
        try:
            started.append(fast_run(store.collection("c")))
        except BaseException as exc:
            failed.append(exc)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        worker = threading.Thread(target=start, daemon=True)
        worker.start()
        worker.join(timeout=120)  # a hang detector: the one stuck read ends with the keepalive verdict
        assert not worker.is_alive() and not failed, failed
        (second,) = started
        second.scope(phase="offline").log(x=2.0)
        proxy.up()
        second.finish()
        first.finish()
    store.close()
    with rk.open(pg_url) as check:
        assert sorted(r.number for r in check.collection("c").runs()) == [1, 2]
        assert [r["x"] for r in check.run(second.id).records] == [2.0]
        assert check.run(second.id).status is rk.RunStatus.FINISHED
