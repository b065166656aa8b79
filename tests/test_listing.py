"""Listing runs in the library: the where parser, run filters, sorting, the run table, batched summaries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import recordkit as rk
from recordkit.backends.base import KeySummary, LazyEnvRunRow
from recordkit.read import listing as L


@pytest.fixture
def three_runs(fresh_store: rk.Store) -> rk.Store:
    """study #1 'a' (lr 0.1, sgd, tag x), #2 'b' failed (lr 0.3), #2 'c' (lr 0.3, adam); other #1 'd'."""
    study = fresh_store.collection("study")
    with study.start_run(config={"lr": 0.1, "opt": {"name": "sgd"}}, name="a", tags=["x"], capture=False) as run:
        run.log(loss=0.5, acc=0.7)
    with pytest.raises(ValueError), study.start_run(config={"lr": 0.3}, name="b", capture=False) as run:
        run.log(loss=9.0)
        raise ValueError("boom")
    with study.start_run(config={"lr": 0.3, "opt": {"name": "adam"}}, name="c", capture=False) as run:
        run.log(loss=0.2, acc=0.9)
        run.log(loss=float("nan"))
    with fresh_store.collection("other").start_run(config={"lr": 0.1}, name="d", capture=False) as run:
        run.log(acc=0.1)
    return fresh_store


def names(runs: list[rk.Run] | list[dict[str, object]]) -> list[object]:
    return [run["name"] if isinstance(run, dict) else run.name for run in runs]


# --- the parser ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expressions", "parsed"),
    [
        pytest.param(["lr=0.1"], {"lr": 0.1}, id="json-number"),
        pytest.param(["name=base"], {"name": "base"}, id="text"),
        pytest.param(['name="3"'], {"name": "3"}, id="quoted-number-is-text"),
        pytest.param(["x=a=b"], {"x": "a=b"}, id="split-at-first-equals"),
        pytest.param(["ok=true", "n=null"], {"ok": True, "n": None}, id="json-literals"),
        pytest.param("status=failed", {"status": "failed"}, id="one-string"),
    ],
)
def test_parse_where(expressions: list[str], parsed: dict[str, object]) -> None:
    assert L.parse_where(expressions) == parsed


@pytest.mark.parametrize(
    ("expressions", "message"),
    [
        pytest.param(["status"], "KEY=VALUE", id="no-equals"),
        pytest.param(["=1"], "KEY=VALUE", id="no-key"),
        pytest.param(["a=1", "a=2"], "twice", id="twice"),
        pytest.param([3], "KEY=VALUE text", id="not-text"),
    ],
)
def test_parse_where_rejects(expressions: list[object], message: str) -> None:
    with pytest.raises(rk.QueryError, match=message):
        L.parse_where(expressions)  # type: ignore[arg-type]


# --- filtering, sorting, limiting ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        pytest.param({"status": "finished"}, ["a", "c", "d"], id="status-dict"),
        pytest.param(["status=failed"], ["b"], id="status-text"),
        pytest.param(["lr=0.1"], ["a", "d"], id="bare-config-key"),
        pytest.param({"config.lr": 0.3}, ["b", "c"], id="config-prefix"),
        pytest.param(["opt.name=adam"], ["c"], id="nested-config"),
        pytest.param(["tag=x"], ["a"], id="tag"),
        pytest.param(["had_error=true"], ["b"], id="had-error"),
        pytest.param(["collection=other"], ["d"], id="collection"),
        pytest.param(["number=2", "error_number=0"], ["c"], id="two-conditions"),
        pytest.param(["name=zzz"], [], id="none"),
    ],
)
def test_store_runs_where(three_runs: rk.Store, where: L.Where, expected: list[str]) -> None:
    assert names(three_runs.runs(where=where)) == expected
    assert names(three_runs.run_table(where=where)) == expected


def test_a_typo_in_where_is_an_error_not_an_empty_list(three_runs: rk.Store) -> None:
    with pytest.raises(rk.QueryError, match=r"'stauts' is no run field or config key; known: .*config\.opt\.name"):
        three_runs.runs(where={"stauts": "finished"})


def test_a_callable_tests_a_run_row_column_metrics_included(three_runs: rk.Store) -> None:
    above = {"acc": lambda v: v is not None and v > 0.5}
    assert names(three_runs.run_table(where=above)) == ["a", "c"]
    assert names(three_runs.runs(where={**above, "config.lr": 0.3})) == ["c"]
    assert names(three_runs.run_table(where={"name": lambda v: "c" in v or "d" in v}, sort="-acc")) == ["c", "d"]
    assert names(three_runs.collection("study").runs(where={"tags": lambda t: "x" in t})) == ["a"]
    assert names(three_runs.run_table(where={"loss": lambda v: v is not None}, limit=1)) == ["a"]
    with pytest.raises(rk.QueryError, match="'acx' is in no listed run"):
        three_runs.run_table(where={"acx": lambda v: True})


def test_sort_puts_missing_and_nan_last_in_both_directions(three_runs: rk.Store) -> None:
    assert names(three_runs.run_table(sort="loss")) == ["a", "b", "c", "d"]
    assert names(three_runs.run_table(sort="-loss")) == ["b", "a", "c", "d"]  # c's last loss is NaN, d has none
    assert names(three_runs.run_table(sort="acc")) == ["d", "a", "c", "b"]
    assert names(three_runs.run_table(sort="-acc", limit=2)) == ["c", "a"]
    assert names(three_runs.runs(sort="-acc", limit=1)) == ["c"]


def test_sort_by_identity_or_config_then_limit(three_runs: rk.Store) -> None:
    assert names(three_runs.run_table(sort="-config.lr")) == ["b", "c", "a", "d"]  # ties keep their order
    assert names(three_runs.run_table(sort="name", limit=2)) == ["a", "b"]
    assert names(three_runs.runs(sort="-start", limit=1)) == ["d"]
    assert names(three_runs.runs(limit=0)) == []
    with pytest.raises(rk.QueryError, match="cannot sort by 'nope'"):
        three_runs.run_table(sort="nope")
    for negative in (lambda: three_runs.run_table(limit=-1, sort="name"), lambda: three_runs.runs(limit=-1)):
        with pytest.raises(rk.QueryError, match="limit must be 0 or more"):
            negative()


def test_run_table_rows(three_runs: rk.Store) -> None:
    a, b, c, d = three_runs.run_table()
    assert {k: a[k] for k in ("collection", "number", "error_number", "name", "status", "tags", "parent_id")} == {
        "collection": "study",
        "number": 1,
        "error_number": 0,
        "name": "a",
        "status": "finished",
        "tags": ["x"],
        "parent_id": None,
    }
    assert (a["loss"], a["acc"], a["config.lr"], a["config.opt.name"]) == (0.5, 0.7, 0.1, "sgd")
    assert a["duration"] == pytest.approx(a["end"] - a["start"])
    assert (b["status"], b["number"], b["error_number"]) == ("failed", 2, 1)
    assert c["loss"] != c["loss"]  # NaN, exactly as logged
    assert "loss" not in d
    assert [row["name"] for row in three_runs.collection("study").run_table(where=["lr=0.3"])] == ["b", "c"]


def test_collection_runs_combines_old_and_new_filters(three_runs: rk.Store) -> None:
    study = three_runs.collection("study")
    assert names(study.runs(status="finished", sort="-acc", limit=1)) == ["c"]
    assert names(study.runs(config={"lr": 0.3}, where=["status=finished"])) == ["c"]
    assert names(study.runs(tags=["x"], limit=5)) == ["a"]


def test_a_metric_named_like_a_column_gets_a_prefix(fresh_store: rk.Store) -> None:
    with fresh_store.collection("c").start_run(capture=False) as run:
        run.log({"duration": 3, "name": "x"})
    (row,) = fresh_store.run_table()
    assert (row["metric.duration"], row["metric.name"]) == (3, "x")
    assert row["name"] == run.name != "x"  # the run's own (generated) name


# --- the backend seam ----------------------------------------------------------------------------


def test_batched_summaries_equal_one_at_a_time(three_runs: rk.Store) -> None:
    backend = three_runs.backend
    ids = [run.id for run in three_runs.runs()]
    batched = backend.summaries([*ids, "unknown"])
    assert list(batched) == [*ids, "unknown"]
    assert batched["unknown"] == {}
    for run_id in ids:
        one = backend.summary(run_id)
        assert list(batched[run_id]) == list(one)  # first-logged order
        assert repr(batched[run_id]) == repr(one)  # NaN == NaN through repr
    assert backend.summaries([]) == {}


def test_summaries_decode_tagged_values(fresh_store: rk.Store) -> None:
    import datetime as dt

    when = dt.datetime(2026, 1, 31, 14, 5, 9)
    with fresh_store.collection("c").start_run(capture=False) as run:
        run.log({"t": when, "inf": float("-inf"), "l": [1, 2], "d": {"$float": "kept"}, "s": "3", "b": True, "i": 7},
                flatten=False)
    got = fresh_store.backend.summaries([run.id])[run.id]
    assert {k: s.last for k, s in got.items()} == {
        "t": when,
        "inf": float("-inf"),
        "l": [1, 2],
        "d": {"$float": "kept"},
        "s": "3",
        "b": True,
        "i": 7,
    }
    assert isinstance(got["i"], KeySummary) and type(got["i"].last) is int


def test_the_base_default_summaries_asks_summary_per_run(three_runs: rk.Store) -> None:
    from recordkit.backends.base import Backend

    ids = [run.id for run in three_runs.runs()]
    assert repr(Backend.summaries(three_runs.backend, ids)) == repr(three_runs.backend.summaries(ids))


def test_listing_reads_no_environment(store_path: Path) -> None:
    store = rk.open(store_path)
    with store.collection("c").start_run(config={"a": 1}) as run:  # full capture
        run.log(x=1)
    (row,) = store.backend.find_runs()
    assert isinstance(row, LazyEnvRunRow)
    assert row._env is None and row._env_source is not None  # nothing read yet
    listed = store.runs()[0]
    assert listed._env is None
    assert store.run_table()[0]["x"] == 1
    assert listed._env is None  # still nothing read
    assert listed.env["python"]["version"]  # read on first access
    assert dict(row.env) == dict(store.run(run.id).env)
    store.close()
    (late,) = rk.open(store_path).backend.find_runs()
    assert late.env["python"]  # readable after the store it came from was closed, too


def test_env_of_a_listed_run_is_exact(store_path: Path) -> None:
    store = rk.open(store_path)
    with store.collection("c").start_run(config={"a": 1}):
        pass
    conn = sqlite3.connect(store_path / "recordkit.db")
    stored = conn.execute("SELECT env FROM runs").fetchone()[0]
    conn.close()
    from recordkit import _values as V

    assert store.runs()[0].env == V.loads(stored)
    store.close()
