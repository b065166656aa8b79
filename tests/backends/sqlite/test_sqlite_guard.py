"""store.sql cannot harm: listed functions only, values capped at 64 MiB, a time limit; the store stays usable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import fast_run

import recordkit as rk
from recordkit.backends.sqlite.guard import FUNCTIONS

ENDLESS = "with recursive c(n) as (select 1 union all select n + 1 from c) select count(*) from c"


@pytest.fixture
def logged(store_path: Path) -> rk.Store:
    """A store with one finished run of three records, opened with a short time limit."""
    store = rk.open(store_path, sql_timeout=0.5)
    with fast_run(store.collection("study"), config={"lr": 0.1}) as run:
        for i in range(3):
            run.log(x=float(i), step=i)
    return store


def _still_intact(store: rk.Store) -> None:
    assert store.sql("select count(*) from runs").scalar() == 1
    assert store.sql("select sum(x), max(step) from records").rows == [(3.0, 2)]


@pytest.mark.parametrize(
    "function",
    ["fts3_tokenizer('simple')", "load_extension('libevil')", "sqlite_compileoption_get(0)", "sqlite_source_id()",
     "changes()"],
)
def test_functions_outside_the_list_are_refused(logged: rk.Store, function: str) -> None:
    name = function.split("(")[0]
    with pytest.raises(rk.QueryError, match=f"does not allow the function {name} in"):
        logged.sql(f"select {function}")
    _still_intact(logged)


@pytest.mark.parametrize("query", ["select length(randomblob(1000000000))", "select zeroblob(1e9)",
                                   "select length(hex(zeroblob(40000000)))"])
def test_huge_values_are_refused_before_they_are_allocated(logged: rk.Store, query: str) -> None:
    with pytest.raises(rk.QueryError, match="a value grew past the 64 MiB limit"):
        logged.sql(query)
    _still_intact(logged)


def test_computing_functions_still_work(logged: rk.Store) -> None:
    row = logged.sql(
        "select length(randomblob(16)), upper('a'), json_extract(config, '$.lr'), config ->> '$.lr',"
        " round(avg(x), 1), group_concat(records.step), date(0, 'unixepoch'), row_number() over (), typeof(x)"
        " from records join runs using (run_id)"
    ).rows[0]
    assert row == (16, "A", 0.1, 0.1, 1.0, "0,1,2", "1970-01-01", 1, "real")
    assert {"rk_extra", "json_extract", "count", "->>"} <= FUNCTIONS


def test_an_endless_query_stops_at_the_time_limit(logged: rk.Store) -> None:
    with pytest.raises(rk.QueryError, match=r"stopped .* after 0.5 s, its time limit: .* sql_timeout"):
        logged.sql(ENDLESS)
    _still_intact(logged)
    assert logged.sql("with recursive c(n) as (select 1 union all select n + 1 from c where n < 10)"
                      " select sum(n) from c").scalar() == 55


def test_the_time_limit_is_a_setting_read_from_the_environment(logged: rk.Store, store_path: Path) -> None:
    env = {**os.environ, "RECORDKIT_SQL_TIMEOUT": "0.5"}
    done = subprocess.run(
        [sys.executable, "-m", "recordkit", "sql", ENDLESS, "--store", str(store_path)],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert done.returncode != 0
    assert "after 0.5 s, its time limit" in done.stderr and "Traceback" not in done.stderr
    assert rk.open(store_path, sql_timeout=60).sql("select count(*) from records").scalar() == 3
    with pytest.raises(ValueError, match="sql_timeout must be positive"):
        rk.open(store_path, sql_timeout=0)
