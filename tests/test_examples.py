"""The examples run as a user runs them, and record what they say they record."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import recordkit as rk

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_digits_trains_and_records_the_run(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    done = subprocess.run([sys.executable, str(EXAMPLES / "digits.py"), "--epochs", "3", "--store",
                           str(tmp_path / "records")], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    store = rk.open(tmp_path / "records", create=False)
    (run,) = store.collection("digits").runs()
    assert run.status == "finished"
    assert run.config["epochs"] == 3 and run.config["lr"] == 0.1 and "store" not in run.config
    assert run.env["seed"]["seed"] == 0 and run.env["seed"]["torch"]
    steps, losses = run.history("loss")
    assert steps == list(range(1, 3 * 45 + 1))  # 1,437 training images in batches of 32: 45 steps an epoch
    assert all(isinstance(v, float) for v in losses) and losses[-1] < losses[0]
    accuracies = run.history("val_acc")[1]
    assert len(accuracies) == 3 and max(accuracies) > 0.8  # an MLP reads digits well after one epoch
    (best,) = run.checkpoints("mlp")  # retention keeps the best by val_acc
    assert best.metrics["val_acc"] == max(accuracies)
    assert [e.name for e in run.events.under("epoch")] == ["epoch/0", "epoch/1", "epoch/2"]
    assert f"run {run.id}" in done.stdout
    store.close()


@pytest.mark.slow
def test_digits_trains_on_a_gpu(tmp_path: Path) -> None:
    """On a GPU the loss is logged as a CUDA tensor; the writer thread stores it as a float."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    done = subprocess.run([sys.executable, str(EXAMPLES / "digits.py"), "--epochs", "2", "--device", "cuda",
                           "--store", str(tmp_path / "records")], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    store = rk.open(tmp_path / "records", create=False)
    (run,) = store.collection("digits").runs()
    assert run.status == "finished" and run.config["device"] == "cuda"
    steps, losses = run.history("loss")
    assert len(steps) == 2 * 45 and all(type(v) is float for v in losses)
    assert max(run.history("val_acc")[1]) > 0.8
    store.close()

