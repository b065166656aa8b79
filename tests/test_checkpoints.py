"""PyTorch checkpoints with real torch (CPU): round trips, atomic writes under SIGKILL, retention."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import fast_run

import recordkit as rk

torch = pytest.importorskip("torch")

# Behaviour tests run on both engines; those that need a folder store (file system, subprocess) stay SQLite-only.
pytestmark = pytest.mark.backends("sqlite", "postgres")

DEADLINE = 120.0


class Net(torch.nn.Module):  # type: ignore[misc]
    """Module-level, so ``mode="model"`` can pickle it by reference."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.norm = torch.nn.BatchNorm2d(4)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x: Any) -> Any:
        return self.head(self.norm(self.conv(x)).mean(dim=(2, 3)))


def _trained(seed: int) -> tuple[Net, Any]:
    torch.manual_seed(seed)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(8, 1, 6, 6)).pow(2).mean().backward()
        opt.step()
    return model, opt


def _same_weights(a: Any, b: Any) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_state_dict_round_trip_with_optimizer_and_extra(collection: rk.Collection) -> None:
    model, opt = _trained(0)
    rng = torch.get_rng_state()
    with fast_run(collection) as run:
        run.next_step(30)
        run.next_epoch(2)
        saved = run.save_model(model, "net", optimizer=opt, extra={"rng": rng, "note": "warm"})
    assert (saved.step, saved.epoch, saved.mode) == (30, 2, "state_dict")
    fresh, fresh_opt = _trained(1)
    assert not _same_weights(fresh, model)
    returned = run.load_model("net", into=fresh, optimizer=fresh_opt)
    assert returned is fresh and _same_weights(fresh, model)  # running stats of BatchNorm included
    for group_saved, group_loaded in zip(opt.state_dict()["state"].values(),
                                         fresh_opt.state_dict()["state"].values(), strict=True):
        assert torch.equal(group_saved["momentum_buffer"], group_loaded["momentum_buffer"])
    loaded = run.load_checkpoint("net")
    assert torch.equal(loaded.extra["rng"], rng) and loaded.extra["note"] == "warm"
    assert loaded.info == saved


def test_whole_model_round_trip(collection: rk.Collection) -> None:
    model, _ = _trained(2)
    with fast_run(collection) as run:
        run.save_model(model, "whole", mode="model")
    loaded = run.load_model("whole")
    assert type(loaded) is Net and loaded is not model and _same_weights(loaded, model)
    into, _ = _trained(3)
    run.load_model("whole", into=into)
    assert _same_weights(into, model)


def test_state_dict_mode_loads_without_unpickling_code(collection: rk.Collection) -> None:
    model, _ = _trained(0)
    with fast_run(collection) as run:
        run.save_model(model, "net")
        run.save_model(model, "whole", mode="model")
    run.load_model("net", weights_only=True)  # the safe loader suffices for state dicts
    with pytest.raises(Exception, match=r"(?i)weights"):
        run.load_model("whole", weights_only=True)


def test_load_by_step_latest_and_best(collection: rk.Collection) -> None:
    models = {}
    with fast_run(collection) as run:
        for step, loss in [(1, 0.9), (2, 0.3), (3, 0.5)]:
            models[step], _ = _trained(step)
            run.log(val_loss=loss, step=step)
            run.save_model(models[step], "net", step=step, metrics={"val_loss": loss})
    probe, _ = _trained(9)
    assert _same_weights(run.load_model("net", into=probe), models[3])
    assert _same_weights(run.load_model("net", into=probe, step=1), models[1])
    assert _same_weights(run.load_model("net", into=probe, step="best", metric="val_loss"), models[2])
    assert [(c.step, dict(c.metrics)) for c in run.checkpoints("net")] == [
        (1, {"val_loss": 0.9}), (2, {"val_loss": 0.3}), (3, {"val_loss": 0.5})
    ]
    with pytest.raises(rk.RunFileNotFoundError, match="steps kept: 1, 2, 3"):
        run.load_model("net", step=7)
    with pytest.raises(rk.RunFileNotFoundError, match="net"):
        run.load_model("other")


def test_retention_keeps_the_last_k(collection: rk.Collection) -> None:
    model, _ = _trained(0)
    with fast_run(collection) as run:
        run.retention = rk.Retention(keep_last=2)
        for step in range(5):
            run.save_model(model, "net", step=step)
    assert [c.step for c in run.checkpoints("net")] == [3, 4]
    folder = run.folder / "checkpoints" / "net"
    assert sorted(p.name for p in folder.iterdir()) == ["step-3.pt", "step-4.pt"]
    everything = run.checkpoints("net", include_removed=True)
    assert [(c.step, c.removed is not None) for c in everything] == [
        (0, True), (1, True), (2, True), (3, False), (4, False)
    ]
    assert [e.data["step"] for e in run.events.named("checkpoint/removed")] == [0, 1, 2]


def test_retention_keeps_the_best_k_by_a_logged_metric(collection: rk.Collection) -> None:
    model, _ = _trained(0)
    losses = [0.5, 0.2, 0.4, 0.1, 0.3]
    with fast_run(collection) as run:
        for step, loss in enumerate(losses):
            run.log(val_loss=loss, step=step)  # read back from the run's log: no metrics= given
            run.save_model(model, "net", retention=rk.Retention(keep_best=2, metric="val_loss"))
    kept = run.checkpoints("net")
    assert [(c.step, c.metrics["val_loss"]) for c in kept] == [(1, 0.2), (3, 0.1)]
    assert sorted(p.name for p in (run.folder / "checkpoints" / "net").iterdir()) == ["step-1.pt", "step-3.pt"]


def test_retention_union_of_last_and_best_per_name(collection: rk.Collection) -> None:
    model, _ = _trained(0)
    policy = rk.Retention(keep_last=1, keep_best=1, metric="acc", mode="max")
    with fast_run(collection) as run:
        for step, acc in enumerate([0.1, 0.9, 0.3, 0.2]):
            run.save_model(model, "a", step=step, metrics={"acc": acc}, retention=policy)
            run.save_model(model, "b", step=step)  # another name, no retention: all kept
    assert [c.step for c in run.checkpoints("a")] == [1, 3]
    assert [c.step for c in run.checkpoints("b")] == [0, 1, 2, 3]


def test_retention_needs_a_logged_metric(collection: rk.Collection) -> None:
    model, _ = _trained(0)
    with fast_run(collection) as run, pytest.raises(ValueError, match="never logged"):
        run.save_model(model, "net", retention=rk.Retention(keep_best=1, metric="val_loss"))
    assert run.checkpoints() == []


@pytest.mark.parametrize(
    "kwargs", [{"keep_last": 0}, {"keep_best": 1}, {"keep_last": 1.5}, {"keep_best": 1, "metric": "x", "mode": "up"}]
)
def test_bad_retention_is_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        rk.Retention(**kwargs)


def test_saving_the_same_step_again_replaces_it(collection: rk.Collection) -> None:
    first, _ = _trained(0)
    second, _ = _trained(1)
    with fast_run(collection) as run:
        run.save_model(first, "net", step=5)
        run.save_model(second, "net", step=5)
    assert len(run.checkpoints("net")) == 1
    probe, _ = _trained(2)
    assert _same_weights(run.load_model("net", into=probe), second)


def test_a_damaged_checkpoint_is_detected(collection: rk.Collection) -> None:
    model, _ = _trained(0)
    with fast_run(collection) as run:
        info = run.save_model(model, "net")
    raw = bytearray(info.path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    info.path.write_bytes(bytes(raw))
    with pytest.raises(rk.StoreError, match="sha256"):
        run.load_model("net", verify=True)
    info.path.write_bytes(bytes(raw[:100]))
    with pytest.raises(rk.StoreError, match="damaged"):
        run.load_model("net")


def test_bad_arguments(collection: rk.Collection) -> None:
    model, _ = _trained(0)
    with fast_run(collection) as run:
        with pytest.raises(ValueError, match="mode"):
            run.save_model(model, "net", mode="weights")
        with pytest.raises(TypeError, match="state_dict"):
            run.save_model(object(), "net")
        with pytest.raises(rk.InvalidNameError):
            run.save_model(model, "../../outside")
    with pytest.raises(rk.RunStateError):
        run.save_model(model, "late")


def test_a_file_another_library_saved_becomes_a_checkpoint(collection: rk.Collection, tmp_path: Path) -> None:
    """add_checkpoint copies the file (its suffix kept), ranks and retains it, and loads its state_dict entry."""
    model, _ = _trained(0)
    with fast_run(collection) as run:
        for step, loss in ((10, 0.5), (20, 0.2), (30, 0.4)):
            source = tmp_path / f"epoch-{step}.ckpt"
            torch.save({"state_dict": model.state_dict(), "epoch": step}, source)
            saved = run.add_checkpoint(source, "foreign", step, metrics={"loss": loss},
                                       retention=rk.Retention(keep_best=1, metric="loss"))
            source.unlink()  # the run holds its own copy
            assert saved.mode == "file" and saved.path.name == f"step-{step}.ckpt"
        assert [c.step for c in run.checkpoints("foreign")] == [20]
        assert [c.step for c in run.checkpoints("foreign", include_removed=True)] == [10, 20, 30]
        fresh = Net()
        run.load_model("foreign", into=fresh, weights_only=False)
        assert _same_weights(fresh, model)
        assert run.load_checkpoint("foreign", weights_only=False).extra["epoch"] == 20
        with pytest.raises(rk.RunFileNotFoundError, match="does not exist"):
            run.add_checkpoint(tmp_path / "missing.ckpt", "foreign")
        with pytest.raises(rk.InvalidNameError):
            run.add_checkpoint(__file__, "../outside")
        with pytest.raises(ValueError, match="non-negative"):  # the same step rule as save_model and log
            run.add_checkpoint(__file__, "foreign", -1)
        assert run.add_checkpoint(__file__, "numpy-step", np.int64(40)).step == 40


# --- a kill in the middle of a checkpoint write --------------------------------------------------
KILLED_MID_SAVE = """
import sys, time
from pathlib import Path

import torch

import recordkit as rk
import recordkit.runs.files as files

store_path, marker = sys.argv[1], Path(sys.argv[2])
run = rk.open(store_path).collection("study").start_run(capture=False)
torch.manual_seed(0)
small = torch.nn.Linear(4, 3)
run.next_step(10)
run.save_model(small, "net")
torch.save(small.state_dict(), marker.with_name("expected.pt"))
run.flush()

# Make the next write stop halfway, deterministically: the real writer runs, then this process
# waits to be killed with part of the file on disk.
write = files.HashingWriter.write
def write_then_stall(self, data):
    written = write(self, data)
    if self.size > 1_000_000:
        marker.touch()
        time.sleep(600)
    return written
files.HashingWriter.write = write_then_stall
run.next_step(10)
run.save_model(torch.nn.Linear(1000, 1000), "net")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_sigkill_during_a_checkpoint_write_leaves_the_previous_one_loadable(tmp_path: Path) -> None:
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent(KILLED_MID_SAVE))
    marker = tmp_path / "midway"
    store_path = tmp_path / "records"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECORDKIT_")}
    with (tmp_path / "err.txt").open("w") as err:
        child = subprocess.Popen([sys.executable, str(script), str(store_path), str(marker)], stderr=err, env=env)
    try:
        deadline = time.monotonic() + DEADLINE
        while not marker.exists():
            if child.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the child never reached the middle of the write:\n{(tmp_path / 'err.txt').read_text()}")
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(DEADLINE)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    store = rk.open(store_path)
    run = store.collection("study").run(1)
    assert run.status == "crashed"
    folder = run.folder / "checkpoints" / "net"
    [torn] = list(folder.glob(".*.tmp"))  # the interrupted write, never renamed
    assert torn.stat().st_size > 1_000_000
    with pytest.raises(Exception):  # noqa: B017 - torch's error type for a truncated zip varies
        torch.load(torn, weights_only=True)
    assert not (folder / "step-20.pt").exists()
    assert [c.step for c in run.checkpoints("net")] == [10]
    probe = torch.nn.Linear(4, 3)
    run.load_model("net", into=probe)
    expected = torch.load(tmp_path / "expected.pt", weights_only=True)
    assert all(torch.equal(probe.state_dict()[k], expected[k]) for k in expected)
    resumed = store.collection("study").resume_run(1)
    assert resumed.step == 10 and resumed.resumed_from is not None and resumed.resumed_from.step == 10
    resumed.finish()
    store.close()
