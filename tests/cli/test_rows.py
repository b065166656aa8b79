"""What the commands show, as rows: pure functions, tested with a run-shaped stand-in (no store)."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

import recordkit as rk
from recordkit._formats import csv_lines
from recordkit.cli.formatting import RUN_TIME_COLUMNS
from recordkit.cli.rows import diff_runs, env_summary, gc_rows, limited, run_columns, run_row
from recordkit.read.listing import MISSING, RUN_COLUMNS, flatten, lookup, sort_rows


class StubRun(SimpleNamespace):
    """A run-shaped object with fixed times, for exact output without a store."""

    def summary(self) -> dict[str, dict[str, Any]]:
        return self.metrics  # type: ignore[no-any-return]


@pytest.fixture
def stub_run() -> StubRun:
    return StubRun(
        id="0123456789abcdef",
        collection="study",
        number=4,
        error_number=0,
        had_error=False,
        name="fixed",
        tags=("a",),
        status=rk.RunStatus.FINISHED,
        start_time=1_700_000_000.0,
        end_time=1_700_000_090.5,
        duration=90.5,
        parent_id=None,
        config={"lr": 0.01, "opt": {"name": "adam", "betas": [0.9, 0.99]}},
        env={},
        metrics={
            "loss": {"last": 0.25, "last_step": 9, "min": 0.25, "max": 1.5, "count": 10},
            "duration": {"last": 3, "last_step": 9, "min": 3, "max": 3, "count": 1},
        },
    )


def test_run_row_csv_golden(stub_run: StubRun) -> None:
    row = run_row(stub_run)
    columns = [*RUN_COLUMNS, "end", "loss", "metric.duration", "config.opt.betas"]
    lines = [",".join(line) for line in csv_lines([row], columns, times=RUN_TIME_COLUMNS)]
    assert lines == [
        "collection,number,error_number,id,name,status,start,duration,end,loss,metric.duration,config.opt.betas",
        "study,4,0,0123456789abcdef,fixed,finished,2023-11-14T22:13:20+00:00,90.5,"
        "2023-11-14T22:14:50.500000+00:00,0.25,3,[0.9|0.99]".replace("|", ","),
    ]
    assert run_columns([row]) == [*RUN_COLUMNS, "loss", "metric.duration"]
    assert run_columns([row], ["lr", "config.opt.name"], collection=False)[-2:] == ["config.lr", "config.opt.name"]


def test_flatten_and_lookup() -> None:
    nested = {"a": {"b": {"c": 1}, "e": {}}, "x.y": 2}
    assert flatten(nested) == {"a.b.c": 1, "a.e": {}, "x.y": 2}
    assert lookup(nested, "a.b.c") == 1
    assert lookup(nested, "x.y") == 2
    assert lookup(nested, "a.nope") is MISSING


def test_sort_rows_puts_blanks_last() -> None:
    rows = [{"v": None}, {"v": 2.0}, {"v": float("nan")}, {"v": 1}, {"v": "text"}]
    assert [r["v"] for r in sort_rows(rows, "v")][:3] == [1, 2.0, "text"]
    assert [r["v"] for r in sort_rows(rows, "-v")][:3] == ["text", 2.0, 1]


def test_limited_reads_no_further() -> None:
    def numbers() -> Iterator[int]:
        yield 1
        yield 2
        raise AssertionError("read past the limit")

    assert list(limited(numbers(), 2)) == [1, 2]


def test_env_summary_skips_missing_parts() -> None:
    env = {
        "python": {"implementation": "CPython", "version": "3.11.7", "libraries": {"numpy": "2.0"}},
        "system": {"hostname": "box", "user": "me", "distribution": None, "os_name": "Linux", "machine": "x86_64"},
        "gpu": {"devices": [{"name": "H100"}, {"name": "H100"}]},
        "git": {"root": "/r", "commit": "0123456789abcdef", "branch": "main", "dirty": True},
        "process": {"argv": ["train.py", "--lr", "0.1"], "cwd": "/r"},
        "hardware": {"error": "unreadable"},
    }
    assert env_summary(env) == {
        "python": "CPython 3.11.7",
        "os": "Linux x86_64",
        "host": "me@box",
        "gpu": "2 × H100",
        "libraries": "numpy 2.0",
        "git": "0123456789ab main (dirty)",
        "command": "train.py --lr 0.1",
        "cwd": "/r",
    }
    assert env_summary({}) == {}


def test_diff_runs_leaves_out_volatile_env(stub_run: StubRun) -> None:
    other = StubRun(**{**vars(stub_run), "config": {"lr": 0.01, "opt": {"name": "sgd"}}})
    stub_run.env = {"process": {"pid": 1, "cwd": "/a"}, "python": {"version": "3.11"}}
    other.env = {"process": {"pid": 2, "cwd": "/b"}, "python": {"version": "3.11"}}
    assert diff_runs(stub_run, other) == [
        {"section": "config", "key": "opt.name", "a": "adam", "b": "sgd"},
        {"section": "config", "key": "opt.betas", "a": [0.9, 0.99]},
        {"section": "env", "key": "process.cwd", "a": "/a", "b": "/b"},
    ]


def test_gc_table_names_orphaned_events_files_and_links() -> None:
    report = rk.CleanupReport(dry_run=True)
    report.rows = {"events": 2, "files": 1, "links": 3}
    removed = [row["removed"] for row in gc_rows(report)]
    assert removed[:3] == ["orphaned events", "orphaned file rows", "orphaned links"]
