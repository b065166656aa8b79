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
