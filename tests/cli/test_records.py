"""The commands that read records: records, and the analytics commands sql, export and plot."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tests.cli.helpers import invoke, ok, python_m, strict_json

import recordkit as rk

# --- records -------------------------------------------------------------------------------------


def test_records_csv_exact(tiny_store: Path) -> None:
    columns = "experiment_number,error_number,step,phase,loss,acc,note"
    out = ok("records", "--collection", "study", "--columns", columns, "--format", "csv", store=tiny_store)
    assert out == textwrap.dedent(
        """\
        experiment_number,error_number,step,phase,loss,acc,note
        1,0,0,train,1.0,0.5,
        1,0,1,train,0.5,0.75,
        1,0,1,eval,0.6,0.7,
        2,1,0,,2.0,,
        2,0,0,,0.3,,"a,b"
        2,0,1,,nan,,
        """
    )


def test_records_csv_has_every_column_by_default(tiny_store: Path) -> None:
    lines = ok("records", "-f", "csv", store=tiny_store).splitlines()
    header = lines[0].split(",")
    assert header[:2] == ["step", "time"]
    assert {"loss", "acc", "note", "x", "phase", "run_id", "experiment_duration"} <= set(header)
    assert len(lines) == 1 + 7


def test_records_json_is_strict(tiny_store: Path, run_ids: dict[str, str]) -> None:
    records = strict_json(ok("records", "--run", "study/2", "-f", "json", store=tiny_store))
    assert [r["loss"] for r in records] == [0.3, {"$float": "nan"}]
    assert records[0]["note"] == "a,b"
    assert "note" not in records[1]  # json gives each record with the keys it has
    assert records[0]["run_id"] == run_ids["[wide]"]
    assert isinstance(records[0]["time"], float)


def test_records_jsonl_one_object_per_line(tiny_store: Path) -> None:
    lines = ok(
        "records", "--collection", "study", "--columns", "step,loss", "-f", "jsonl", store=tiny_store
    ).splitlines()
    assert [strict_json(line) for line in lines][-1] == {"step": 1, "loss": {"$float": "nan"}}
    assert len(lines) == 6


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--where", "phase=eval"], [0.6], id="scope-field"),
        pytest.param(["--where", "step=1", "--collection", "study"], [0.5, 0.6, {"$float": "nan"}], id="step"),
        pytest.param(["--where", "status=failed"], [2.0], id="run-field"),
        pytest.param(["--run", "study/1", "--run", "study/2"], [1.0, 0.5, 0.6, 0.3, {"$float": "nan"}], id="two-runs"),
        pytest.param(["--run", "study/1", "--limit", "2"], [1.0, 0.5], id="limit"),
        pytest.param(["--run", "study/1", "--collection", "other"], [], id="run-outside-collection"),
    ],
)
def test_records_filters(tiny_store: Path, args: list[str], expected: list[Any]) -> None:
    records = strict_json(ok("records", *args, "--columns", "loss", "-f", "json", store=tiny_store))
    assert [r["loss"] for r in records] == expected


def test_records_table(tiny_store: Path) -> None:
    out = ok("records", "--collection", "study", store=tiny_store)
    header = out.splitlines()[0].split()
    assert header[:2] == ["experiment_number", "step"]
    assert {"loss", "acc", "note", "phase"} <= set(header)
    assert "time" not in header and "run_id" not in header
    assert "[wide]" not in out  # run_name is not a default table column…
    assert "a,b" in out


def test_records_table_says_when_it_cuts(tiny_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("recordkit.cli.records.TABLE_RECORD_LIMIT", 2)
    result = invoke("records", store=tiny_store)
    assert result.exit_code == 0
    assert "first 2 records" in result.stderr
    assert "first" not in invoke("records", "--limit", "2", store=tiny_store).stderr


def test_records_stream(tiny_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """csv, json and jsonl never build the whole result: no list-making method is called."""

    def forbidden(self: object) -> None:
        raise AssertionError("records were materialised")

    monkeypatch.setattr(rk.Records, "to_dicts", forbidden)
    monkeypatch.setattr(rk.Records, "to_columns", forbidden)
    for fmt in ("csv", "json", "jsonl"):
        ok("records", "-f", fmt, store=tiny_store)


def test_records_of_an_empty_store(store_path: Path) -> None:
    rk.open(store_path).close()
    assert strict_json(ok("records", "-f", "json", store=store_path)) == []
    assert ok("records", "-f", "jsonl", store=store_path) == ""


# --- analytics: sql, export, plot ----------------------------------------------------------------


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


def test_plots_with_and_without_by_are_two_files(store_path: Path) -> None:
    """Issue 14: they overwrote one file; each series of a key is its own line (a real process)."""
    pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    store = rk.open(store_path)
    with store.collection("c").start_run(capture=False) as run:
        train, evaluate = run.scope(phase="train"), run.scope(phase="eval")
        for step in range(5):
            train.log({"loss": 1.0 / (step + 1)}, step=step)
            evaluate.log({"loss": 2.0 / (step + 1)}, step=step)
    store.close()
    plain = python_m("plot", "c/1", "loss", "--store", str(store_path))
    by = python_m("plot", "c/1", "loss", "--by", "phase", "--store", str(store_path))
    assert plain.returncode == 0 and by.returncode == 0, plain.stderr + by.stderr
    plain_path, by_path = Path(plain.stdout.strip()), Path(by.stdout.strip())
    assert plain_path.is_absolute() and by_path.is_absolute() and plain_path != by_path
    assert plain_path.name == "loss.png" and by_path.name == "loss-by-phase.png"
    from PIL import Image

    with Image.open(plain_path) as image:
        labels = [s["label"] for s in json.loads(image.text["recordkit.series"])]
    assert labels == ["phase=train/loss", "phase=eval/loss"]
