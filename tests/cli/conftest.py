"""Stores the command-line tests read, each built once through the library with known values."""

from __future__ import annotations

from pathlib import Path

import pytest

import recordkit as rk


@pytest.fixture(autouse=True)
def no_store_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read a store named by the environment they happen to run in."""
    monkeypatch.delenv("RECORDKIT_STORE", raising=False)


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with known values: study #1 'base', #2 'broken' (failed), #2 '[wide]' (retry); other #1 'solo'."""
    path = tmp_path_factory.mktemp("cli") / "records"
    store = rk.open(path)
    study = store.collection("study")
    with study.start_run(
        config={"lr": 0.1, "opt": {"name": "sgd"}}, name="base", tags=["baseline"], capture=False
    ) as run:
        train = run.scope(phase="train")
        train.log(loss=1.0, acc=0.5)
        run.next_step()
        train.log(loss=0.5, acc=0.75)
        run.scope(phase="eval").log(loss=0.6, acc=0.7)
    with pytest.raises(RuntimeError), study.start_run(config={"lr": 0.2}, name="broken", capture=False) as run:
        run.log(loss=2.0)
        raise RuntimeError("diverged")
    with study.start_run(config={"lr": 0.3, "opt": {"name": "adam"}}, name="[wide]", capture=False) as run:
        run.log(loss=0.3, note="a,b")
        run.next_step()
        run.log(loss=float("nan"))
    with store.collection("other").start_run(config={"lr": 0.1}, name="solo", capture=False) as run:
        run.log(x=1)
    store.close()
    return path


@pytest.fixture(scope="module")
def run_ids(tiny_store: Path) -> dict[str, str]:
    store = rk.open(tiny_store, create=False)
    try:
        return {run.name or "": run.id for run in store.runs()}
    finally:
        store.close()


@pytest.fixture
def small_store(store_path: Path) -> Path:
    """A fresh store with runs c/1, c/2, c/3 (3 records each), for commands that change it."""
    store = rk.open(store_path)
    for lr in (0.1, 0.2, 0.3):
        with store.collection("c").start_run(config={"lr": lr}, name=f"lr={lr}", capture=False) as run:
            for i in range(3):
                run.log(loss=lr * i)
    store.close()
    return store_path
