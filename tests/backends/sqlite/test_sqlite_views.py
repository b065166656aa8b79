"""store.sql: read-only SQL over the documented views, parameters bound, writes refused."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest
from tests.conftest import fast_run

import recordkit as rk
from recordkit.backends.base import RUN_FIELDS
from recordkit.backends.sqlite.views import VIEWS


@pytest.fixture
def episodes(fresh_store: rk.Store) -> rk.Store:
    """Two runs × 3 episodes × 4 records of (x, y); run 2 adds a key `z` and a NaN."""
    col = fresh_store.collection("rigorous")
    for experiment in range(2):
        with fast_run(col, config={"lr": 0.1 * (experiment + 1), "opt": {"name": "sgd"}}, name=f"e{experiment}") as run:
            for episode in range(3):
                scope = run.scope(episode=episode)
                for i in range(4):
                    scope.log(x=float(i + episode + experiment), y=i, step=i)
            if experiment == 1:
                run.log(z=True, x=float("nan"), step=9)
    return fresh_store


def test_the_views_and_their_columns(episodes: rk.Store) -> None:
    records = episodes.sql("select * from records limit 1")
    assert records.columns == [
        "step", "time", "x", "y", "z", "episode", *RUN_FIELDS, "config.lr", "config.opt.name", "scope_id", "seq"
    ]
    by_config = 'select "config.lr", "config.opt.name", count(*) from records group by 1 order by 1'
    assert episodes.sql(by_config).rows == [(0.1, "sgd", 12), (0.2, "sgd", 13)]
    runs = episodes.sql("select * from runs order by experiment_start_time")
    assert runs.columns[:10] == [
        "run_id", "collection", "experiment_number", "error_number", "run_name", "status", "had_error",
        "experiment_start_time", "experiment_end_time", "experiment_duration",
    ]
    assert [r["run_name"] for r in runs.to_dicts()] == ["e0", "e1"]
    assert episodes.sql("select json_extract(config, '$.opt.name') from runs").rows == [("sgd",), ("sgd",)]
    assert episodes.sql("select count(*) from scopes").scalar() == 2 * 4  # a root and 3 episodes per run
    assert set(VIEWS) >= {"runs", "records", "scopes", "events", "files", "links"}


def test_answers_agree_with_the_records_view(episodes: rk.Store) -> None:
    col = episodes.collection("rigorous")
    assert episodes.sql("select count(*) from records").scalar() == len(col.records) == 25
    got = episodes.sql("select avg(x) from records where episode = ?", [2]).scalar()
    assert got == pytest.approx(col.records.where(episode=2).mean("x"))
    per_run = episodes.sql(
        "select experiment_number, sum(y), count(z) from records group by run_id order by experiment_number"
    ).rows
    assert per_run == [(1, 18, 0), (2, 18, 1)]
    # NaN reads as NULL, so aggregates skip it as records.mean does
    assert episodes.sql("select avg(x) from records where run_name = 'e1'").scalar() == pytest.approx(
        col.records.where(run_name="e1").mean("x")
    )
    assert episodes.sql("select z from records where z is not null").scalar() == 1  # booleans are 1/0


def test_parameters_are_bound_never_pasted(episodes: rk.Store) -> None:
    injected = "1 or 1 = 1"
    assert episodes.sql("select count(*) from records where run_name = ?", [injected]).scalar() == 0
    assert episodes.sql("select count(*) from records where run_name = :name", {"name": "e0"}).scalar() == 12
    quote = "e0'; drop table runs; --"
    assert episodes.sql("select count(*) from records where run_name = ?", (quote,)).scalar() == 0
    assert episodes.sql("select count(*) from runs").scalar() == 2


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param("delete from runs", id="delete-view"),
        pytest.param("delete from main.runs", id="delete-table"),
        pytest.param("update main.records_1 set c0 = 0", id="update"),
        pytest.param("insert into main.collections (name, created) values ('x', 0)", id="insert"),
        pytest.param("drop table main.summary", id="drop"),
        pytest.param("create table t (x)", id="create"),
        pytest.param("attach database 'other.db' as other", id="attach"),
        pytest.param("pragma query_only = 0", id="pragma"),
        pytest.param("vacuum", id="vacuum"),
    ],
)
def test_writes_are_refused(episodes: rk.Store, statement: str) -> None:
    with pytest.raises(rk.QueryError, match="only reads"):
        episodes.sql(statement)
    assert episodes.sql("select count(*) from records").scalar() == 25
    assert not (Path.cwd() / "other.db").exists()


def test_bad_queries_say_what_to_do(episodes: rk.Store) -> None:
    with pytest.raises(rk.QueryError, match=r"no such table: metrics.*Views: runs, scopes, records"):
        episodes.sql("select * from metrics")
    with pytest.raises(rk.QueryError, match="one statement"):
        episodes.sql("select 1; select 2")
    with pytest.raises(rk.QueryError, match="non-empty string"):
        episodes.sql("")
    with pytest.raises(rk.QueryError, match="not the string"):
        episodes.sql("select ?", "abc")  # type: ignore[arg-type]
    with pytest.raises(rk.QueryError, match="scalar"):
        episodes.sql("select x, y from records").scalar()


def test_live_records_are_visible_and_scope_fields_fall_back(collection: rk.Collection) -> None:
    run = fast_run(collection)
    scope = run.scope(phase="train", lr=0.5)
    scope.log(loss=1.0)
    scope.log(loss=2.0, lr=0.25)  # the record's own value wins over its scope's
    result = collection.store.sql("select loss, lr, phase, status from records order by seq")
    assert result.rows == [(1.0, 0.5, "train", "running"), (2.0, 0.25, "train", "running")]
    run.finish()


def test_values_of_every_kind(collection: rk.Collection) -> None:
    import datetime as dt

    with fast_run(collection) as run:
        run.log(v=1.5, when=dt.datetime(2026, 1, 2, 3, 4, 5), tags=["a", "b"], ok=False)
        run.log(v="text", ok=None)  # another kind than the column's: kept in the overflow
        run.log(v=math.inf)
        run.log(Loss=1.0, loss=2.0)  # SQLite names ignore case: the second reads as loss_2
    rows = collection.store.sql('select v, "when", tags, ok, Loss, loss_2 from records order by seq').rows
    assert rows[0] == (1.5, "2026-01-02T03:04:05", '["a","b"]', 0, None, None)
    assert rows[1][0] == "text" and rows[2][0] == math.inf
    assert rows[3][4:] == (1.0, 2.0)


def test_an_empty_store_has_empty_views(fresh_store: rk.Store) -> None:
    assert fresh_store.sql("select count(*) from records").scalar() == 0
    assert fresh_store.sql("select * from runs").rows == []


def test_results_convert_to_frames(episodes: rk.Store) -> None:
    result = episodes.sql(
        "select episode, avg(x) as mean_x from records where episode is not null group by episode order by episode"
    )
    frame = result.to_pandas()
    assert list(frame.columns) == ["episode", "mean_x"] and len(frame) == 3
    assert result.to_polars()["mean_x"].to_list() == pytest.approx(list(frame["mean_x"]))
    assert list(result) == result.rows and result[0][0] == 0 and len(result) == 3


def test_the_store_file_is_untouched_by_a_query(episodes: rk.Store, store_path: Path) -> None:
    before = sqlite3.connect(store_path / "recordkit.db").execute("select count(*) from sqlite_master").fetchone()
    episodes.sql("select * from records")
    after = sqlite3.connect(store_path / "recordkit.db").execute("select count(*) from sqlite_master").fetchone()
    assert before == after  # the views are TEMP objects of the query's own connection


def test_a_store_table_gets_its_view_when_it_exists(fresh_store: rk.Store, store_path: Path) -> None:
    conn = sqlite3.connect(store_path / "recordkit.db")
    conn.execute("drop table events")  # as an older store (schema version 1) has it
    conn.commit()
    with pytest.raises(rk.QueryError, match="no such table: events"):
        fresh_store.sql("select * from events")
    conn.execute("create table events (run_id text, name text, time real)")
    conn.execute("insert into events values ('r1', 'eval/done', 1.5)")
    conn.commit()
    conn.close()
    assert fresh_store.sql("select name, time from events where run_id = ?", ["r1"]).rows == [("eval/done", 1.5)]


def test_many_record_tables_are_nested_under_sqlites_compound_limit(
    collection: rk.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recordkit.backends.sqlite import views

    monkeypatch.setattr(views, "_ARMS_PER_SELECT", 2)  # as if there were more than 400 record tables
    with fast_run(collection) as run:
        for i in range(5):
            run.scope(part=i).log({f"k{i}": i, "shared": 1.5})  # five key sets, five tables
    store = collection.store
    assert store.sql("select count(*), sum(shared), sum(k4) from records").rows == [(5, 7.5, 4)]
    assert store.sql("select k2 from records where part = ?", [2]).scalar() == 2
