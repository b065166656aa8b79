"""RecordkitLogger with the real Lightning on the CPU: a tiny regression model, a few steps."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest

import recordkit as rk

L = pytest.importorskip("lightning.pytorch")
torch = pytest.importorskip("torch")

from recordkit.integrations.lightning import RecordkitLogger  # noqa: E402


class TinyModel(L.LightningModule):  # type: ignore[misc]
    def __init__(self, lr: float = 0.05, hidden: int = 4, fail_at: int = -1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(3, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))

    def training_step(self, batch: Any, index: int) -> Any:
        if self.global_step == self.hparams.fail_at:
            raise RuntimeError("boom in training_step")
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, index: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def test_step(self, batch: Any, index: int) -> None:
        x, y = batch
        self.log("test_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def loader(n: int = 32) -> Any:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=generator)
    data = torch.utils.data.TensorDataset(x, x.sum(dim=1, keepdim=True))
    return torch.utils.data.DataLoader(data, batch_size=8)


def trainer(tmp_path: Path, logger: RecordkitLogger, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "max_epochs": 3, "accelerator": "cpu", "devices": 1, "log_every_n_steps": 1,
        "enable_progress_bar": False, "enable_model_summary": False, "default_root_dir": str(tmp_path / "pl"),
    }
    options.update(kwargs)
    return L.Trainer(logger=logger, **options)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = rk.open(tmp_path / "records")
    yield opened
    opened.close()


def test_a_fit_is_one_finished_run_with_hyperparameters_metrics_and_checkpoints(
    tmp_path: Path, store: rk.Store
) -> None:
    logger = RecordkitLogger("pl", store=store, config={"data": "sum3"}, capture=False)
    checkpoints = L.callbacks.ModelCheckpoint(monitor="val_loss", save_top_k=2, save_last=True)
    trainer(tmp_path, logger, callbacks=[checkpoints]).fit(TinyModel(lr=0.05), loader(), loader(16))

    (run,) = store.collection("pl").runs()
    assert run.status == "finished"
    assert run.config["data"] == "sum3" and run.config["lr"] == 0.05 and run.config["hidden"] == 4
    steps, losses = run.history("train_loss")
    assert steps == list(range(12))  # 4 batches × 3 epochs
    assert all(isinstance(v, float) for v in losses)
    val_steps, _ = run.history("val_loss")
    assert len(val_steps) == 3
    assert run.history("epoch")[1][-1] == 2

    # One copy per epoch's save; Lightning's top-2 by val_loss plus the last survive, as on its disk.
    kept = run.checkpoints("lightning")
    every = run.checkpoints("lightning", include_removed=True)
    assert [c.step for c in every] == [4, 8, 12]  # Lightning's global step at each save
    assert {c.step for c in kept} == {8, 12}  # val_loss falls each epoch: the top 2 are the last 2
    assert all(c.mode == "file" and c.path.suffix == ".ckpt" and c.path.is_file() for c in kept)
    assert all("val_loss" in c.metrics for c in every)
    best = min(every, key=lambda c: c.metrics["val_loss"])
    assert best in kept
    assert kept[-1].step == every[-1].step  # the last one is kept (save_last)

    fresh = TinyModel()
    run.load_model("lightning", into=fresh, step="best", metric="val_loss", weights_only=False)
    lightning_best = TinyModel.load_from_checkpoint(checkpoints.best_model_path)
    for mine, theirs in zip(fresh.state_dict().values(), lightning_best.state_dict().values(), strict=True):
        assert torch.equal(mine, theirs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_fit_on_a_gpu_records_plain_numbers_and_checkpoints_that_load_on_the_cpu(
    tmp_path: Path, store: rk.Store
) -> None:
    logger = RecordkitLogger("pl", store=store, capture=False)
    checkpoints = L.callbacks.ModelCheckpoint(monitor="val_loss", save_top_k=1)
    trainer(tmp_path, logger, accelerator="gpu", callbacks=[checkpoints]).fit(TinyModel(), loader(), loader(16))
    (run,) = store.collection("pl").runs()
    assert run.status == "finished"
    assert run.history("train_loss")[0] == list(range(12))
    assert all(type(v) is float for v in run.history("train_loss")[1] + run.history("val_loss")[1])
    assert len(run.checkpoints("lightning")) == 1  # save_top_k=1
    fresh = TinyModel()
    run.load_model("lightning", into=fresh, weights_only=False)  # map_location="cpu" by default
    best = TinyModel.load_from_checkpoint(checkpoints.best_model_path, map_location="cpu")
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), best.state_dict().values(), strict=True))


def test_an_error_in_training_fails_the_run_with_the_error(tmp_path: Path, store: rk.Store) -> None:
    logger = RecordkitLogger("pl", store=store, capture=False)
    with pytest.raises(RuntimeError, match="boom"):
        trainer(tmp_path, logger).fit(TinyModel(fail_at=5), loader())
    (run,) = store.collection("pl").runs()
    assert run.status == "failed"
    assert run.error is not None and "boom in training_step" in run.error["message"]
    assert run.history("train_loss")[0][-1] == 4  # what was logged before the error is kept


def test_a_test_after_fit_continues_the_same_run(tmp_path: Path, store: rk.Store) -> None:
    logger = RecordkitLogger("pl", store=store, capture=False)
    fit = trainer(tmp_path, logger, max_epochs=1)
    model = TinyModel()
    fit.fit(model, loader())
    fit.test(model, loader(16))
    (run,) = store.collection("pl").runs()
    assert run.status == "finished"
    assert run.history("test_loss")[1] and run.history("train_loss")[1]
    assert [e.name for e in run.events if e.name in ("finished", "resumed")] == ["finished", "resumed", "finished"]


def test_a_run_the_user_started_is_logged_into_and_left_open(tmp_path: Path, store: rk.Store) -> None:
    with store.collection("mine").start_run(capture=False) as own:
        trainer(tmp_path, RecordkitLogger(run=own, log_checkpoints=False), max_epochs=1).fit(TinyModel(), loader())
        assert own.status == "running"
        own.flush()
        assert len(own.history("train_loss")[0]) == 4
        assert own.config["lr"] == 0.05
        assert own.checkpoints() == []
    assert own.status == "finished"


def test_changed_hyperparameters_keep_the_first_values_with_a_warning(tmp_path: Path, store: rk.Store) -> None:
    logger = RecordkitLogger("pl", store=store, config={"lr": 0.5}, capture=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer(tmp_path, logger, max_epochs=1).fit(TinyModel(lr=0.05), loader())
    assert any("'lr'" in str(w.message) and issubclass(w.category, rk.RecordkitWarning) for w in caught)
    (run,) = store.collection("pl").runs()
    assert run.status == "finished" and run.config["lr"] == 0.5 and run.config["hidden"] == 4


def test_logging_never_waits_for_the_store(tmp_path: Path) -> None:
    """Lightning calls save() after every log_metrics: it must not flush (the writer stores in the background)."""
    from tests.conftest import record_count

    store = rk.open(tmp_path / "records", flush_interval=60.0)
    logger = RecordkitLogger("pl", store=store, capture=False)
    logger.log_metrics({"loss": 0.5}, step=0)
    logger.save()
    run = logger.run
    assert run is not None and record_count(store, run.id) == 0  # still in the buffer
    logger.finalize("success")
    assert record_count(store, run.id) == 1 and run.status == "finished"
    store.close()


DDP_SCRIPT = """
import sys, torch, lightning.pytorch as L
sys.path.insert(0, {tests!r})
from test_lightning import TinyModel, loader
import recordkit as rk
from recordkit.integrations.lightning import RecordkitLogger

logger = RecordkitLogger("ddp", store={store!r}, capture=False)
trainer = L.Trainer(logger=logger, max_epochs=2, accelerator="cpu", devices=2, strategy="ddp", log_every_n_steps=1,
                    enable_progress_bar=False, enable_model_summary=False, default_root_dir={root!r})
trainer.fit(TinyModel(), loader(), loader(16))
print("RANK", trainer.global_rank, "DONE")
"""


def train_in_two_processes(tmp_path: Path, script: str) -> rk.Store:
    """Runs a training script whose Trainer starts two processes itself; the store they recorded into."""
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(script.format(
        tests=str(Path(__file__).parent), store=str(tmp_path / "records"), root=str(tmp_path / "pl"))))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_PORT")}
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    return rk.open(tmp_path / "records")


@pytest.mark.slow
def test_ddp_ranks_make_one_run(tmp_path: Path) -> None:
    """Two real DDP processes (gloo on the CPU, Lightning's own launcher): one run, rank 0 records it."""
    store = train_in_two_processes(tmp_path, DDP_SCRIPT)
    (run,) = store.collection("ddp").runs()
    assert run.status == "finished"
    # 32 samples over 2 ranks in batches of 8: 2 steps per epoch, each logged once (by rank 0).
    assert run.history("train_loss")[0] == [0, 1, 2, 3]
    assert len(run.checkpoints("lightning")) == 1
    store.close()


SPAWN_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import lightning.pytorch as L
from test_lightning import TinyModel, loader
from recordkit.integrations.lightning import RecordkitLogger

if __name__ == "__main__":
    logger = RecordkitLogger("spawn", store={store!r}, capture=False)
    L.Trainer(logger=logger, max_epochs=2, accelerator="cpu", devices=2, strategy="ddp_spawn", log_every_n_steps=1,
              enable_progress_bar=False, enable_model_summary=False, default_root_dir={root!r}).fit(
        TinyModel(), loader(), loader(16))
"""


def test_a_logger_that_cannot_travel_to_spawned_processes_says_what_to_pass(tmp_path: Path, store: rk.Store) -> None:
    import pickle

    with pytest.raises(TypeError, match="store= as a path"):
        pickle.dumps(RecordkitLogger(store=store))
    travels = pickle.loads(pickle.dumps(RecordkitLogger("p", store=str(tmp_path / "records"))))
    assert travels.run is None and travels.name == "p"


@pytest.mark.slow
def test_ddp_spawn_makes_one_run(tmp_path: Path) -> None:
    """strategy="ddp_spawn": the logger is pickled into two spawned processes; rank 0's makes the one run."""
    store = train_in_two_processes(tmp_path, SPAWN_SCRIPT)
    (run,) = store.collection("spawn").runs()
    assert run.status == "finished" and run.history("train_loss")[0] == [0, 1, 2, 3]
    store.close()


STANDALONE = """
import sys
sys.modules["lightning"] = None  # as if only the standalone package were installed
import torch
import pytorch_lightning as pl
import recordkit as rk
from recordkit.integrations.lightning import RecordkitLogger

assert issubclass(RecordkitLogger, pl.loggers.Logger)


class Model(pl.LightningModule):
    def __init__(self, lr=0.1):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Linear(3, 1)

    def training_step(self, batch, index):
        loss = self.net(batch[0]).pow(2).mean()
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(16, 3)), batch_size=4)
logger = RecordkitLogger("standalone", store={store!r}, capture=False)
pl.Trainer(logger=logger, max_epochs=1, log_every_n_steps=1, enable_progress_bar=False,
           default_root_dir={root!r}).fit(Model(), data)
run = rk.open({store!r}).collection("standalone").runs()[0]
print(run.status, run.config["lr"], run.history("train_loss")[0], len(run.checkpoints("lightning")))
"""


@pytest.mark.slow
def test_with_only_pytorch_lightning_the_logger_is_its_logger(tmp_path: Path) -> None:
    pytest.importorskip("pytorch_lightning")
    code = STANDALONE.format(store=str(tmp_path / "records"), root=str(tmp_path / "pl"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "finished 0.1 [0, 1, 2, 3] 1"

