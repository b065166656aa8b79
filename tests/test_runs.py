"""Runs: lifecycle, numbering and error bookkeeping, counters, lookups, meta.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.conftest import fast_run

import recordkit as rk

pytestmark = pytest.mark.backends("sqlite", "postgres")


def _outcomes(collection: rk.Collection, outcomes: list[str]) -> None:
    for outcome in outcomes:
        try:
            with fast_run(collection) as run:
                run.log(x=1.0)
                if outcome == "err":
                    raise RuntimeError("boom")
        except RuntimeError:
            pass


def test_numbering_follows_rigorous_recorder(collection: rk.Collection) -> None:
    _outcomes(collection, ["ok", "err", "err", "ok", "ok"])
    got = [(r.number, r.error_number, r.had_error) for r in collection.runs()]
    assert got == [(1, 0, False), (2, 1, True), (2, 2, True), (2, 0, False), (3, 0, False)]


def test_numbering_fields_are_on_every_flat_record(collection: rk.Collection) -> None:
    _outcomes(collection, ["ok", "err", "ok"])
    rows = [(r["experiment_number"], r["error_number"], r["had_error"]) for r in collection.records]
    assert rows == [(1, 0, False), (2, 1, True), (2, 0, False)]
    for record in collection.records:
        assert record["experiment_duration"] == pytest.approx(
            record["experiment_end_time"] - record["experiment_start_time"]
        )
        assert record["experiment_duration"] >= 0


def test_exception_is_stored_and_reraised_unchanged(collection: rk.Collection) -> None:
    error = KeyError("missing")
    with pytest.raises(KeyError) as caught, fast_run(collection) as run:
        raise error
    assert caught.value is error
    assert run.status is rk.RunStatus.FAILED
    assert run.error is not None
    assert run.error["type"] == "KeyError"
    assert "missing" in run.error["message"]
    assert "raise error" in run.error["traceback"]


def test_keyboard_interrupt_marks_interrupted(collection: rk.Collection) -> None:
    with pytest.raises(KeyboardInterrupt), fast_run(collection) as run:
        raise KeyboardInterrupt
    assert run.status is rk.RunStatus.INTERRUPTED
    assert run.had_error


def test_explicit_finish(collection: rk.Collection) -> None:
    run = fast_run(collection, name="explicit", tags=["a", "b"])
    assert run.status is rk.RunStatus.RUNNING
    run.log(loss=1.0)
    run.finish()
    assert run.status is rk.RunStatus.FINISHED
    assert run.end_time is not None and run.duration is not None and run.duration >= 0
    again = collection.run(run.number)
    assert (again.id, again.name, again.tags) == (run.id, "explicit", ("a", "b"))


def test_finishing_twice_is_an_error(collection: rk.Collection) -> None:
    run = fast_run(collection)
    run.finish()
    with pytest.raises(rk.RunStateError, match="already finished"):
        run.finish()


def test_logging_to_a_finished_run_is_an_error(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.log(x=1.0)
    with pytest.raises(rk.RunStateError, match="finished"):
        run.log(x=2.0)
    assert len(run.records) == 1


def test_pause_and_resume(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.pause()
        assert collection.run(run.number).status is rk.RunStatus.PAUSED
        with pytest.raises(rk.RunStateError, match="paused"):
            run.log(x=1.0)
        run.resume()
        run.log(x=2.0)
    assert [r["x"] for r in run.records] == [2.0]


def test_step_and_epoch_counters(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        assert (run.step, run.epoch) == (0, 0)
        run.log(x=0.0)
        assert run.next_step() == 1
        run.log(x=1.0)
        run.log(x=5.0, step=5)
        assert run.step == 5
        run.next_epoch()
        run.next_epoch()
    assert [r["step"] for r in run.records] == [0, 1, 5]
    stored = collection.run(run.number)
    assert (stored.step, stored.epoch) == (5, 2)


def test_lookup_by_id_prefix_and_number(fresh_store: rk.Store) -> None:
    col = fresh_store.collection("a")
    with fast_run(col) as run:
        pass
    assert fresh_store.run(run.id).number == 1
    assert fresh_store.run(run.id[:6]).id == run.id
    with pytest.raises(rk.RunNotFoundError, match="no run"):
        fresh_store.run("zzzz")
    with pytest.raises(rk.RunNotFoundError, match="no run number 7"):
        col.run(7)


def test_ambiguous_prefix_is_an_error(fresh_store: rk.Store) -> None:
    col = fresh_store.collection("a")
    ids = []
    for _ in range(40):
        with fast_run(col) as run:
            ids.append(run.id)
    first_chars = [i[0] for i in ids]
    shared = max(set(first_chars), key=first_chars.count)
    with pytest.raises(rk.RunNotFoundError, match="ambiguous"):
        fresh_store.run(shared)


def test_collections_are_independent(fresh_store: rk.Store) -> None:
    for name in ["a", "b", "a"]:
        with fast_run(fresh_store.collection(name)):
            pass
    assert [c.name for c in fresh_store.collections()] == ["a", "b"]
    assert [r.number for r in fresh_store.collection("a").runs()] == [1, 2]
    assert [r.number for r in fresh_store.collection("b").runs()] == [1]


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", "..", "x\x00y"])
def test_collection_names_never_escape_the_store(fresh_store: rk.Store, name: str) -> None:
    with pytest.raises(rk.InvalidNameError):
        fresh_store.collection(name)


def test_meta_json_is_written_and_updated(collection: rk.Collection, store_path: Path) -> None:
    with fast_run(collection, config={"lr": 0.1, "layers": [64, 32]}, name="m") as run:
        meta = json.loads((run.folder / "meta.json").read_text())
        assert meta["status"] == "running"
    assert run.folder == store_path / "study" / run.id
    meta = json.loads((run.folder / "meta.json").read_text())
    assert meta["status"] == "finished"
    assert meta["config"] == {"lr": 0.1, "layers": [64, 32]}
    assert meta["number"] == 1 and meta["name"] == "m"


def test_config_is_read_only(collection: rk.Collection) -> None:
    with fast_run(collection, config={"opt": {"lr": 0.1}}) as run:
        assert run.config["opt"]["lr"] == 0.1
        with pytest.raises(TypeError):
            run.config["opt"]["lr"] = 0.2  # type: ignore[index]


def test_bad_arguments_give_clear_errors(collection: rk.Collection) -> None:
    with pytest.raises(TypeError, match="tags"):
        collection.start_run(tags="abc", capture=False)
    with pytest.raises(TypeError, match="name"):
        collection.start_run(name=3, capture=False)  # type: ignore[arg-type]


def test_opening_a_missing_store_without_create(tmp_path: Path) -> None:
    with pytest.raises(rk.StoreError, match="no store"):
        rk.open(tmp_path / "nope", create=False)


def test_opening_a_file_as_store(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(rk.StoreError, match="is a file"):
        rk.open(path)


def test_opening_a_damaged_database(store_path: Path) -> None:
    store_path.mkdir()
    (store_path / "recordkit.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(rk.StoreError, match="not a recordkit SQLite file"):
        rk.open(store_path)


def test_unknown_url_scheme(tmp_path: Path) -> None:
    with pytest.raises(rk.StoreError, match="unknown store scheme"):
        rk.open("mongodb://localhost/x")


def test_a_moved_store_still_finds_its_run_folders(store_path: Path, tmp_path: Path) -> None:
    with rk.open(store_path) as store:
        with store.collection("study").start_run(capture=False) as run:
            run.log(loss=0.5)
        run_id = run.id
    moved = tmp_path / "elsewhere" / "records"
    shutil.move(str(store_path), str(moved))
    with rk.open(moved, create=False) as store:
        found = store.run(run_id)
        assert found.folder == moved.absolute() / "study" / run_id
        assert json.loads((found.folder / "meta.json").read_text())["id"] == run_id
