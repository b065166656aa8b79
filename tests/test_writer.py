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


def test_tensors_are_converted_in_the_writer_thread(collection: rk.Collection) -> None:
    seen: list[str] = []

    class WatchedTensor(torch.Tensor):
        """A real tensor that notes which thread converts it (a CUDA tensor would sync there)."""

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            if getattr(func, "__name__", "") in ("item", "tolist", "cpu"):
                seen.append(threading.current_thread().name)
            return super().__torch_function__(func, types, args, kwargs or {})

    with fast_run(collection) as run:
        run.log(loss=torch.tensor(0.5).as_subclass(WatchedTensor), vec=torch.arange(3).as_subclass(WatchedTensor))
        assert seen == []  # nothing converted in the caller's thread
    assert seen and set(seen) == {"recordkit-writer"}
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
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
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
    store = rk.open(store_path)
    writer = store._writer
    channel = writer.channel(store.backend)
    old_limit, old_policy = channel.limit, writer.settings
    run = store.collection("c").start_run(capture=False)
    try:
        channel.limit = 0
        object.__setattr__(writer.settings, "on_full", "raise")
        with pytest.raises(rk.RunStateError, match="buffer is full"):
            run.log(x=1.0)
    finally:
        channel.limit = old_limit
        object.__setattr__(writer.settings, "on_full", old_policy.on_full)
    run.finish()


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
