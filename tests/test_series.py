"""run.series(key): one key's own values per scope, read without building records."""

from __future__ import annotations

import math

import pytest
from tests.conftest import fast_run

import recordkit as rk

pytestmark = pytest.mark.backends("sqlite", "postgres")


def test_a_key_logged_in_two_scopes_is_two_series(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run["owner"] = "ana"  # the run's own field: shared by every series, so in no label
        train, evaluate = run.scope(phase="train"), run.scope(phase="eval")
        for step in range(5):
            train.log({"loss": 1.0 / (step + 1)}, step=step)
            if step % 2 == 0:
                evaluate.log({"loss": 2.0 / (step + 1), "acc": step / 10}, step=step)
        run.log({"loss": 9.0}, step=5)
    found = run.series("loss")
    assert [s.label for s in found] == ["loss", "phase=train/loss", "phase=eval/loss"]
    root, trained, evaluated = found
    assert root.values == [9.0] and root.steps == [5] and root.scope == {}
    assert trained.steps == [0, 1, 2, 3, 4] and trained.values == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert evaluated.steps == [0, 2, 4] and evaluated.values == [2.0, 2 / 3, 0.4]
    assert evaluated.scope == {"phase": "eval"} and len(evaluated) == 3
    assert trained.seqs == sorted(trained.seqs) and len(set(trained.seqs + evaluated.seqs)) == 8
    assert all(a <= b for a, b in zip(trained.times, trained.times[1:], strict=False))
    assert [s.label for s in run.series("acc")] == ["phase=eval/acc"]
    assert run.series("never") == []


def test_values_the_column_cannot_hold_are_kept_in_order(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        for value in [1.0, float("nan"), 3, float("inf"), "five", None, 7.5]:
            run.log(v=value)
            run.next_step()
    (series,) = run.series("v")
    assert series.steps == [0, 1, 2, 3, 4, 6]  # None is no value
    assert series.values[0] == 1.0 and math.isnan(series.values[1]) and series.values[2:] == [3, math.inf, "five", 7.5]


def test_after_seq_reads_only_what_is_new(collection: rk.Collection) -> None:
    run = fast_run(collection)
    nested = run.scope(model="m1").scope(phase="eval")
    for step in range(3):
        nested.log({"loss": float(step)}, step=step)
    run.flush()
    (first,) = run.series("loss")
    assert first.label == "model=m1/phase=eval/loss"
    for step in range(3, 6):
        nested.log({"loss": float(step)}, step=step)
    run.finish()
    (new,) = run.series("loss", after_seq=first.seqs[-1])
    assert new.steps == [3, 4, 5] and new.seqs[0] > first.seqs[-1]
    assert run.series("loss", after_seq=new.seqs[-1]) == []


def test_scopes_with_the_same_fields_make_one_series(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        for step in range(4):
            run.scope(phase="train").log({"loss": float(step)}, step=step)  # a new scope each time
            run.scope(phase="eval").log({"loss": -float(step)}, step=step)
    train, evaluate = run.series("loss")
    assert (train.label, train.steps, train.values) == ("phase=train/loss", [0, 1, 2, 3], [0.0, 1.0, 2.0, 3.0])
    assert evaluate.values == [0.0, -1.0, -2.0, -3.0] and len(train.scope_ids) == 4
    assert train.seqs == sorted(train.seqs)


def test_a_bad_key_is_refused(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.log(x=1)
    with pytest.raises(TypeError, match="key name"):
        run.series("")
    assert repr(run.series("x")[0]) == "<Series 'x' of 1 points>"
