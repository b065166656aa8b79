"""Events: hierarchical names, contexts, timed blocks, pause/resume, lifecycle events, JSONL export."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from pathlib import Path

import pytest
from tests.conftest import fast_run

import recordkit as rk
from recordkit.runs.events import read_jsonl

# Behaviour tests run on both engines; those that need a folder store (file system, subprocess) stay SQLite-only.
pytestmark = pytest.mark.backends("sqlite", "postgres")


def test_event_names_data_and_step(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.next_step(3)
        run.event("epoch/2/eval", acc=0.9, note="ok")
    [event] = run.events.named("epoch/2/eval")
    assert event.step == 3
    assert dict(event.data) == {"acc": 0.9, "note": "ok"}
    assert event.parts == ("epoch", "2", "eval")
    assert event.run_id == run.id
    assert run.events.where(acc=lambda v: v is not None and v > 0.5).names() == ["epoch/2/eval"]


def test_lifecycle_events_are_written_by_the_library(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.pause()
        run.resume()
    assert run.events.names() == ["started", "paused", "resumed", "finished"]
    with pytest.raises(ValueError), fast_run(collection) as failing:
        raise ValueError("boom")
    failed = failing.events.named("failed")[0]
    assert dict(failed.data) == {"type": "ValueError", "message": "boom"}


def test_context_prefixes_and_nests(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        train = run.context("train")
        train.event("epoch/1", loss=0.5)
        epoch2 = train.context("epoch/2")
        epoch2.event("eval", acc=0.8)
        with epoch2.timed("test"):
            pass
        run.event("other")
    names = run.events.names()
    assert "train/epoch/1" in names and "train/epoch/2/eval" in names and "train/epoch/2/test" in names
    assert [e.name for e in train.events] == ["train/epoch/1", "train/epoch/2/eval", "train/epoch/2/test"]
    assert [e.name for e in run.events.under("train/epoch/2")] == ["train/epoch/2/eval", "train/epoch/2/test"]
    assert run.events.children("train/epoch") == ["1", "2"]
    assert "train" in run.events.children()


def test_under_matches_whole_parts_only(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.event("epoch/1")
        run.event("epoch/10")
        run.event("epoch/1/eval")
    assert [e.name for e in run.events.under("epoch/1")] == ["epoch/1", "epoch/1/eval"]


def test_timed_records_duration_and_start_time(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        before = time.time()
        run.next_step(4)
        with run.timed("eval", split="val") as timer:
            time.sleep(0.02)
            run.next_step()
    [event] = run.events.named("eval")
    assert event.duration is not None and event.duration >= 0.02
    assert event.duration == timer.duration
    assert before <= event.time <= before + event.duration
    assert event.step == 4  # the step when the block started
    assert dict(event.data) == {"split": "val"}


def test_timed_block_that_raises_is_recorded_and_propagates(collection: rk.Collection) -> None:
    with fast_run(collection) as run, pytest.raises(KeyError), run.timed("load"):
        raise KeyError("x")
    [event] = run.events.named("load")
    assert event.data["error"] == "KeyError"
    assert event.duration is not None


def test_pause_records_status_and_duration(collection: rk.Collection) -> None:
    run = fast_run(collection)
    run.pause()
    assert collection.store.run(run.id).status == "paused"
    run.event("waiting/for/gpu")  # events are allowed while paused (logging is not)
    with pytest.raises(rk.RunStateError, match="paused"):
        run.log(x=1)
    time.sleep(0.01)
    run.resume()
    run.finish()
    resumed = run.events.named("resumed")[0]
    assert resumed.data["paused_for"] >= 0.01
    assert run.events.names()[:4] == ["started", "paused", "waiting/for/gpu", "resumed"]


@pytest.mark.parametrize("name", ["", "a//b", "/a", "a/", " ", "a/\x00", 3, None])
def test_bad_event_names_are_rejected(collection: rk.Collection, name: object) -> None:
    with fast_run(collection) as run, pytest.raises(rk.InvalidNameError):
        run.event(name)  # type: ignore[arg-type]


def test_bad_event_data_is_rejected_at_the_call(collection: rk.Collection) -> None:
    with fast_run(collection) as run, pytest.raises(TypeError, match="obj"):
        run.event("x", obj=object())


def test_events_of_an_ended_run_are_refused(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        pass
    with pytest.raises(rk.RunStateError, match="resume_run"):
        run.event("late")
    with pytest.raises(rk.RunStateError), run.timed("late"):
        pass


def test_collection_and_store_events(fresh_store: rk.Store) -> None:
    a, b = fresh_store.collection("a"), fresh_store.collection("b")
    with fast_run(a) as run_a:
        run_a.event("x")
    with fast_run(b) as run_b:
        run_b.event("y")
    assert {e.run_id for e in a.events} == {run_a.id}
    assert "y" not in a.events.names()
    assert {e.run_id for e in fresh_store.events} == {run_a.id, run_b.id}


def test_jsonl_is_strict_json_and_round_trips(collection: rk.Collection, tmp_path: Path) -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5)
    with fast_run(collection) as run:
        run.event("values", nan=math.nan, inf=-math.inf, when=when, nested={"$float": 1})
    path = tmp_path / "log.jsonl"
    text = run.events.to_jsonl(path)
    assert path.read_text() == text
    for line in text.splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"bare {c} in JSONL"))
    assert "NaN" not in text and "Infinity" not in text
    [values] = [e for e in read_jsonl(path) if e["name"] == "values"]
    assert math.isnan(values["data"]["nan"]) and values["data"]["inf"] == -math.inf
    assert values["data"]["when"] == when and values["data"]["nested"] == {"$float": 1}
    assert values["time"].endswith("+00:00")


def test_finished_run_folder_has_an_event_log(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.event("epoch/1")
    lines = read_jsonl(run.folder / "events.jsonl")
    assert [line["name"] for line in lines] == ["started", "epoch/1", "finished"]


def test_event_data_tensors_are_converted(collection: rk.Collection) -> None:
    torch = pytest.importorskip("torch")
    with fast_run(collection) as run:
        run.event("t", value=torch.tensor(2.5), vector=torch.tensor([1.0, 2.0]))
    [event] = run.events.named("t")
    assert dict(event.data) == {"value": 2.5, "vector": [1.0, 2.0]}


def test_events_to_pandas(collection: rk.Collection) -> None:
    pytest.importorskip("pandas")
    with fast_run(collection) as run:
        run.event("e", acc=0.5)
    frame = run.events.to_pandas()
    assert list(frame[frame["name"] == "e"]["data.acc"]) == [0.5]
