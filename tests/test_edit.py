"""Editing a run afterwards: name, tags and notes, on both engines, without touching its records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import engine_rows, fast_run, record_count

import recordkit as rk
from recordkit.runs.edit import changes

pytestmark = pytest.mark.backends("sqlite", "postgres")


def _records(run: rk.Run) -> list[tuple[int, float | None]]:
    return [(r["step"], r["loss"]) for r in run.records]


def test_a_finished_run_read_back_is_renamed_retagged_and_annotated(fresh_store: rk.Store) -> None:
    col = fresh_store.collection("study")
    with fast_run(col, name="draft", tags=["mlp", "old"]) as run:
        for step in range(3):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
    before, stored_records = _records(run), record_count(fresh_store, run.id)
    read = fresh_store.run(run.id)
    read.name = "baseline"
    read.tags = [*read.tags, "best"]
    read.notes = "lr too high after step 3k"
    read.edit(remove_tags=["old"])
    again = fresh_store.collection("study").run(1)  # a fresh read from the database
    assert (again.name, again.tags, again.notes) == ("baseline", ("mlp", "best"), "lr too high after step 3k")
    assert _records(again) == before and record_count(fresh_store, run.id) == stored_records
    assert {r["run_name"] for r in again.records} == {"baseline"}  # flat records read the new name
    assert [r.id for r in fresh_store.runs(where={"tag": "best"})] == [run.id]
    assert again.status is rk.RunStatus.FINISHED and again.number == 1
    (tags,) = engine_rows(fresh_store, "SELECT tags FROM runs WHERE id = ?", (run.id,))[0]
    assert json.loads(str(tags)) == ["mlp", "best"]
    meta = json.loads((again.folder / "meta.json").read_text())
    assert (meta["name"], meta["tags"], meta["notes"], meta["status"]) == (
        "baseline", ["mlp", "best"], "lr too high after step 3k", "finished")


def test_a_live_run_is_edited_and_goes_on_logging(fresh_store: rk.Store) -> None:
    col = fresh_store.collection("study")
    run = fast_run(col, name="a")
    run.log(loss=1.0)
    run.name = "b"
    fresh_store.run(run.id).edit(add_tags=["watch"], notes="from another handle")
    run.log(loss=0.5)
    run.finish()
    final = fresh_store.run(run.id)
    assert (final.name, final.tags, final.notes) == ("b", ("watch",), "from another handle")
    assert [r["loss"] for r in final.records] == [1.0, 0.5]
    assert json.loads((final.folder / "meta.json").read_text())["notes"] == "from another handle"


def test_clearing_and_bad_values(fresh_store: rk.Store) -> None:
    with fast_run(fresh_store.collection("study"), name="x") as run:
        pass
    run.name = ""
    run.notes = None
    assert (fresh_store.run(run.id).name, fresh_store.run(run.id).notes) == (None, None)
    with pytest.raises(TypeError, match="list of strings"):
        run.tags = "best"  # type: ignore[assignment]
    with pytest.raises(TypeError, match="string or None"):
        run.name = 3  # type: ignore[assignment]
    with pytest.raises(ValueError, match="both added and removed"):
        run.edit(add_tags=["a"], remove_tags=["a"])
    assert fresh_store.run(run.id).tags == ()  # a refused edit changed nothing


def test_edits_reach_the_destination_of_a_sync(fresh_store: rk.Store, tmp_path: Path) -> None:
    source = rk.open(tmp_path / "local")
    with fast_run(source.collection("study"), name="draft") as run:
        run.log(loss=1.0)
    source.sync_to(fresh_store)
    run.edit(name="final", add_tags=["best"], notes="synced later")
    report = source.sync_to(fresh_store)
    copied = fresh_store.run(run.id)
    assert (copied.name, copied.tags, copied.notes) == ("final", ("best",), "synced later")
    assert report.runs_updated == 1 and report.records == 0
    source.close()


def test_changes_is_pure() -> None:
    assert changes(["a", "b"], add_tags=["c", "a"], remove_tags=["b", "zz"]) == {"tags": ["a", "c"]}
    assert changes(["a"], tags=["x", "x"]) == {"tags": ["x"]}
    assert changes(["a"]) == {}
    with pytest.raises(ValueError, match="leading or trailing"):
        changes([], add_tags=[" best"])


def test_a_renamed_sealed_run_is_sealed_again(store_path: Path) -> None:
    import pyarrow.parquet as pq

    with rk.open(store_path) as store:
        with fast_run(store.collection("study"), name="draft") as run:
            run.log(loss=1.0)
        sealed = store.seal(run)
        assert pq.read_table(sealed).column("run_name").to_pylist() == ["draft"]
        store.run(run.id).name = "final"
        assert pq.read_table(store.seal(run.id)).column("run_name").to_pylist() == ["final"]
