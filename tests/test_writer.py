"""The background writer: batching, durability on flush, failures that never crash training."""

from __future__ import annotations

import sqlite3
import threading
import warnings
from pathlib import Path

import pytest
import torch
from tests.conftest import fast_run, record_count

import recordkit as rk
from recordkit._settings import load_settings
from recordkit._store import Store
from recordkit.backends.sqlite import SQLiteBackend

pytestmark = pytest.mark.backends("sqlite", "postgres")


def test_flush_makes_records_durable_for_another_connection(collection: rk.Collection) -> None:
    run = fast_run(collection)
    for i in range(1000):
        run.log(i=i)
    run.flush()
    assert record_count(collection.store, run.id) == 1000
    run.finish()


def test_records_become_durable_within_the_flush_interval(collection: rk.Collection) -> None:
    run = fast_run(collection)
    run.log(i=1)
    deadline = threading.Event()
    for _ in range(100):  # up to 5 s: generous for a noisy machine, still bounded
        if record_count(collection.store, run.id) == 1:
            break
        deadline.wait(0.05)
    assert record_count(collection.store, run.id) == 1
    run.finish()


def watched_tensor(seen: list[str], device: str) -> type:
    class WatchedTensor(torch.Tensor):
        """A real CPU tensor that notes which thread reads its values, and claims to be on ``device``."""

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            if func == torch.Tensor.device.__get__:  # a new method-wrapper each time: equal, not the same
                return torch.device(device)
            if getattr(func, "__name__", "") in ("item", "tolist", "cpu", "numpy"):
                seen.append(threading.current_thread().name)
            return super().__torch_function__(func, types, args, kwargs or {})

    return WatchedTensor


def test_gpu_tensors_are_converted_in_the_writer_thread(collection: rk.Collection) -> None:
    seen: list[str] = []
    gpu = watched_tensor(seen, "cuda")  # reading a CUDA tensor would wait for the device
    with fast_run(collection) as run:
        run.log(loss=torch.tensor(0.5).as_subclass(gpu), vec=torch.arange(3).as_subclass(gpu))
        assert seen == []  # nothing read in the caller's thread
    assert seen and set(seen) == {"recordkit-writer"}
    (record,) = list(collection.records)
    assert record["loss"] == 0.5 and record["vec"] == [0, 1, 2]


def test_cpu_tensors_are_copied_into_the_journal_by_the_caller(collection: rk.Collection) -> None:
    seen: list[str] = []
    cpu = watched_tensor(seen, "cpu")  # reading one costs no device wait: durable before log() returns
    with fast_run(collection) as run:
        run.log(loss=torch.tensor(0.5).as_subclass(cpu), vec=torch.arange(3).as_subclass(cpu))
        assert set(seen) == {threading.current_thread().name}
    (record,) = list(collection.records)
    assert record["loss"] == 0.5 and record["vec"] == [0, 1, 2]


def test_detached_tensors_with_grad(collection: rk.Collection) -> None:
    weight = torch.ones(2, requires_grad=True)
    loss = (weight * 3).sum()
    with fast_run(collection) as run:
        run.log(loss=loss)
    assert next(iter(collection.records))["loss"] == 6.0


def _locked_store(store_path: Path) -> Store:
    rk.open(store_path).close()
    backend = SQLiteBackend(store_path, busy_timeout=0.05)
    return Store(backend, load_settings(flush_interval=0.05))


def test_storage_failure_warns_once_raises_at_flush_and_loses_nothing(store_path: Path) -> None:
    store = _locked_store(store_path)
    run = store.collection("c").start_run(capture=False)
    run.flush()
    blocker = sqlite3.connect(store_path / "recordkit.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holding the write lock, as a stuck job would
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for i in range(2000):
                run.log(i=i)  # training goes on: no exception here
            with pytest.raises(rk.StorageError, match="locked"):
                run.flush(timeout=2)
        ours = [w for w in caught if issubclass(w.category, rk.RecordkitWarning)]
        assert len(ours) == 1
        assert "flush()" in str(ours[0].message)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    run.flush()  # the obstacle is gone: the kept data is written
    run.finish()
    assert [r["i"] for r in run.records] == list(range(2000))
    store.close()


def test_a_value_that_fails_conversion_is_dropped_alone(collection: rk.Collection) -> None:
    class Exploding(torch.Tensor):
        """On a GPU that fails when the writer copies the value to the host."""

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            if func == torch.Tensor.device.__get__:
                return torch.device("cuda")
            if getattr(func, "__name__", "") == "cpu":
                raise RuntimeError("device lost")
            return super().__torch_function__(func, types, args, kwargs or {})

    run = fast_run(collection)
    run.log(i=1)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        run.log(t=torch.tensor(1.0).as_subclass(Exploding))
        run.log(i=2)
        with pytest.raises(rk.StorageError, match="device lost"):
            run.flush()
    run.finish()
    assert [r["i"] for r in run.records] == [1, 2]


def test_full_buffer_raise_policy(store_path: Path) -> None:
    # A long flush interval keeps the writer away, so the buffer really fills.
    store = rk.open(store_path, on_full="raise", buffer_size=5, flush_interval=600)
    run = store.collection("c").start_run(capture=False)
    run.flush()
    with pytest.raises(rk.RunStateError, match="buffer is full"):
        for i in range(10):
            run.log(x=float(i))
    run.flush()  # room again
    run.finish()
    assert len(run.records) == 5  # what fitted was kept


_TWO_STORES = """
import sqlite3, sys, time
from pathlib import Path
import recordkit as rk

root = Path(sys.argv[1])
patient = rk.open(root / "patient", flush_interval=600)  # first: it starts the process's writer
eager = rk.open(root / "eager", flush_interval=0.05)
slow = patient.collection("c").start_run(capture=False)
quick = eager.collection("c").start_run(capture=False)
slow.log(x=1.0)
quick.log(y=1.0)
deadline, landed = time.monotonic() + 30, 0
while time.monotonic() < deadline and not landed:
    with sqlite3.connect(root / "eager" / "recordkit.db") as conn:
        tables = [t for (t,) in conn.execute("SELECT name FROM record_tables")]
        landed = sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables)
    time.sleep(0.05)
print("landed", landed)
slow.finish()
quick.finish()
print("patient", [r["x"] for r in slow.records])
"""


def test_each_store_keeps_its_own_flush_interval(tmp_path: Path) -> None:
    """The writer is one per process (started by the first store), yet each store flushes at its own interval."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _TWO_STORES, str(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    # The eager store's record landed on its own, long before the first store's 600 s were up.
    assert "landed 1" in done.stdout
    assert "patient [1.0]" in done.stdout


def test_settings_come_from_arguments_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECORDKIT_FLUSH_INTERVAL", "0.25")
    monkeypatch.setenv("RECORDKIT_BUFFER_SIZE", "10")
    settings = load_settings(buffer_size=20)
    assert settings.flush_interval == 0.25 and settings.buffer_size == 20
    monkeypatch.setenv("RECORDKIT_ON_FULL", "explode")
    with pytest.raises(ValueError, match="on_full"):
        load_settings()
    monkeypatch.setenv("RECORDKIT_ON_FULL", "block")
    monkeypatch.setenv("RECORDKIT_BATCH_SIZE", "many")
    with pytest.raises(ValueError, match="RECORDKIT_BATCH_SIZE"):
        load_settings()
    with pytest.raises(TypeError, match="unknown setting"):
        load_settings(flush_intervall=1)
