"""A full disk, on a real (small) file system: a run never reads finished with records missing, the error
says what to do, and everything logged is stored once there is room again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import engine_rows, fast_run, fill_disk, record_count, temp_files

import recordkit as rk

RECORDS = 20_000


def test_finish_on_a_full_disk_keeps_the_run_running_and_its_data_for_a_retry(small_disk: Path) -> None:
    store = rk.open(small_disk / "records")
    run = fast_run(store.collection("study"))
    run.log(loss=0.0, step=0)
    run.flush()
    filler = fill_disk(small_disk)
    try:
        for step in range(1, RECORDS):
            run.log(loss=step * 0.5, note=f"record {step}", step=step)
        with pytest.warns(rk.RecordkitWarning, match="disk is full"), pytest.raises(rk.StorageError) as failed:
            run.finish()
        message = str(failed.value)
        assert "\n" not in message
        assert "is not finished" in message and "disk is full" in message and "call run.finish() again" in message
        # Nothing says finished: the database, meta.json and the Run itself agree.
        assert engine_rows(store, "SELECT status, end_time FROM runs WHERE id = ?", (run.id,)) == [("running", None)]
        assert json.loads((run.folder / "meta.json").read_text())["status"] == "running"
        assert run.status == rk.RunStatus.RUNNING
        assert temp_files(small_disk / "records") == []
    finally:
        filler.unlink()  # room again: the same call now stores everything and ends the run
    run.finish()
    assert run.status == rk.RunStatus.FINISHED
    assert record_count(store, run.id) == RECORDS
    assert json.loads((run.folder / "meta.json").read_text())["status"] == "finished"
    assert [e.name for e in run.events].count("finished") == 1
    assert temp_files(small_disk / "records") == []
    store.close()


@pytest.mark.postgres
def test_a_full_files_folder_leaves_the_run_ended_and_finish_again_rewrites_meta_json(
    small_disk: Path, pg_url: str
) -> None:
    store = rk.open(pg_url, files=small_disk / "files")  # the database has room, the run folders do not
    run = fast_run(store.collection("study"), config={"big": "x" * 100_000})
    run.log(loss=1.0)
    before = (run.folder / "meta.json").read_text()
    filler = fill_disk(small_disk)
    try:
        with pytest.raises(rk.StorageError) as failed:
            run.finish()
        message = str(failed.value)
        assert "\n" not in message
        assert "is finished in the store, but its meta.json is out of date" in message
        assert "disk is full" in message and "call run.finish() again" in message
        assert (run.folder / "meta.json").read_text() == before  # the old file, whole
        assert temp_files(small_disk / "files") == []
    finally:
        filler.unlink()
    run.finish()
    assert json.loads((run.folder / "meta.json").read_text())["status"] == "finished"
    assert record_count(store, run.id) == 1
    store.close()
