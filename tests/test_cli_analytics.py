"""The analytics commands: `recordkit sql`, `recordkit export`, `recordkit plot`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import recordkit as rk
from recordkit.cli import main


@pytest.fixture(autouse=True)
def no_store_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECORDKIT_STORE", raising=False)


@pytest.fixture(scope="module")
def episodes_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Collection `study`: two finished runs × 2 episodes × 3 records (x, y)."""
    path = tmp_path_factory.mktemp("cli-analytics") / "records"
    with rk.open(path) as store:
        for experiment in range(2):
            with store.collection("study").start_run(name=f"e{experiment}", capture=False) as run:
                for episode in range(2):
                    scope = run.scope(episode=episode)
                    for i in range(3):
                        scope.log(x=float(i + episode + experiment), y=i, step=i)
    return path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def ok(*args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_sql_binds_parameters_and_prints_each_format(episodes_store: Path) -> None:
    store = str(episodes_store)
    query = "select episode, avg(x) as mean_x, count(*) as n from records where episode = ? group by episode"
    as_csv = ok("sql", query, "--param", "1", "--store", store, "--format", "csv")
    assert list(csv.reader(io.StringIO(as_csv))) == [["episode", "mean_x", "n"], ["1", "2.5", "6"]]
    as_json = json.loads(ok("sql", query, "-p", "1", "--store", store, "--format", "json"))
    assert as_json == [{"episode": 1, "mean_x": 2.5, "n": 6}]
    table = ok("sql", query, "-p", "1", "--store", store)
    assert "mean_x" in table and "2.5" in table
    assert ok("sql", "select * from records where run_name = ?", "-p", "nobody", "-s", store) == "No rows.\n"
    with rk.open(episodes_store, create=False) as opened:
        expected = opened.collection("study").records.where(episode=1).mean("x")
    assert as_json[0]["mean_x"] == pytest.approx(expected)


def test_sql_refuses_writes_with_one_line(episodes_store: Path) -> None:
    result = invoke("sql", "delete from main.runs", "--store", str(episodes_store))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: store.sql() only reads") and result.stderr.count("\n") == 1
    assert ok("sql", "select count(*) as n from runs", "-s", str(episodes_store), "-f", "csv") == "n\n2\n"


def test_sql_on_a_missing_store_is_an_error(tmp_path: Path) -> None:
    result = invoke("sql", "select 1", "--store", str(tmp_path / "missing"))
    assert result.exit_code == 1 and "no store" in result.stderr
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_export_writes_the_hive_layout(episodes_store: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "dataset"
    printed = ok("export", "--store", str(episodes_store), "--format", fmt, "--out", str(out))
    files = sorted(out.rglob(f"part-0.{fmt}"))
    assert printed == f"Wrote 2 {fmt} file(s) under {out.resolve()}\n"
    assert len(files) == 2 and all(f.parent.parent.name == "collection=study" for f in files)
    with rk.open(episodes_store, create=False) as opened:
        ids = sorted(run.id for run in opened.runs())
    assert sorted(f.parent.name for f in files) == [f"run={i}" for i in ids]


def test_export_reads_back_with_duckdb(episodes_store: Path, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed")
    out = tmp_path / "dataset"
    ok("export", "-s", str(episodes_store), "-o", str(out), "-C", "study")
    got = duckdb.sql(f"select count(*), sum(y) from read_parquet('{out}/**/*.parquet', hive_partitioning=true)")
    assert got.fetchall() == [(12, 12)]


def test_export_needs_out(episodes_store: Path) -> None:
    result = invoke("export", "--store", str(episodes_store))
    assert result.exit_code == 2 and "--out" in result.output


def test_plot_saves_a_png(episodes_store: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    target = tmp_path / "curves.png"
    printed = ok("plot", "study/2", "x", "y", "--by", "episode", "--out", str(target), "--store", str(episodes_store))
    assert printed == f"{target.resolve()}\n"
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(target) as image:
        labels = [s["label"] for s in json.loads(image.text["recordkit.series"])]
    assert labels == ["x episode=0", "x episode=1", "y episode=0", "y episode=1"]


def test_plot_of_an_unknown_key_is_an_error(episodes_store: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    result = invoke("plot", "study/1", "nope", "--out", str(tmp_path / "p.png"), "-s", str(episodes_store))
    assert result.exit_code == 1 and "nothing to plot" in result.stderr
