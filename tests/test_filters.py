"""Filters with comparisons and metrics, and summary columns (last, min, max, mean of the last N), in the
library on both engines: the same texts ``recordkit ls --where`` takes."""

from __future__ import annotations

import math

import pytest
from tests.conftest import fast_run

import recordkit as rk
from recordkit.read.listing import Compare, parse_where
from recordkit.read.summaries import Summary, parse_summary
from recordkit.read.where import Contains

pytestmark = pytest.mark.backends("sqlite", "postgres")

CURVES = {0.1: [0.5, 0.97, 0.6], 0.01: [0.8, 0.9, 0.95], 0.001: [0.1, float("nan"), 0.3]}


@pytest.fixture
def sweep(collection: rk.Collection) -> rk.Collection:
    for lr, accs in CURVES.items():
        with fast_run(collection, config={"lr": lr}, name=f"lr={lr}") as run:
            for step, acc in enumerate(accs):
                run.log({"acc": acc}, step=step)
    return collection


def _names(runs: list[rk.Run]) -> list[str | None]:
    return [run.name for run in runs]


def test_comparisons_on_metrics_and_config(sweep: rk.Collection) -> None:
    store = sweep.store
    assert _names(store.runs(where=["acc>0.9"])) == ["lr=0.01"]
    assert _names(sweep.runs(where=["acc>=0.6", "config.lr<=0.01"])) == ["lr=0.01"]
    assert _names(sweep.runs(where=["lr<0.05"])) == ["lr=0.01", "lr=0.001"]  # a bare config key
    assert _names(sweep.runs(where=["name!=lr=0.1"], sort="-acc")) == ["lr=0.01", "lr=0.001"]
    assert _names(sweep.runs(where={"acc": Compare("<", 0.5)})) == ["lr=0.001"]
    with pytest.raises(rk.QueryError, match="'acx' is in no listed run"):
        sweep.runs(where=["acx>1"])


def test_summary_columns_filter_sort_and_show(sweep: rk.Collection) -> None:
    assert _names(sweep.runs(where=["max(acc)>0.96"])) == ["lr=0.1"]
    assert _names(sweep.runs(where=["min(acc)>=0.5"], sort="-mean(acc,2)")) == ["lr=0.01", "lr=0.1"]
    rows = sweep.run_table(summaries=["last(acc)", "min(acc)", "max(acc)", "mean(acc)", "mean(acc,2)", "max(acc,1)"])
    by_name = {row["name"]: row for row in rows}
    first = by_name["lr=0.1"]
    assert (first["last(acc)"], first["min(acc)"], first["max(acc)"]) == (0.6, 0.5, 0.97)
    assert first["mean(acc)"] == pytest.approx((0.5 + 0.97 + 0.6) / 3)
    assert first["mean(acc,2)"] == pytest.approx((0.97 + 0.6) / 2) and first["max(acc,1)"] == 0.6
    nan_run = by_name["lr=0.001"]  # NaN is skipped, as in records.mean: the last 2 numbers are 0.1 and 0.3
    assert nan_run["mean(acc)"] == pytest.approx(0.2) and nan_run["mean(acc,2)"] == pytest.approx(0.2)
    assert nan_run["max(acc,1)"] == 0.3
    assert sweep.run_table(summaries=["max(nothing)"])[0]["max(nothing)"] is None
    with pytest.raises(rk.QueryError, match="no summary column"):
        sweep.run_table(summaries=["median(acc)"])


def test_contains_on_run_fields_tags_config_and_records(sweep: rk.Collection) -> None:
    store = sweep.store
    assert _names(sweep.runs(where=["name~LR=0.0"])) == ["lr=0.01", "lr=0.001"]  # any case
    tagged = fast_run(sweep, name="tagged", tags=["resnet-50"], config={"opt": {"name": "AdamW"}})
    tagged.finish()
    assert _names(store.runs(where=["tags~resnet"])) == ["tagged"]  # any tag holding the text
    assert _names(store.runs(where=["config.opt.name ~ adam"])) == ["tagged"]
    assert [r["run_name"] for r in sweep.records.where("run_name~=0.001", "acc>0.2")] == ["lr=0.001"]
    assert parse_where(["path=~/data", "a~b>1"]) == {"path": "~/data", "a": Contains("b>1")}  # the first operator


def test_parse_where_and_parse_summary() -> None:
    assert parse_where(["a=1", "b>2", "c>=x", "d!=null", "e==3", "name=lr=0.1", "f<-1"]) == {
        "a": 1, "b": Compare(">", 2), "c": Compare(">=", "x"), "d": Compare("!=", None), "e": 3,
        "name": "lr=0.1", "f": Compare("<", -1),
    }
    assert Compare(">", 0.5)(0.6) and not Compare(">", 0.5)(None) and not Compare(">", 0.5)(math.nan)
    assert not Compare(">", 0.5)("text")  # cannot be compared: no match, no error
    with pytest.raises(rk.QueryError, match="KEY=VALUE or KEY>VALUE"):
        parse_where([">3"])
    assert parse_summary("mean(acc, 10)") == Summary("mean", "acc", 10)
    assert parse_summary("max(phase=eval/loss)") == Summary("max", "phase=eval/loss", None)
    assert parse_summary("last(acc,3)") is None and parse_summary("mean(acc,0)") is None


def test_records_where_takes_filter_texts(sweep: rk.Collection) -> None:
    high = sweep.records.where("acc>=0.9", "config.lr<=0.01")
    assert [(r["run_name"], r["acc"]) for r in high] == [("lr=0.01", 0.9), ("lr=0.01", 0.95)]
    assert len(sweep.records.where("step=2", "acc<0.5")) == 1  # equality and comparison together
    assert sweep.records.where("acc>0.5").mean("acc") == pytest.approx((0.97 + 0.6 + 0.8 + 0.9 + 0.95) / 5)
    with pytest.raises(rk.QueryError, match="twice"):
        sweep.records.where("acc>0.5", acc=0.9)
    with pytest.raises(rk.QueryError, match=r"'acx'.*similar: acc"):
        len(sweep.records.where("acx>0.5"))
