"""export_parquet: a hive-partitioned dataset that DuckDB, Polars and Spark read as one table,
agreeing with ``col.records``; csv and jsonl in the same layout."""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import fast_run

import recordkit as rk
from recordkit.read.export import hive_value

pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed")


@pytest.fixture
def study(fresh_store: rk.Store) -> Iterator[rk.Store]:
    """rigorous: 3 runs × 3 episodes × 20 records; run 2 logs `z` too, run 3 logs `x` as ints
    and is still live; collection `other` has one run with different keys."""
    col = fresh_store.collection("rigorous")
    for experiment in range(3):
        run = fast_run(col, config={"lr": 0.1 * (experiment + 1)}, name=f"e{experiment}")
        for episode in range(3):
            scope = run.scope(episode=episode, model="m1" if episode % 2 else "m2")
            for i in range(20):
                x: float | int = i * (episode + 1) if experiment == 2 else (i + experiment) / (episode + 1)
                values: dict[str, Any] = {"x": x, "y": float(i % 7)}
                if experiment == 1 and i % 2:
                    values["z"] = i
                scope.log(values, step=i)
        if experiment < 2:
            run.finish()
    with fast_run(fresh_store.collection("other"), name="solo") as other:
        other.log(acc=0.5, phase="eval")
    yield fresh_store
    run.finish()


def dataset_glob(out: Path) -> str:
    return str(out / "**" / "*.parquet")


def test_layout_one_file_per_run_in_hive_folders(study: rk.Store, tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = study.export_parquet(out)
    runs = study.runs()
    expected = [out / f"collection={r.collection.name}" / f"run={r.id}" / "part-0.parquet" for r in runs]
    assert sorted(written) == sorted(expected)
    schemas = {str(pq.read_schema(path).remove_metadata()) for path in written}
    assert len(schemas) == 1  # every file has the same columns: keys merge by name
    (schema,) = {pq.read_schema(path) for path in written[:1]}
    assert "collection" not in schema.names  # it is the partition folder
    assert str(schema.field("x").type) == "double"  # ints in one run, floats in others: widened
    assert {"z", "acc", "phase", "episode", "model", "config.lr"} <= set(schema.names)
    live = next(r for r in runs if r.status == rk.RunStatus.RUNNING)
    assert pq.read_table(out / "collection=rigorous" / f"run={live.id}").num_rows == 60  # live runs as they are


def test_duckdb_and_polars_agree_with_the_records_view(study: rk.Store, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed")
    pl = pytest.importorskip("polars", reason="polars is not installed")
    out = tmp_path / "out"
    study.export_parquet(out)
    col = study.collection("rigorous")
    source = (
        f"read_parquet('{dataset_glob(out)}', hive_partitioning = true, "
        "hive_types = {'collection': VARCHAR, 'run': VARCHAR})"
    )
    frame = pl.scan_parquet(
        dataset_glob(out), hive_partitioning=True, hive_schema={"collection": pl.String, "run": pl.String}
    )

    # rigorous-recorder's question: the mean of x in episode 2, whatever the experiment
    expected = col.records.where(episode=2).mean("x")
    got_duck = duckdb.sql(f"select avg(x) from {source} where collection = 'rigorous' and episode = 2").fetchall()[0][0]
    got_polars = frame.filter((pl.col("collection") == "rigorous") & (pl.col("episode") == 2)).select(
        pl.col("x").mean()
    ).collect().item()
    assert got_duck == pytest.approx(expected) and got_polars == pytest.approx(expected)

    # per run and model: count and mean, in the engines and in Python
    by_python: dict[tuple[str, str], list[float]] = {}
    for record in col.records:
        by_python.setdefault((record["run_id"], record["model"]), []).append(record["y"])
    wanted = {key: (len(v), pytest.approx(sum(v) / len(v))) for key, v in by_python.items()}
    duck_rows = duckdb.sql(
        f"select run, model, count(*), avg(y) from {source} where collection = 'rigorous' group by run, model"
    ).fetchall()
    assert {(r, m): (n, mean) for r, m, n, mean in duck_rows} == wanted
    polars_rows = (
        frame.filter(pl.col("collection") == "rigorous")
        .group_by("run", "model")
        .agg(pl.len(), pl.col("y").mean())
        .collect()
        .rows()
    )
    assert {(r, m): (n, mean) for r, m, n, mean in polars_rows} == wanted

    # a key only one run logged: present there, null elsewhere
    z_python = sum(1 for r in col.records if r.own("z") is not None)
    assert duckdb.sql(f"select count(z) from {source}").fetchall()[0][0] == z_python == 30
    assert frame.select(pl.col("z").count()).collect().item() == z_python
    # the other collection's keys are there too, merged by name
    assert duckdb.sql(f"select acc, phase from {source} where collection = 'other'").fetchall() == [(0.5, "eval")]
    # the partition folder agrees with the stored run id
    assert duckdb.sql(f"select count(*) from {source} where run != run_id").fetchall()[0][0] == 0


def test_the_same_question_through_sql_records_and_parquet(study: rk.Store, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed")
    out = tmp_path / "out"
    study.export_parquet(out, collection="rigorous")
    assert sorted(p.name for p in out.iterdir()) == ["collection=rigorous"]
    query = "select episode, avg(x), count(*) from {} where episode is not null group by episode order by episode"
    via_parquet = duckdb.sql(query.format(f"read_parquet('{dataset_glob(out)}', hive_partitioning = true)")).fetchall()
    via_sql = study.sql(query.format("records") + "").rows
    assert len(via_parquet) == len(via_sql) == 3
    for (e1, a1, n1), (e2, a2, n2) in zip(via_parquet, via_sql, strict=True):
        assert (e1, n1) == (e2, n2) and a1 == pytest.approx(a2)


@pytest.mark.spark
def test_spark_reads_the_dataset_and_agrees(study: rk.Store, tmp_path: Path) -> None:
    pytest.importorskip("pyspark", reason="PySpark is not installed (pip install pyspark; it needs a Java runtime)")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("PySpark needs a Java runtime (java on PATH or JAVA_HOME)")
    from pyspark.sql import SparkSession

    out = tmp_path / "out"
    study.export_parquet(out)
    expected = study.collection("rigorous").records.where(episode=2).mean("x")
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("recordkit-test")
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    try:
        frame = spark.read.parquet(str(out))
        got = frame.where("collection = 'rigorous' and episode = 2").agg({"x": "avg"}).collect()[0][0]
        assert got == pytest.approx(expected)
        assert frame.count() == len(study.records)
        assert frame.where("run != run_id").count() == 0
    finally:
        spark.stop()


def test_csv_and_jsonl_exports_in_the_same_layout(study: rk.Store, tmp_path: Path) -> None:
    csv_files = study.export(tmp_path / "csv", format="csv", collection="other")
    jsonl_files = study.export(tmp_path / "jsonl", format="jsonl", collection="other")
    run = study.collection("other").runs()[0]
    assert csv_files == [tmp_path / "csv" / "collection=other" / f"run={run.id}" / "part-0.csv"]
    with csv_files[0].open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["acc"], r["phase"], r["run_id"]) for r in rows] == [("0.5", "eval", run.id)]
    lines = jsonl_files[0].read_text().splitlines()
    assert [json.loads(line)["acc"] for line in lines] == [0.5]
    with pytest.raises(rk.QueryError, match="unknown export format 'xlsx'"):
        study.export(tmp_path / "x", format="xlsx")
    with pytest.raises(rk.QueryError, match="no collection 'nope'"):
        study.export_parquet(tmp_path / "x", collection="nope")


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        pytest.param("study", "study", id="plain"),
        pytest.param("a=b", "a%3Db", id="equals"),
        pytest.param("50% off", "50%25 off", id="percent"),
        pytest.param("x#y?z", "x%23y%3Fz", id="hash-question"),
    ],
)
def test_partition_values_are_escaped_as_hive_does(name: str, escaped: str) -> None:
    assert hive_value(name) == escaped


def test_exporting_twice_replaces_the_files(study: rk.Store, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = study.export_parquet(out, collection="other")
    second = study.export_parquet(out, collection="other")
    assert first == second and pq.read_table(second[0]).num_rows == 1
    assert [p for p in out.rglob(".*")] == []  # no temp files left
