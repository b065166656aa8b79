"""Module-level rk.init / rk.log / rk.finish."""

from __future__ import annotations

import threading

import pytest

import recordkit as rk

pytestmark = pytest.mark.backends("sqlite", "postgres")


def test_init_log_finish(store_url: str) -> None:
    run = rk.init(project="mnist", config={"lr": 0.1}, store=store_url, capture=False)
    assert rk.current_run() is run
    rk.log({"loss": 0.3})
    rk.log(loss=0.2, step=1)
    rk.finish()
    assert rk.current_run() is None
    assert run.status is rk.RunStatus.FINISHED
    store = rk.open(store_url)
    assert [r["loss"] for r in store.collection("mnist").records] == [0.3, 0.2]
    assert store.collection("mnist").run(1).config == {"lr": 0.1}


def test_log_without_init_is_a_clear_error() -> None:
    with pytest.raises(rk.NoActiveRunError, match=r"rk.init"):
        rk.log(x=1)


def test_threads_started_later_log_to_the_current_run(store_url: str) -> None:
    run = rk.init(project="p", store=store_url, capture=False)
    worker = threading.Thread(target=lambda: rk.log(from_thread=True))
    worker.start()
    worker.join()
    rk.finish()
    assert [r["from_thread"] for r in run.records] == [True]
