"""Mirrors: TensorBoard event files and CSV files, fed by the writer thread after each commit."""

from __future__ import annotations

import csv
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from tests.conftest import fast_run

import recordkit as rk
from recordkit.sinks.base import file_stem

EventAccumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator", reason="tensorboard is not installed"
).EventAccumulator


def read_scalars(folder: Path) -> dict[str, list[tuple[int, float, float]]]:
    """Every scalar series in the event files of ``folder``, read by TensorBoard's own reader."""
    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return {
        tag: [(e.step, e.value, e.wall_time) for e in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


class Miner:
    def __init__(self, value: float) -> None:
        self._record_these = ["hardest_pos_pair_dist", "name"]
        self.hardest_pos_pair_dist = torch.tensor(value)
        self.name = "batch_hard"


class Spy(rk.Mirror):
    """A user-written mirror: keeps what it is given and which thread gave it."""

    name = "spy"

    def __init__(self) -> None:
        super().__init__(directory=None)
        self.records: list[rk.MirrorRecord] = []
        self.threads: set[str] = set()
        self.ended: list[str] = []

    def write(self, records: Sequence[rk.MirrorRecord]) -> None:
        self.threads.add(threading.current_thread().name)
        self.records.extend(records)

    def end_run(self, run_id: str) -> None:
        self.ended.append(run_id)


def test_tensorboard_scalars_read_back_with_tensorboards_reader(store_path: Path) -> None:
    store = rk.open(store_path, mirrors=[rk.TensorBoard()])
    with fast_run(store.collection("study")) as run:
        for step in range(5):
            run.log(loss=1.0 / (step + 1), flag=step % 2 == 0, phase="train", step=step)
            run.collect({"tuple_miner": Miner(step / 10)}, step=step)
            run.scope(model="m1").scope(training=True).log(acc=step * 0.1, step=step)
    stored_times = [r["time"] for r in run.records.having("loss")]
    store.close()
    scalars = read_scalars(run.folder / "tensorboard")
    assert set(scalars) == {"loss", "flag", "tuple_miner/hardest_pos_pair_dist", "model=m1/training=True/acc"}
    assert [(s, v) for s, v, _ in scalars["loss"]] == [(i, pytest.approx(1.0 / (i + 1))) for i in range(5)]
    assert [v for _, v, _ in scalars["flag"]] == [1.0, 0.0, 1.0, 0.0, 1.0]  # booleans as 0/1
    assert [v for _, v, _ in scalars["tuple_miner/hardest_pos_pair_dist"]] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    assert [t for _, _, t in scalars["loss"]] == pytest.approx(stored_times)


def test_tensorboard_into_a_directory_of_its_own(store_path: Path, tmp_path: Path) -> None:
    logdir = tmp_path / "tb"
    with rk.open(store_path, mirrors=[rk.TensorBoard(logdir)]) as store, fast_run(store.collection("study")) as run:
        run.log(x=1.5)
    assert read_scalars(logdir / "study" / run.id)["x"][0][:2] == (0, 1.5)
    assert not (run.folder / "tensorboard").exists()


def test_csv_files_per_scope_with_exact_values(store_path: Path) -> None:
    with rk.open(store_path, mirrors=["csv"]) as store, fast_run(store.collection("study")) as run:
        run.log(loss=0.1, note="a,b", step=0)
        run.log(loss=float("nan"), note=None, step=1)
        run.collect({"tuple_miner": Miner(0.5)}, step=1)
        run.scope(model="m/1").log(acc=True, values=[1, 2])
    folder = run.folder / "csv"
    assert sorted(p.name for p in folder.iterdir()) == ["model=m.1.csv", "run.csv", "tuple_miner.csv"]
    rows = read_csv(folder / "run.csv")
    assert rows[0] == ["step", "time", "loss", "note"]
    assert [r[0] for r in rows[1:]] == ["0", "1"]
    assert [r[2:] for r in rows[1:]] == [["0.1", "a,b"], ["nan", ""]]
    assert float(rows[1][1]) <= float(rows[2][1])  # seconds since the epoch, exact
    assert read_csv(folder / "tuple_miner.csv")[1][2:] == ["0.5", "batch_hard"]
    assert read_csv(folder / "model=m.1.csv")[1][2:] == ["true", "[1,2]"]


def test_a_new_key_later_widens_the_header_once(store_path: Path) -> None:
    with rk.open(store_path, mirrors=[rk.CSV()]) as store, fast_run(store.collection("study")) as run:
        run.log(loss=0.5)
        run.flush()  # the first batch is on disk with a two-key header
        run.log(loss=0.4, acc=0.9)
        run.flush()
        run.log(acc=0.95)
    rows = read_csv(run.folder / "csv" / "run.csv")
    assert rows[0] == ["step", "time", "loss", "acc"]
    assert [len(r) for r in rows] == [4, 4, 4, 4]  # earlier rows padded, one header
    assert [r[2:] for r in rows[1:]] == [["0.5", ""], ["0.4", "0.9"], ["", "0.95"]]
    assert not [p for p in (run.folder / "csv").iterdir() if p.name.startswith(".")]  # no temp file left


def test_a_mirror_started_again_continues_the_csv_file(tmp_path: Path) -> None:
    def record(values: dict[str, Any]) -> rk.MirrorRecord:
        return rk.MirrorRecord("r1", "study", str(tmp_path), "", 0, 1.5, values)

    rk.CSV(tmp_path / "out").write([record({"loss": 1.0})])
    rk.CSV(tmp_path / "out").write([record({"loss": 2.0, "acc": 1.0})])  # e.g. another process, same run
    rows = read_csv(tmp_path / "out" / "study" / "r1" / "run.csv")
    assert rows == [["step", "time", "loss", "acc"], ["0", "1.5", "1.0", ""], ["0", "1.5", "2.0", "1.0"]]


def test_mirrors_run_in_the_writer_thread_and_get_plain_numbers(store_path: Path) -> None:
    spy = Spy()
    with rk.open(store_path, mirrors=[spy]) as store:
        with fast_run(store.collection("study")) as run:
            run.log(loss=torch.tensor(0.25), hist=torch.tensor([1.0, 2.0]), step=3)
        assert run.records[0]["loss"] == 0.25  # the store got the same converted values
    assert spy.threads == {"recordkit-writer"}
    (record,) = spy.records
    assert dict(record.values) == {"loss": 0.25, "hist": [1.0, 2.0]}
    assert type(record.values["loss"]) is float
    assert (record.step, record.run_id, record.collection, record.label) == (3, run.id, "study", "")
    assert spy.ended == [run.id]


def test_a_field_added_later_keeps_the_label(store_path: Path) -> None:
    spy = Spy()
    with rk.open(store_path, mirrors=[spy]) as store, fast_run(store.collection("study")) as run:
        scope = run.scope(model="m1")
        scope.log(x=1)
        run.flush()
        scope["note"] = "late"
        scope.log(x=2)
    assert [r.label for r in spy.records] == ["model=m1", "model=m1"]


def test_a_failing_mirror_warns_once_keeps_the_data_and_raises_at_finish(store_path: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the mirror wants a folder")
    store = rk.open(store_path, mirrors=[rk.CSV(blocker)])
    run = fast_run(store.collection("study"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.log(loss=1.0)
        with pytest.raises(rk.MirrorError, match="mirror could not write"):
            run.flush()
        run.log(loss=2.0)
        with pytest.raises(rk.MirrorError):
            run.finish()
    mirror_warnings = [w for w in caught if issubclass(w.category, rk.RecordkitWarning)]
    assert len(mirror_warnings) == 1 and "records are stored" in str(mirror_warnings[0].message)
    assert [r["loss"] for r in run.records] == [1.0, 2.0]
    assert run.status == rk.RunStatus.FINISHED
    store.close()  # the error was raised once; closing is clean


def test_mirrors_from_the_environment(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECORDKIT_MIRRORS", "csv, tensorboard")
    with rk.open(store_path) as store:
        assert [type(m).__name__ for m in store.mirrors] == ["CSV", "TensorBoard"]
    with rk.open(store_path, mirrors=[]) as store:  # an argument beats the variable
        assert store.mirrors == []
        assert store._channel.mirrors is None  # no mirror: the writer's path is unchanged


def test_unknown_mirror_names_are_refused(store_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown mirror 'wandb'"):
        rk.open(store_path, mirrors=["wandb"])


@pytest.mark.parametrize(
    ("label", "stem"),
    [
        pytest.param("", "run", id="root"),
        pytest.param("tuple_miner", "tuple_miner", id="group"),
        pytest.param("model=m1/training=True", "model=m1.training=True", id="nested"),
        pytest.param("../../etc/passwd", "etc.passwd", id="escape"),
        pytest.param("a b:c*?", "a_b_c__", id="unsafe"),
    ],
)
def test_labels_become_safe_file_names(label: str, stem: str) -> None:
    assert file_stem(label) == stem
    assert "/" not in file_stem(label) and not file_stem(label).startswith(".")


def test_two_labels_with_the_same_file_name_stay_apart(store_path: Path) -> None:
    with rk.open(store_path, mirrors=["csv"]) as store, fast_run(store.collection("study")) as run:
        run.scope(kind="a b").log(x=1)
        run.scope(kind="a:b").log(x=2)
    names = sorted(p.name for p in (run.folder / "csv").iterdir())
    assert names == ["kind=a_b-2.csv", "kind=a_b.csv"]
    values: dict[str, Any] = {n: read_csv(run.folder / "csv" / n)[1][2] for n in names}
    assert sorted(values.values()) == ["1", "2"]


def test_a_store_opened_by_a_relative_path_mirrors_into_its_run_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with rk.open("records", mirrors=["csv", "tensorboard"]) as store, fast_run(store.collection("study")) as run:
        run.log(x=1.0)
    folder = tmp_path / "records" / "study" / run.id
    assert read_csv(folder / "csv" / "run.csv")[1][2] == "1.0"
    assert read_scalars(folder / "tensorboard")["x"][0][:2] == (0, 1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records"]  # nothing written beside the store
