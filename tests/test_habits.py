"""The tracker habits new users bring (issue 14): wandb's steps and commit=, nested metric dicts,
the init/config/summary/finish shapes. Real stores, both engines."""

from __future__ import annotations

import pytest
from tests.conftest import fast_run

import recordkit as rk

pytestmark = pytest.mark.backends("sqlite", "postgres")


def _own(run: rk.Run, *keys: str) -> list[tuple[object, ...]]:
    return [(r["step"], *(r.own(k) for k in keys)) for r in run.records]


# --- steps: each rk.log call is the next step ----------------------------------------------------


def test_each_module_level_log_is_the_next_step(store_url: str) -> None:
    run = rk.init(project="p", store=store_url, capture=False)
    for i in range(3):
        rk.log({"loss": 1.0 / (i + 1)})
    rk.finish()
    assert _own(run, "loss") == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert run.history("loss") == ([0, 1, 2], [1.0, 0.5, 1 / 3])


def test_commit_false_accumulates_into_the_current_step(store_url: str) -> None:
    run = rk.init(project="p", store=store_url, capture=False)
    rk.log({"loss": 0.5})
    rk.log({"acc": 0.7}, commit=False)  # held back: no record yet, the step stays
    rk.log(lr=0.1, commit=False)
    rk.log({"loss": 0.4})               # step 1: one record with loss, acc and lr
    rk.log({"loss": 0.3}, commit=True)
    rk.finish()
    assert _own(run, "loss", "acc", "lr", "commit") == [
        (0, 0.5, None, None, None), (1, 0.4, 0.7, 0.1, None), (2, 0.3, None, None, None)
    ]
    assert "commit" not in run.summary()  # commit= is an option, never a metric


def test_an_explicit_step_is_kept_and_held_back_values_land_at_their_own_step(store_url: str) -> None:
    run = rk.init(project="p", store=store_url, capture=False)
    rk.log({"a": 1})                      # step 0, then 1
    rk.log({"b": 2}, commit=False)        # held back at step 1
    rk.log({"c": 3}, step=5)              # b is written at step 1 first; c at 5, the step stays 5
    rk.log({"d": 4})                      # step 5, then 6
    rk.log({"e": 5})                      # step 6
    rk.finish()
    assert [(r["step"], sorted(k for k in "abcde" if r.own(k) is not None)) for r in run.records] == [
        (0, ["a"]), (1, ["b"]), (5, ["c"]), (5, ["d"]), (6, ["e"])
    ]


def test_run_log_without_a_step_stays_at_run_step(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.log(loss=1.0)
        run.log(loss=0.9)
        run.next_step()
        run.log(loss=0.8)
        run.log({"acc": 0.5}, commit=False)  # commit= works on run.log too: into run.pending
        assert run.pending == {"acc": 0.5}
        run.log(loss=0.7)
    assert _own(run, "loss", "acc") == [(0, 1.0, None), (0, 0.9, None), (1, 0.8, None), (1, 0.7, 0.5)]


@pytest.mark.parametrize("call", ["module", "run"])
def test_a_dict_and_keyword_values_together_is_a_clear_error(store_url: str, call: str) -> None:
    run = rk.init(project="p", store=store_url, capture=False)
    log = rk.log if call == "module" else run.log
    log({"loss": 0.5})
    with pytest.raises(TypeError, match=r"got a dict and keyword values \(acc=\).*put it in the dict"):
        log({"loss": 0.4}, acc=0.9)
    with pytest.raises(TypeError, match=r"\(sync=\): beside a dict it takes only step=, commit= and flatten="):
        log({"loss": 0.4}, sync=True)  # an option misspelt or unknown
    with pytest.raises(TypeError, match="commit= takes True or False, not 'no'"):
        log({"loss": 0.4}, commit="no")
    with pytest.raises(TypeError, match="takes a dict of values"):
        log([("loss", 0.4)], step=3)  # type: ignore[arg-type]
    rk.finish()
    assert _own(run, "loss") == [(0, 0.5)]  # nothing of the refused calls was logged


# --- nested dicts flatten to a/b/c ----------------------------------------------------------------


def test_nested_dicts_flatten_to_slash_keys_that_plot_and_aggregate(store_url: str) -> None:
    run = rk.init(project="p", store=store_url, capture=False)
    for i in range(4):
        rk.log({"train": {"loss": 1.0 / (i + 1), "grad": {"norm": float(i)}}, "epoch": 0})
    rk.log({"empty": {}})  # an empty dict stays one (JSON) value
    rk.finish()
    assert run.history("train/loss") == ([0, 1, 2, 3], [1.0, 0.5, 1 / 3, 0.25])
    assert run.summary()["train/grad/norm"]["max"] == 3.0
    store = rk.open(store_url)
    records = store.collection("p").records
    assert records.mean("train/grad/norm") == 1.5
    last = list(records)[-1]
    assert last["empty"] == {}
    with fast_run(store.collection("p")) as other, pytest.raises(ValueError, match="'a/b' is given twice"):
        other.log({"a/b": 1, "a": {"b": 2}})
    store.close()


def test_flatten_false_keeps_a_dict_as_one_value(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.log({"cfg": {"depth": 3}}, flatten=False)
    assert run.records[0]["cfg"] == {"depth": 3}
