"""The shared store through faults: a full spool disk, a server that is down or black-holed, a lease
that expires during an outage. The network is cut with the TCP proxy (tests/pgproxy.py), the disk is a
real small tmpfs; the machine's server is never stopped."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
from tests.conftest import fast_run, fill_disk, record_count, temp_files
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
