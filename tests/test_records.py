"""The flat Records view: values round-trip exactly, filters run in SQL, conversions."""

from __future__ import annotations

import datetime as dt
import math
import threading
from typing import Any

import numpy as np
import pytest
from tests.conftest import fast_run

import recordkit as rk

pytestmark = pytest.mark.backends("sqlite", "postgres")


@pytest.fixture
def study(collection: rk.Collection) -> rk.Collection:
    """Two runs, two models each, training and testing scopes (the rigorous-recorder example)."""
    for _ in range(2):
        with fast_run(collection) as run:
            for model_name in ("model1", "model2"):
                model = run.scope(model=model_name)
                train = model.scope(training=True)
                test = model.scope(testing=True)
                for i in range(10):
                    train.log(index=i, loss=1.0 / (i + 1))
                for i in range(3):
                    test.log(index=i, accuracy=0.5 + i / 10)
                run.next_step()
    return collection


def test_every_kind_of_value_round_trips(collection: rk.Collection) -> None:
    when = dt.datetime(2026, 11, 22, 5, 30, tzinfo=dt.timezone.utc)
    values = {
        "f": 0.1, "i": 2**53 + 1, "neg": -7, "b": True, "s": "ünïcode", "none": None, "nan": float("nan"),
        "inf": float("inf"), "ninf": -float("inf"), "when": when, "day": dt.date(2026, 1, 1),
        "lst": [1, 2.5, "x", None], "dct": {"a": {"b": [float("inf")]}},
        "npf": np.float32(0.5), "npa": np.arange(4).reshape(2, 2), "one": np.array([3.0]),
    }
    with fast_run(collection) as run:
        run.log(values)
    (record,) = list(collection.records)
    assert record["f"] == 0.1 and record["i"] == 2**53 + 1 and record["neg"] == -7
    assert record["b"] is True and record["s"] == "ünïcode" and record["none"] is None
    assert math.isnan(record["nan"]) and record["inf"] == math.inf and record["ninf"] == -math.inf
    assert record["when"] == when and record["day"] == dt.date(2026, 1, 1)
    # A nested dict flattens to a/b keys (issue 14): a metric per leaf, so it plots and aggregates.
    assert record["lst"] == [1, 2.5, "x", None] and record["dct/a/b"] == [math.inf] and "dct" not in record
    assert record["npf"] == 0.5 and record["npa"] == [[0, 1], [2, 3]] and record["one"] == 3.0


def test_a_key_changing_kind_keeps_every_value(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        for value in [1.0, "one", True, None, [1], 2]:
            run.log(v=value)
    assert [r["v"] for r in collection.records] == [1.0, "one", True, None, [1], 2]


def test_records_with_different_keys_merge_by_name(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.log(a=1)
        run.log(b=2)
        run.log(a=3, b=4, c=5)
        run.log(a=6)
    rows = [(r["a"], r["b"], r["c"]) for r in collection.records]
    assert rows == [(1, None, None), (None, 2, None), (3, 4, 5), (6, None, None)]


def test_keys_that_differ_only_in_case_or_hold_sql(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.log({"Loss": 1.0, "loss": 2.0, 'a"; DROP TABLE runs; --': 3.0, "with space": 4.0})
    (record,) = list(collection.records)
    assert (record["Loss"], record["loss"], record['a"; DROP TABLE runs; --'], record["with space"]) == (
        1.0, 2.0, 3.0, 4.0,
    )
    assert len(collection.runs()) == 1


def test_where_equality_on_scope_fields(study: rk.Collection) -> None:
    assert len(study.records) == 2 * 2 * 13
    model1_training = study.records.where(training=True, model="model1")
    assert len(model1_training) == 2 * 10
    assert all(r["model"] == "model1" and r["training"] for r in model1_training)


def test_where_on_record_values_run_fields_and_step(study: rk.Collection) -> None:
    assert len(study.records.where(index=2)) == 2 * 2 * 2
    assert len(study.records.where(experiment_number=2)) == 26
    assert len(study.records.where(step=1, model="model2")) == 2 * 13
    assert len(study.records.where(had_error=True)) == 0


def test_where_with_callables(study: rk.Collection) -> None:
    first_half = study.records.where(lambda r: r["training"] is True and r["index"] < 5)
    assert len(first_half) == 2 * 2 * 5
    low_loss = study.records.where(loss=lambda v: v is not None and v < 0.2)
    assert {r["index"] for r in low_loss} == {5, 6, 7, 8, 9}


def test_where_rejects_non_callable_positional(study: rk.Collection) -> None:
    with pytest.raises(rk.QueryError, match="callables"):
        study.records.where(3)  # type: ignore[arg-type]
    with pytest.raises(rk.QueryError, match="KEY=VALUE or KEY>VALUE"):  # a text is a filter, when it is one
        study.records.where("training")


def test_filters_run_in_sql(study: rk.Collection) -> None:
    records = study.records.where(model="model1", index=3)
    plan = records._plan()
    query, exact = plan.query, plan.exact
    assert exact
    # "model" is only ever a scope field: it becomes a scope restriction, "index" a column test.
    assert [key for key, _, _ in query.equals] == ["index"]
    assert query.scope_ids is not None and query.scope_ids
    assert len(records) == study.store.backend.count_records(query) == 2  # 2 runs, training only


def test_scope_only_filter_spans_runs_in_one_statement(study: rk.Collection) -> None:
    records = study.records.where(model="model1")
    plan = records._plan()
    query, exact = plan.query, plan.exact
    assert exact and not query.equals
    expected = [r for r in study.records if r["model"] == "model1"]
    assert len(records) == len(expected) > 0
    losses = [r.own("loss") for r in expected if r.own("loss") is not None]
    assert records.mean("loss") == pytest.approx(sum(losses) / len(losses))
    assert study.records.where(model="no such model").count("loss") == 0


def test_aggregates_run_in_the_engine(study: rk.Collection) -> None:
    training = study.records.where(training=True)
    losses = [r["loss"] for r in training]
    assert training.mean("loss") == pytest.approx(sum(losses) / len(losses))
    assert training.min("loss") == min(losses) and training.max("loss") == max(losses)
    assert training.count("loss") == len(losses) and training.sum("loss") == pytest.approx(sum(losses))
    assert study.records.where(testing=True).mean("loss") is None


def test_mean_skips_nan(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        for x in [1.0, float("nan"), 3.0]:
            run.log(x=x)
    assert collection.records.mean("x") == 2.0


def test_indexing_and_first(study: rk.Collection) -> None:
    assert study.records[0]["index"] == 0
    assert study.records[-1]["accuracy"] == pytest.approx(0.7)
    assert study.records.first() is not None
    with pytest.raises(IndexError):
        _ = study.records[10_000]


def test_history(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        for step in range(5):
            run.log(loss=1.0 / (step + 1), step=step)
            run.log(other=1)
    steps, values = run.history("loss")
    assert steps == [0, 1, 2, 3, 4]
    assert values == [1.0, 0.5, 1 / 3, 0.25, 0.2]


def test_summary_is_kept_on_write(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        for step, loss in enumerate([3.0, 1.0, float("nan"), 2.0]):
            run.log(loss=loss, step=step)
        run.log(name="x")
    summary = run.summary()
    assert summary["loss"] == {"last": 2.0, "last_step": 3, "min": 1.0, "max": 3.0, "count": 4}
    assert summary["name"]["last"] == "x"


def test_to_pandas_polars_arrow_agree(study: rk.Collection) -> None:
    frame = study.records.to_pandas()
    assert len(frame) == 52
    assert frame.query("model == 'model1' and training == True")["loss"].notna().sum() == 20
    polars_frame = study.records.to_polars()
    assert polars_frame.height == 52
    table = study.records.to_arrow()
    assert table.num_rows == 52
    assert set(frame.columns) == set(polars_frame.columns) == set(table.column_names)
    assert {"run_id", "experiment_number", "model", "training", "loss", "step"} <= set(frame.columns)


def test_run_records_only_hold_that_run(study: rk.Collection) -> None:
    first = study.run(1)
    assert len(first.records) == 26
    assert {r["run_id"] for r in first.records} == {first.id}


def test_store_records_cover_every_collection(fresh_store: rk.Store) -> None:
    for name in ("a", "b"):
        with fast_run(fresh_store.collection(name)) as run:
            run.log(x=1)
    assert sorted(r["collection"] for r in fresh_store.records) == ["a", "b"]


def test_records_beyond_the_column_limit_and_mixed_kinds_read_back_exactly(
    collection: rk.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recordkit.backends import tables

    monkeypatch.setattr(tables, "MAX_COLUMNS", 3)  # keys past the third go to the overflow column
    wide = {f"k{i}": float(i) for i in range(6)}
    with fast_run(collection) as run:
        run.log(wide)
        run.log(wide)  # the second takes the batch's fast path
        run.log(k0=math.nan, k1="text", k2=2.0)  # NaN and another kind than the column's
        run.log(k0=1.0, k1=2.0, k2=3.0)
    records = list(collection.records)
    assert [{k: r.own(k) for k in wide} for r in records[:2]] == [wide, wide]
    assert math.isnan(records[2]["k0"]) and records[2]["k1"] == "text"
    assert collection.records.where(k5=5.0).count("k5") == 2
    assert collection.records.sum("k4") == 8.0
    assert run.summary()["k5"]["last"] == 5.0


class _Counting:
    """The store's own backend, counting the calls a read makes (every call still reaches the engine)."""

    def __init__(self, store: rk.Store, names: tuple[str, ...]) -> None:
        self.calls: dict[str, int] = dict.fromkeys(names, 0)
        self._store, self._saved = store, {}
        self._thread = threading.get_ident()
        for name in names:
            real = getattr(store.backend, name)
            self._saved[name] = real

            def counted(*args: object, _real: object = real, _name: str = name, **kwargs: object) -> object:
                if threading.get_ident() == self._thread:  # not the background seal of a finished run
                    self.calls[_name] += 1
                return _real(*args, **kwargs)  # type: ignore[operator]

            setattr(store.backend, name, counted)

    def reset(self) -> None:
        self.calls = dict.fromkeys(self.calls, 0)

    def restore(self) -> None:
        for name, real in self._saved.items():
            setattr(self._store.backend, name, real)


@pytest.mark.parametrize(
    "read",
    [
        pytest.param(lambda r: r.to_columns(), id="to_columns"),
        pytest.param(lambda r: r.to_pandas(), id="to_pandas"),
        pytest.param(lambda r: len(r), id="len"),
        pytest.param(lambda r: r[-1], id="last"),
        pytest.param(lambda r: r.mean("loss"), id="mean"),
        pytest.param(lambda r: len(r.where(lambda rec: rec["step"] > 0)), id="len-of-a-callable-filter"),
        pytest.param(lambda r: r.where(lambda rec: True).mean("loss"), id="mean-of-a-callable-filter"),
    ],
)
def test_a_read_plans_once(collection: rk.Collection, read: Any) -> None:
    """One read asks the store for its runs, scopes and keys once, not once per step of the read."""
    with collection.start_run(capture=False) as run:
        train = run.scope(phase="train")
        for step in range(5):
            train.log({"loss": 1.0 / (step + 1)}, step=step)
    spy = _Counting(collection.store, ("find_runs", "scopes", "keys"))
    try:
        read(collection.records.where(phase="train"))
        assert spy.calls["find_runs"] == 1
        assert spy.calls["scopes"] == 1
        assert spy.calls["keys"] <= 1
    finally:
        spy.restore()
