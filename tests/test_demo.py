"""The demo records a small but real training: finished runs whose held-out loss goes down."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import recordkit as rk
from recordkit._demo import COLLECTION, TinyMLP, learning_rates, run_demo, two_moons

EPOCHS = 6
BATCHES_PER_EPOCH = 16  # 512 training points in batches of 32


def eval_losses(run: rk.Run) -> list[float]:
    return [record["loss"] for record in run.records.where(phase="eval")]


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> list[rk.Run]:
    return run_demo(tmp_path_factory.mktemp("demo") / "records", runs=3, epochs=EPOCHS)


def test_run_demo_records_finished_runs(demo_runs: list[rk.Run]) -> None:
    assert [run.status for run in demo_runs] == [rk.RunStatus.FINISHED] * 3
    assert [run.number for run in demo_runs] == [1, 2, 3]
    assert [run.config["lr"] for run in demo_runs] == [0.1, 0.3, 1.0]
    assert [run.name for run in demo_runs] == ["lr=0.1", "lr=0.3", "lr=1"]
    assert all(run.collection.name == COLLECTION for run in demo_runs)


def test_run_demo_records_train_and_eval_scopes(demo_runs: list[rk.Run]) -> None:
    run = demo_runs[0]
    records = run.records
    assert len(records) == EPOCHS * (BATCHES_PER_EPOCH + 1)
    assert len(records.where(phase="train")) == EPOCHS * BATCHES_PER_EPOCH
    assert [r["epoch"] for r in records.where(phase="eval")] == list(range(EPOCHS))
    assert run.step == EPOCHS * BATCHES_PER_EPOCH
    assert run.epoch == EPOCHS


def test_held_out_loss_decreases_and_accuracy_is_learned(demo_runs: list[rk.Run]) -> None:
    for run in demo_runs:
        losses = eval_losses(run)
        assert losses[-1] < losses[0], (run.name, losses)
        assert run.summary()["phase=eval/acc"]["last"] > 0.75
    # A larger learning rate learns faster in the same number of epochs.
    finals = [eval_losses(run)[-1] for run in demo_runs]
    assert finals[-1] < finals[0]


def test_summary_last_values_are_the_final_evaluation(demo_runs: list[rk.Run]) -> None:
    for run in demo_runs:
        final = run.records.where(phase="eval", epoch=EPOCHS - 1).first()
        assert final is not None
        summary = run.summary()  # train and eval are separate series: their values never mix
        assert summary["phase=eval/loss"]["last"] == final["loss"]
        assert summary["phase=eval/acc"]["last"] == final["acc"]
        assert summary["phase=eval/loss"]["count"] == EPOCHS
        assert summary["phase=train/loss"]["count"] == EPOCHS * BATCHES_PER_EPOCH


def test_the_runs_are_readable_from_a_new_store(demo_runs: list[rk.Run], tmp_path: Path) -> None:
    folder = demo_runs[0].folder.parent.parent
    store = rk.open(folder, create=False)
    try:
        runs = store.collection(COLLECTION).runs()
        assert [run.id for run in runs] == [run.id for run in demo_runs]
        assert all("python" in run.env for run in runs)  # captured by default
        assert len(store.collection(COLLECTION).records.where(phase="eval")) == 3 * EPOCHS
    finally:
        store.close()


def test_same_seed_gives_the_same_losses(tmp_path: Path) -> None:
    first = run_demo(tmp_path / "a", runs=1, epochs=2, seed=7, capture=False)
    second = run_demo(tmp_path / "b", runs=1, epochs=2, seed=7, capture=False)
    other = run_demo(tmp_path / "c", runs=1, epochs=2, seed=8, capture=False)
    assert eval_losses(first[0]) == eval_losses(second[0])
    assert eval_losses(first[0]) != eval_losses(other[0])


def test_run_demo_accepts_an_open_store_and_numbers_on(fresh_store: rk.Store) -> None:
    run_demo(fresh_store, runs=1, epochs=1, capture=False)
    again = run_demo(fresh_store, runs=2, epochs=1, capture=False)
    assert [run.number for run in again] == [2, 3]


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        pytest.param(1, [1.0], id="one"),
        pytest.param(3, [0.1, 0.3, 1.0], id="three"),
        pytest.param(6, [0.003, 0.01, 0.03, 0.1, 0.3, 1.0], id="whole-ladder"),
        pytest.param(8, [0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 0.003, 0.01], id="repeats"),
    ],
)
def test_learning_rates(runs: int, expected: list[float]) -> None:
    assert learning_rates(runs) == expected


@pytest.mark.parametrize(("runs", "epochs"), [(0, 1), (1, 0)])
def test_run_demo_rejects_nothing_to_do(store_path: Path, runs: int, epochs: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        run_demo(store_path, runs=runs, epochs=epochs)


def test_two_moons_is_balanced_and_seeded() -> None:
    x, y = two_moons(101, 0.1, np.random.default_rng(0))
    assert x.shape == (101, 2)
    assert int(y.sum()) == 51
    again, _ = two_moons(101, 0.1, np.random.default_rng(0))
    assert np.array_equal(x, again)


def test_tiny_mlp_gradient_step_lowers_the_batch_loss() -> None:
    rng = np.random.default_rng(0)
    x, y = two_moons(64, 0.1, rng)
    model = TinyMLP(8, rng)
    before, _ = model.train_step(x, y, lr=0.5)
    after, _ = model.evaluate(x, y)
    assert after < before
