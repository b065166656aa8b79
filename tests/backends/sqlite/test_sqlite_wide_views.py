"""store.sql works for any number of keys: ``records`` keeps the columns a query names, ``record_values`` holds all.

Before, about 3,000 distinct keys in a store made every ``records`` query fail with "too many columns".
"""

from __future__ import annotations

import math

import pytest
from tests.conftest import fast_run

import recordkit as rk
from recordkit.backends.sqlite import views


@pytest.fixture
def wide(fresh_store: rk.Store) -> rk.Store:
    """One run with 3,000 distinct keys: three records of 1,000 keys each, and one small record."""
    with fast_run(fresh_store.collection("study")) as run:
        for part in range(3):
            run.log({f"k{part * 1000 + i}": float(part * 1000 + i) for i in range(1000)}, step=part)
        run.log(loss=0.25, note="small", step=3)
    return fresh_store


def test_records_of_a_store_with_3000_keys_can_be_queried(wide: rk.Store) -> None:
    assert wide.sql("select count(*) from records").scalar() == 4
    assert wide.sql("select step, k2999, k0 from records where k2999 is not null").rows == [(2, 2999.0, None)]
    assert wide.sql('select sum("K1500") + sum(loss) from records').scalar() == 1500.25  # names ignore case
    everything = wide.sql("select * from records")
    assert len(everything.columns) <= views.MAX_VIEW_COLUMNS and len(everything.rows) == 4


def test_record_values_holds_every_key_in_long_form(wide: rk.Store) -> None:
    assert wide.sql("select count(*), count(distinct key) from record_values").rows == [(3002, 3002)]
    assert wide.sql("select step, value from record_values where key = ?", ["k2345"]).rows == [(2, 2345.0)]
    [(run_name, value)] = wide.sql(
        "select r.run_name, v.value from record_values v join runs r using (run_id) where v.key = 'note'"
    ).rows
    assert value == "small" and run_name == wide.runs()[0].name  # a generated name


def test_past_the_limit_the_named_columns_come_first(fresh_store: rk.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "MAX_VIEW_COLUMNS", 30)
    with fast_run(fresh_store.collection("study"), config={"lr": 0.1}) as run:
        scope = run.scope(episode=7)
        scope.log({f"k{i}": i for i in range(40)})
        scope.log(Loss=1.0, loss=2.0)
    sql = fresh_store.sql
    assert sql("select k39, k0, episode from records where k39 is not null").rows == [(39, 0, 7)]
    assert sql('select Loss, loss_2, "config.lr" from records where loss_2 is not null').rows == [(1.0, 2.0, 0.1)]
    assert len(sql("select * from records").columns) == 30
    assert sql("select count(*) from record_values").scalar() == 42


def test_values_kept_in_extra_are_in_the_long_view(fresh_store: rk.Store) -> None:
    with fast_run(fresh_store.collection("study")) as run:
        run.log(x=1.0)
        run.log(x=float("nan"))
        run.log(x="text in a number column")
    rows = fresh_store.sql("select value from record_values where key = 'x' order by seq").rows
    assert [r[0] for r in rows] == [1.0, None, "text in a number column"]
    assert not math.isnan(fresh_store.sql("select avg(value) from record_values where key = 'x'").scalar())


def test_keys_past_a_tables_column_limit_read_from_extra(fresh_store: rk.Store) -> None:
    with fast_run(fresh_store.collection("study")) as run:
        run.log({f"layer_{i}/grad_norm": i / 10 for i in range(2500)})  # 1,000 columns, the rest in extra
    assert fresh_store.sql('select sum("layer_2499/grad_norm"), sum("layer_0/grad_norm") from records').rows == [
        (249.9, 0.0)
    ]
    assert fresh_store.sql("select count(*) from record_values where key like 'layer_%'").scalar() == 2500


def test_a_nul_in_a_key_stored_before_it_was_refused_breaks_no_query(fresh_store: rk.Store) -> None:
    with fast_run(fresh_store.collection("study")) as run:
        run.log(x=1.0)
        handle = run._handle  # as a store written before keys with NUL were refused at the call
        handle.channel.put((run.id, run.scope_id, next(handle.seq), 1, 0.0, {"a\x00b": 2.0}))
    assert fresh_store.sql("select count(*) from runs").scalar() == 1
    result = fresh_store.sql("select * from records order by seq")
    assert "a\\x00b" in result.columns and len(result.rows) == 2
    assert fresh_store.sql('select sum("a\\x00b"), sum(x) from records').rows == [(2.0, 1.0)]
    assert fresh_store.sql("select key, value from record_values where value = 2.0").rows == [("a\x00b", 2.0)]


def test_shared_tables_read_in_long_form_exactly(fresh_store: rk.Store) -> None:
    with fast_run(fresh_store.collection("study")) as run:
        for i in range(400):  # past the 256 tables of their own: the rest share tables
            run.log({f"k{i}": i + 0.1, "tag": f"t{i}"}, step=i)
    sql = fresh_store.sql
    assert sql("select count(*), sum(value) from record_values where key like 'k%'").rows == [
        (400, pytest.approx(sum(i + 0.1 for i in range(400))))
    ]
    assert sql("select step, value, typeof(value) from record_values where key = 'k399'").rows == [
        (399, 399.1, "real")
    ]
    assert sql("select count(*) from record_values where key = 'tag'").scalar() == 400
    assert sql("select k300, tag from records where k300 is not null").rows == [(300.1, "t300")]
