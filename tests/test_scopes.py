"""Scopes: nesting, late fields stored once, pending records, siblings."""

from __future__ import annotations

import pytest
from tests.conftest import engine_rows, fast_run

import recordkit as rk

pytestmark = pytest.mark.backends("sqlite", "postgres")


def test_records_read_their_scopes_fields_flat(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        model = run.scope(model="model1")
        train = model.scope(training=True)
        train.log(index=0, loss=0.5)
    (record,) = list(collection.records)
    assert record["model"] == "model1" and record["training"] is True
    assert record["index"] == 0 and record["loss"] == 0.5
    assert record["missing"] is None
    assert "model" in record and "missing" not in record


def test_scopes_nest_to_any_depth_and_nearest_wins(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        scope = run
        for depth in range(12):
            scope = scope.scope(depth=depth, **{f"level{depth}": True})
        scope.log(x=1.0)
        scope.log(depth=99)  # a record's own value wins over its scopes'
    first, second = list(collection.records)
    assert first["depth"] == 11 and first["level0"] and first["level11"]
    assert second["depth"] == 99


def test_fields_added_later_are_seen_by_every_record(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        model = run.scope(model="m1")
        model.log(x=1.0)
        model["note"] = "late"
        model.log(x=2.0)
    assert [r["note"] for r in collection.records] == ["late", "late"]
    assert model["note"] == "late" and model.fields == {"model": "m1", "note": "late"}


def test_scope_fields_are_stored_once_not_per_record(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        scope = run.scope(description="x" * 10_000)
        for i in range(200):
            scope.log(i=i)
    store = collection.store
    ((count,),) = engine_rows(store, "SELECT count(*) FROM scopes WHERE fields LIKE '%xxxxxxxx%'")
    tables = [t for (t,) in engine_rows(store, "SELECT name FROM record_tables")]
    stored = sum(engine_rows(store, f"SELECT count(*) FROM {t} WHERE extra LIKE '%xxxx%'")[0][0] for t in tables)  # type: ignore[misc]
    assert count == 1
    assert stored == 0
    assert all(r["description"] == "x" * 10_000 for r in collection.records)


def test_sibling_scopes_with_equal_fields_stay_distinct(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        a = run.scope(model="same")
        b = run.scope(model="same")
        a.log(x=1.0)
        b.log(x=2.0)
        a["which"] = "a"
    assert a.scope_id != b.scope_id
    assert [(r["x"], r["which"]) for r in collection.records] == [(1.0, "a"), (2.0, None)]


def test_pending_record_built_in_pieces(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        scope = run.scope(training=True)
        for i in range(3):
            scope.pending["index"] = i
            scope.pending["loss"] = i / 10
            scope.commit()
        scope.commit()  # nothing pending: no empty record
    assert [(r["index"], r["loss"]) for r in collection.records] == [(0, 0.0), (1, 0.1), (2, 0.2)]


def test_log_accepts_a_dict_or_keywords_not_both(collection: rk.Collection) -> None:
    values = {"a": 1.0}
    with fast_run(collection) as run:
        run.log(values)
        run.log(b=2.0)
        with pytest.raises(TypeError, match=r"got a dict and keyword values \(c=\)"):  # issue 14
            run.log(values, c=3.0)
    assert values == {"a": 1.0}
    assert [dict(r._values) for r in collection.records] == [{"a": 1.0}, {"b": 2.0}]


def test_bad_value_raises_at_the_call_and_loses_nothing(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.log(x=1.0)
        try:
            run.log(x=2.0, fn=lambda: None)
        except TypeError as exc:
            assert "'fn'" in str(exc)
        else:
            raise AssertionError("a lambda must not be storable")
        run.log(x=3.0)
    assert [r["x"] for r in collection.records] == [1.0, 3.0]


def test_scope_on_a_finished_run_is_an_error(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        scope = run.scope(a=1)
    try:
        scope.log(x=1)
    except rk.RunStateError as exc:
        assert "finished" in str(exc)
    else:
        raise AssertionError("logging to a finished run's scope must fail")
