"""What the SQL core does the same on both engines, checked at the seam (backends/core.py, writing.py)."""

from __future__ import annotations

import pytest
from tests.conftest import fast_run

import recordkit as rk
from recordkit.backends.base import RecordQuery

pytestmark = pytest.mark.backends("sqlite", "postgres")


def test_counts_and_aggregates_over_scope_ids_leave_superseded_records_out(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        scope = run.scope(phase="a")
        for step in range(10):
            scope.log(x=float(step), step=step)
    backend = collection.store.backend
    # Records after step 4 logged before seq 10**9 were superseded by a resume (every one of them here).
    query = RecordQuery(run_ids=[run.id], scope_ids=frozenset({scope.scope_id}), superseded=[(run.id, 4, 10**9)])
    assert [r.step for _, r in backend.iter_records(query)] == [0, 1, 2, 3, 4]
    assert backend.count_records(query) == 5
    assert backend.aggregate(query, "x", "sum") == 10.0


def test_a_key_past_the_column_limit_is_found_by_having(
    collection: rk.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recordkit.backends import tables

    monkeypatch.setattr(tables, "MAX_COLUMNS", 3)  # k3 and k4 go to the overflow column
    with fast_run(collection) as run:
        run.log({f"k{i}": float(i) for i in range(5)})
        run.log(other=1.0)
    assert [r["k4"] for r in collection.records.having("k4")] == [4.0]
    assert len(collection.records.having("other")) == 1


def test_large_ints_in_a_float_column_are_kept_exactly(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.log(x=0.5)
        run.flush()
        run.log(x=2**60 + 1)  # a double cannot hold it: kept exactly in the overflow column
        run.log(x=3)
    values = [r["x"] for r in run.records]
    assert values == [0.5, 2**60 + 1, 3] and type(values[1]) is int
