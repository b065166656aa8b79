"""Resuming runs: counters, sequence numbers, checkpoints, superseded records, out-of-order steps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.conftest import fast_run

import recordkit as rk

# Behaviour tests run on both engines; those that need a folder store (file system, subprocess) stay SQLite-only.
pytestmark = pytest.mark.backends("sqlite", "postgres")


def _steps_and_x(run: rk.Run) -> list[tuple[int, float]]:
    return [(r["step"], r["x"]) for r in run.records]


def test_resume_a_finished_run_continues_counters_and_order(collection: rk.Collection) -> None:
    with fast_run(collection, config={"lr": 0.1}) as run:
        for _ in range(5):
            run.log(x=float(run.step))
            run.next_step()
        run.next_epoch(2)
    resumed = collection.resume_run(run.number)
    assert resumed.id == run.id and resumed.number == 1 and resumed.status == "running"
    assert (resumed.step, resumed.epoch) == (5, 2)
    assert dict(resumed.config) == {"lr": 0.1}
    resumed.log(x=5.0)
    resumed.next_step()
    resumed.log(x=6.0)
    resumed.finish()
    assert _steps_and_x(resumed) == [(i, float(i)) for i in range(7)]
    assert collection.store.run(run.id).status == "finished"
    event = resumed.events.named("resumed")[0]
    assert event.data["previous_status"] == "finished" and event.data["step"] == 5
    assert [e.name for e in resumed.events] == ["started", "finished", "resumed", "finished"]


def test_resume_by_id_prefix_and_failed_run(collection: rk.Collection) -> None:
    with fast_run(collection):
        pass
    with pytest.raises(RuntimeError), fast_run(collection) as failed:
        failed.log(x=1.0)
        raise RuntimeError("nan loss")
    assert (failed.number, failed.error_number) == (2, 1)
    resumed = collection.resume_run(failed.id[:6])
    assert resumed.error_number == 0 and resumed.error is None
    resumed.finish()
    assert (resumed.number, resumed.error_number, resumed.status) == (2, 0, "finished")
    with fast_run(collection) as after:
        pass
    assert after.number == 3  # the resumed number now counts as a success


def test_a_live_run_cannot_be_resumed(collection: rk.Collection) -> None:
    run = fast_run(collection)
    with pytest.raises(rk.RunStateError, match="still running"):
        collection.resume_run(run.number)
    run.finish()


def test_resume_in_another_collection_is_refused(fresh_store: rk.Store) -> None:
    with fast_run(fresh_store.collection("a")) as run:
        pass
    with pytest.raises(rk.RunNotFoundError, match="collection 'a'"):
        fresh_store.collection("b").resume_run(run.id)
    with pytest.raises(rk.RunNotFoundError):
        fresh_store.collection("a").resume_run(42)
    with pytest.raises(TypeError):
        fresh_store.collection("a").resume_run(1.0)  # type: ignore[arg-type]


def _run_with_checkpoint(collection: rk.Collection) -> rk.Run:
    import torch

    model = torch.nn.Linear(2, 2)
    with fast_run(collection) as run:
        for step in range(10):
            run.log(x=float(step), step=step)
            if step == 5:
                run.next_epoch()
                run.save_model(model, "net")
    return run


def test_resume_from_the_checkpoint_keeps_later_records_by_default(collection: rk.Collection) -> None:
    pytest.importorskip("torch")
    run = _run_with_checkpoint(collection)
    resumed = collection.resume_run(run.number)
    assert resumed.resumed_from is not None and resumed.resumed_from.step == 5
    assert (resumed.step, resumed.epoch) == (5, 1)
    for step in range(6, 10):
        resumed.log(x=step + 0.5, step=step)  # no out-of-order warning: counters restart at 5
    resumed.finish()
    steps = [r["step"] for r in resumed.records]
    assert steps == [*range(10), *range(6, 10)]  # both attempts of steps 6..9, in log order


def test_resume_can_supersede_records_after_the_checkpoint(collection: rk.Collection) -> None:
    pytest.importorskip("torch")
    run = _run_with_checkpoint(collection)
    resumed = collection.resume_run(run.number, after_checkpoint="supersede")
    for step in range(6, 10):
        resumed.log(x=step + 0.5, step=step)
    resumed.finish()
    expected = [(s, float(s)) for s in range(6)] + [(s, s + 0.5) for s in range(6, 10)]
    assert _steps_and_x(resumed) == expected
    assert len(resumed.records) == 10
    assert resumed.records.mean("x") == pytest.approx(sum(x for _, x in expected) / 10)
    assert len(collection.records.where(step=7)) == 1
    assert len(resumed.records.with_superseded()) == 14  # nothing was deleted
    (series,) = resumed.series("x")  # a series leaves them out too
    assert list(zip(series.steps, series.values, strict=True)) == expected
    event = resumed.events.named("resumed")[0]
    assert event.data["superseded_after_step"] == 5 and event.data["after_checkpoint"] == "supersede"
    # The sealed Parquet file (what DuckDB, Polars and Spark read) holds what every read holds.
    if collection.store.path is not None:
        pq = pytest.importorskip("pyarrow.parquet")
        sealed = pq.read_table(collection.store.seal(resumed)).to_pydict()
        assert list(zip(sealed["step"], sealed["x"], strict=True)) == expected


def test_resume_ignoring_checkpoints(collection: rk.Collection) -> None:
    pytest.importorskip("torch")
    run = _run_with_checkpoint(collection)
    resumed = collection.resume_run(run.number, from_checkpoint=False)
    assert resumed.resumed_from is None and resumed.step == 9
    resumed.finish()
    with pytest.raises(rk.RunNotFoundError, match="no checkpoint named 'other'"):
        collection.resume_run(run.number, from_checkpoint="other")
    with pytest.raises(ValueError, match="after_checkpoint"):
        collection.resume_run(run.number, after_checkpoint="drop")  # type: ignore[arg-type]


def test_out_of_order_step_warns_and_keeps_the_record(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.log(x=1.0, step=5)
        with pytest.warns(rk.StepOrderWarning, match="step 3 logged after step 5"):
            run.log(x=2.0, step=3)
        other = run.scope(phase="eval")
        other.log(x=3.0, step=0)  # each scope keeps its own order
    assert _steps_and_x(run) == [(5, 1.0), (3, 2.0), (0, 3.0)]


def test_out_of_order_step_can_be_an_error(store_path: Path) -> None:
    with rk.open(store_path, out_of_order="raise") as store:
        with fast_run(store.collection("study")) as run:
            run.log(x=1.0, step=5)
            with pytest.raises(rk.StepOrderError, match="not logged"):
                run.log(x=2.0, step=4)
            run.log(x=3.0, step=5)
        assert _steps_and_x(run) == [(5, 1.0), (5, 3.0)]


def test_out_of_order_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECORDKIT_OUT_OF_ORDER", "raise")
    assert rk.Settings().out_of_order == "warn"
    from recordkit._settings import load_settings

    assert load_settings().out_of_order == "raise"
    monkeypatch.setenv("RECORDKIT_OUT_OF_ORDER", "ignore")
    with pytest.raises(ValueError, match="out_of_order"):
        load_settings()


CRASHES_AFTER_CHECKPOINT = """
import os, signal, sys
import torch
import recordkit as rk

run = rk.open(sys.argv[1]).collection("study").start_run(capture=False)
model = torch.nn.Linear(2, 2)
for step in range(10):
    run.log(x=float(step), step=step)
    if step == 5:
        run.save_model(model, "net")
run.flush()
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_resume_a_crashed_run(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent(CRASHES_AFTER_CHECKPOINT))
    store_path = tmp_path / "records"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECORDKIT_")}
    done = subprocess.run([sys.executable, str(script), str(store_path)], env=env, capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    with rk.open(store_path) as store:
        col = store.collection("study")
        assert col.run(1).status == "crashed"
        resumed = col.resume_run(1, after_checkpoint="supersede")
        assert resumed.step == 5 and resumed.status == "running"
        for step in range(6, 10):
            resumed.log(x=step + 0.5, step=step)
        resumed.finish()
        assert [r["step"] for r in resumed.records] == list(range(10))
        assert resumed.events.named("resumed")[0].data["previous_status"] == "crashed"
        assert "crashed" in resumed.events.names()


def test_resume_an_interrupted_run(collection: rk.Collection) -> None:
    with pytest.raises(KeyboardInterrupt), fast_run(collection) as run:
        run.log(x=0.0)
        run.next_step()
        raise KeyboardInterrupt
    assert run.status == "interrupted"
    with collection.resume_run(run.number) as resumed:
        assert resumed.step == 1
        resumed.log(x=1.0)
    assert resumed.status == "finished" and _steps_and_x(resumed) == [(0, 0.0), (1, 1.0)]
    assert resumed.events.named("resumed")[0].data["previous_status"] == "interrupted"

