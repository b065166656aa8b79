"""Thousands of key sets share a bounded number of records tables; every record reads back as logged.

Before, each new key set made a table and re-read the whole registry twice: 5,000 key sets in one run
made 5,001 tables, a 44 s flush and 60 s failing queries.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import engine_rows, fast_run

import recordkit as rk
from recordkit.backends import tables

pytestmark = pytest.mark.backends("sqlite", "postgres")


def _table_count(store: rk.Store) -> int:
    return int(engine_rows(store, "SELECT count(*) FROM record_tables")[0][0])  # type: ignore[arg-type]


def test_key_sets_past_the_cap_share_tables_and_read_back_exactly(collection: rk.Collection) -> None:
    run = fast_run(collection)
    for i in range(600):  # past the real cap of 256 tables; one batch
        run.log({f"k{i}": i, "loss": i / 2}, step=i)
    run.finish()
    assert tables.MAX_TABLES + 1 <= _table_count(collection.store) <= tables.MAX_TABLES + 2
    records = list(run.records)
    assert [(r["step"], r[f"k{r['step']}"], r["loss"]) for r in records] == [(i, i, i / 2) for i in range(600)]
    assert all(f"k{r['step'] + 1}" not in r for r in records)  # a shared table's other columns read as missing
    assert run.records.mean("loss") == pytest.approx(149.75)
    assert run.summary()["k599"]["last"] == 599


def test_a_shared_table_widened_in_the_middle_of_a_batch(
    collection: rk.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tables, "MAX_TABLES", 2)
    run = fast_run(collection)
    run.log(a=1.0)
    run.log(b=1.0)
    run.flush()  # two own tables: the cap
    for i in range(5):  # in one batch: x makes a shared table, y widens it, then x again (a narrower plan)
        run.log({"x": float(i), "s": f"text {i}"})
        run.log({"y": i, "x": -1.0})
        run.log({"x": float(i), "s": f"again {i}"})
    run.finish()
    assert _table_count(collection.store) == 3
    got = [{k: r[k] for k in ("a", "b", "x", "y", "s") if k in r} for r in run.records]
    expected = [{"a": 1.0}, {"b": 1.0}]
    for i in range(5):
        expected += [{"x": float(i), "s": f"text {i}"}, {"y": i, "x": -1.0}, {"x": float(i), "s": f"again {i}"}]
    assert got == expected


def test_a_shared_table_widened_in_table_order_keeps_both_key_sets(
    collection: rk.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Journal rows planned before and after the widening sit in one group (both key sets are the
    table's columns in order when planned): each is laid out by its own count of values."""
    monkeypatch.setattr(tables, "MAX_TABLES", 2)
    run = fast_run(collection)
    run.log(a=1.0)
    run.log(b=1.0)
    run.flush()
    for i in range(3):  # one batch: (x) makes the shared table, (x, y) widens it in the same order
        run.log({"x": float(i)}, step=i)
    for i in range(3):
        run.log({"x": 10.0 + i, "y": 20.0 + i}, step=10 + i)
    run.finish()
    got = [(r["step"], r.get("x"), r.get("y")) for r in list(run.records)[2:]]
    assert got == [(0, 0.0, None), (1, 1.0, None), (2, 2.0, None), (10, 10.0, 20.0), (11, 11.0, 21.0),
                   (12, 12.0, 22.0)]
    assert run.summary()["x"]["last_step"] == 12 and run.summary()["y"]["count"] == 3


def test_a_full_shared_table_makes_another(collection: rk.Collection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tables, "MAX_TABLES", 1)
    monkeypatch.setattr(tables, "MAX_COLUMNS", 4)
    run = fast_run(collection)
    run.log(first=0)
    for i in range(9):
        run.log({f"k{i}": i})
    run.finish()
    assert _table_count(collection.store) == 1 + 3  # the own table, then shared ones of 4 columns each
    assert [r[f"k{i}"] for i, r in enumerate(list(run.records)[1:])] == list(range(9))


WRITER = """
import sys
import recordkit as rk
from recordkit.backends import tables
tables.MAX_TABLES = 2
url, files, tag = sys.argv[1], sys.argv[2], sys.argv[3]
store = rk.open(url, **({"files": files} if url.startswith("postgres") else {}))
run = store.collection("study").start_run(capture=False, name=tag)
for i in range(150):
    run.log({f"{tag}_{i}": i, "shared": i})
    if i % 25 == 0:
        run.flush()
run.finish()
print(run.id)
"""


def test_processes_widening_shared_tables_at_once_lose_nothing(
    store_kind: str, store_url: str, store_path: Path, tmp_path: Path
) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    children = [subprocess.Popen([sys.executable, str(script), store_url, str(store_path), tag], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for tag in ("a", "b", "c")]
    run_ids = {}
    for tag, child in zip(("a", "b", "c"), children, strict=True):
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        assert "Warning" not in err, err  # no background write failed and was retried
        run_ids[tag] = out.split()[-1]
    store = rk.open(store_url, files=store_path) if store_kind == "postgres" else rk.open(store_url)
    try:
        for tag in ("a", "b", "c"):
            run = store.run(run_ids[tag])
            values = [(r[f"{tag}_{i}"], r["shared"]) for i, r in enumerate(run.records)]
            assert values == [(i, i) for i in range(150)]
    finally:
        store.close()
