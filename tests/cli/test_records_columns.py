"""``recordkit records``: config columns by name, and a filter on an unknown key fails (real processes)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.cli.helpers import python_m


def test_records_columns_take_config_keys(small_store: Path) -> None:
    columns = "experiment_number,config.lr,loss"
    done = python_m("records", "--columns", columns, "-f", "csv", "--store", str(small_store))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [(r["experiment_number"], r["config.lr"]) for r in rows[::3]] == [("1", "0.1"), ("2", "0.2"), ("3", "0.3")]
    table = python_m("records", "--where", "config.lr=0.2", "-c", "config.lr,loss", "--store", str(small_store))
    assert table.returncode == 0 and table.stdout.count("0.2 ") == 3


def test_records_where_an_unknown_key_fails_naming_similar_keys(small_store: Path) -> None:
    for key, similar in (("nokey=1", None), ("los=0", "loss"), ("config.rl=0.1", "config.lr")):
        done = python_m("records", "--where", key, "--store", str(small_store))
        assert (done.returncode, done.stdout) == (1, ""), done.stderr
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"Error: no record, scope, run or config key {key.split('=')[0]!r}")
        assert (f"similar: {similar}" in line) if similar else ("known: loss, config.lr, step" in line)
