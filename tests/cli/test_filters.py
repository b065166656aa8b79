"""``recordkit ls --where`` with comparisons and summary columns, and ``records --where`` comparisons,
as real processes."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli.helpers import python_m, strict_json

import recordkit as rk


@pytest.fixture
def sweep_store(store_path: Path) -> Path:
    with rk.open(store_path) as store:
        for lr, accs in ((0.1, [0.5, 0.97, 0.6]), (0.01, [0.8, 0.9, 0.95]), (0.001, [0.1, 0.2, 0.3])):
            with store.collection("c").start_run(config={"lr": lr}, name=f"lr={lr}", capture=False) as run:
                for step, acc in enumerate(accs):
                    run.log({"acc": acc}, step=step)
    return store_path


def _ls(path: Path, *args: str) -> list[dict[str, object]]:
    done = python_m("ls", *args, "-f", "json", "--store", str(path))
    assert done.returncode == 0, done.stderr
    return strict_json(done.stdout)  # type: ignore[no-any-return]


def test_ls_where_compares_metrics_and_config(sweep_store: Path) -> None:
    assert [r["name"] for r in _ls(sweep_store, "--where", "acc>0.9", "--where", "config.lr<=0.01")] == ["lr=0.01"]
    assert [r["name"] for r in _ls(sweep_store, "--where", "acc<0.9")] == ["lr=0.1", "lr=0.001"]
    rows = _ls(sweep_store, "--where", "max(acc)>0.9", "--sort", "-mean(acc,2)", "--summary", "min(acc)")
    assert [(r["name"], r["max(acc)"], r["min(acc)"]) for r in rows] == [("lr=0.01", 0.95, 0.8), ("lr=0.1", 0.97, 0.5)]
    assert [round(r["mean(acc,2)"], 6) for r in rows] == [0.925, 0.785]  # type: ignore[call-overload]


def test_ls_columns_take_summaries_with_a_comma(sweep_store: Path) -> None:
    rows = _ls(sweep_store, "--columns", "name,mean(acc,2),last(acc)")
    assert list(rows[0]) == ["name", "mean(acc,2)", "last(acc)"]
    table = python_m("ls", "--summary", "max(acc)", "--store", str(sweep_store))
    assert table.returncode == 0 and "max(acc)" in table.stdout.splitlines()[0]


def test_bad_filters_are_clean_errors(sweep_store: Path) -> None:
    for args, fragment in (
        (["ls", "--where", "acx>1"], "'acx' is in no listed run"),
        (["ls", "--where", ">1"], "KEY=VALUE or KEY>VALUE"),
        (["ls", "--summary", "median(acc)"], "no summary column"),
    ):
        done = python_m(*args, "--store", str(sweep_store))
        assert (done.returncode, done.stdout) == (1, ""), done.stderr
        assert fragment in done.stderr and len(done.stderr.splitlines()) == 1


def test_records_where_compares(sweep_store: Path) -> None:
    done = python_m("records", "--where", "acc>=0.9", "-c", "run_name,acc", "-f", "json", "--store", str(sweep_store))
    assert done.returncode == 0, done.stderr
    assert strict_json(done.stdout) == [
        {"run_name": "lr=0.1", "acc": 0.97}, {"run_name": "lr=0.01", "acc": 0.9}, {"run_name": "lr=0.01", "acc": 0.95},
    ]
