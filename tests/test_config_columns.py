"""Config values are ``config.*`` columns beside the records, in every table form and in SQL; a filter on
a key nothing has is an error naming similar keys."""

from __future__ import annotations

import pytest
from tests.conftest import fast_run

import recordkit as rk

pytestmark = pytest.mark.backends("sqlite", "postgres")


@pytest.fixture
def sweep(collection: rk.Collection) -> rk.Collection:
    for lr in (0.1, 0.01):
        with fast_run(collection, config={"lr": lr, "opt": {"name": "adam"}}) as run:
            for step in range(2):
                run.scope(phase="train").log({"loss": lr * (step + 1)}, step=step)
    return collection


def test_to_pandas_polars_and_arrow_carry_config_columns(sweep: rk.Collection) -> None:
    frame = sweep.records.to_pandas()
    assert list(frame["config.lr"]) == [0.1, 0.1, 0.01, 0.01]
    assert list(frame["config.opt.name"]) == ["adam"] * 4
    assert list(frame.columns)[-2:] == ["config.lr", "config.opt.name"]  # after the run fields
    assert sweep.records.to_polars()["config.lr"].to_list() == [0.1, 0.1, 0.01, 0.01]
    assert sweep.records.to_arrow().column("config.opt.name").to_pylist() == ["adam"] * 4
    assert sweep.records[0]["config.lr"] == 0.1
    assert sweep.records.where(**{"config.lr": 0.01}).mean("loss") == pytest.approx(0.015)


def test_an_unknown_filter_key_is_an_error_with_similar_keys(sweep: rk.Collection) -> None:
    with pytest.raises(rk.QueryError, match=r"no record, scope, run or config key 'los'.*similar: loss"):
        len(sweep.records.where(los=1))
    with pytest.raises(rk.QueryError, match=r"'config.rl'.*similar: config.lr"):
        sweep.records.where(**{"config.rl": 0.1}).to_pandas()
    with pytest.raises(rk.QueryError, match=r"'nokey'.*known: loss, phase, config.lr, config.opt.name, step"):
        list(sweep.records.where(nokey=lambda v: True))
    # Keys that exist somewhere are fine, matching or not: scope fields, run fields, step.
    assert len(sweep.records.where(phase="eval")) == 0
    assert len(sweep.records.where(run_name="nobody", step=1)) == 0


def test_the_sql_records_view_has_config_columns(sweep: rk.Collection) -> None:
    store = sweep.store
    if store.backend.url.startswith("postgresql"):
        pytest.skip("store.sql() is SQLite's (docs/analytics.md); PostgreSQL users query the tables directly")
    rows = store.sql('select "config.lr", avg(loss) from records group by 1 order by 1').rows
    assert rows == [(0.01, pytest.approx(0.015)), (0.1, pytest.approx(0.15))]
