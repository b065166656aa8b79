"""record-keeper's files, written by ``RecordWriter.save_records``: ``<group>.csv`` and SQLite tables.

The seed's layout: one CSV file and one table per group, the ``~iteration~`` column first, one row per
iteration. Unlike the seed, names are quoted in SQL and values bound, a CSV file keeps one header (a new
column rewrites it once, atomically), and ``query`` opens the file read-only.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import recordkit as rk
from recordkit.compat._common import write_atomically

#: The iteration column of the CSV files and SQLite tables, named as the seed named it.
ITERATION = "~iteration~"


def table_rows(series: Mapping[str, Mapping[int, Any]], save_lists: bool) -> tuple[list[str], list[list[Any]]]:
    """Pending values as rows: one per iteration (sorted), the iteration first, None where a series is missing."""
    iterations = sorted({iteration for values in series.values() for iteration in values})
    names = [name for name, values in series.items()
             if save_lists or not any(isinstance(v, list) for v in values.values())]
    rows = [[iteration, *(series[name].get(iteration) for name in names)] for iteration in iterations]
    return [ITERATION, *names], rows


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list) else value


def write_csv(path: Path, columns: list[str], rows: list[list[Any]]) -> None:
    """Append rows; a new column rewrites the file once with the wider header (the seed wrote a second header)."""
    header: list[str] = []
    old_rows: list[list[str]] = []
    if path.exists():
        with path.open(newline="", encoding="utf-8") as f:
            old = list(csv.reader(f))
        header, old_rows = (old[0], old[1:]) if old else ([], [])
    if header == columns:
        with path.open("a", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([[_cell(v) for v in row] for row in rows])
        return
    wide = header + [c for c in columns if c not in header]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(wide)
    writer.writerows(row + [""] * (len(wide) - len(row)) for row in old_rows)
    for row in rows:
        by_name = dict(zip(columns, row, strict=True))
        writer.writerow([_cell(by_name.get(name)) for name in wide])
    write_atomically(path, out.getvalue())


def _quote(name: str) -> str:
    """An SQL identifier: any group or series name, quoted (the seed pasted names bare into its SQL)."""
    return '"' + name.replace('"', '""') + '"'


def _sql_type(values: Sequence[Any]) -> str:
    first = next((v for v in values if v is not None), None)
    if isinstance(first, list):
        return "json"
    if isinstance(first, datetime.date):
        return "timestamp"
    if isinstance(first, str):
        return "text"
    return "integer" if isinstance(first, int) else "real"


def _sql_value(value: Any) -> Any:
    if isinstance(value, list):
        return json.dumps(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _has_table(conn: sqlite3.Connection, table: str) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    return found is not None


class Database:
    """One of the seed's SQLite files: a table per group; with ``experiment`` the shared (global) one."""

    def __init__(self, path: Path, experiment: str | None = None) -> None:
        self.path = path
        self.experiment = experiment

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    def new_experiment(self) -> None:
        with self._connect() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS experiment_ids (id integer primary key autoincrement, "
                         "experiment_name text unique, has_records integer)")
            found = conn.execute("SELECT has_records FROM experiment_ids WHERE experiment_name = ?",
                                 (self.experiment,)).fetchone()
            if found is not None and found[0]:
                raise ValueError(
                    f"experiment {self.experiment!r} already has records in {str(self.path)!r}; pass "
                    "is_new_experiment=False to add to it, or give the new experiment another name"
                )
            conn.execute("DELETE FROM experiment_ids WHERE experiment_name = ?", (self.experiment,))
            conn.execute("INSERT INTO experiment_ids (experiment_name, has_records) VALUES (?, 0)", (self.experiment,))
        conn.close()

    def experiment_id(self, conn: sqlite3.Connection | None = None) -> int:
        """The global database's id of this experiment; the seed failed with an IndexError when it had none."""
        own = conn or self._connect()
        try:
            found = own.execute("SELECT id FROM experiment_ids WHERE experiment_name = ?",
                                (self.experiment,)).fetchone() if _has_table(own, "experiment_ids") else None
        finally:
            if conn is None:
                own.close()
        if found is None:
            raise ValueError(f"experiment {self.experiment!r} is not registered in {str(self.path)!r}; "
                             "create the RecordWriter with is_new_experiment=True")
        return int(found[0])

    def write(self, table: str, columns: list[str], rows: list[list[Any]]) -> None:
        names = [f"{c}_list" if _sql_type([r[i] for r in rows]) == "json" else c for i, c in enumerate(columns)]
        types = [_sql_type([r[i] for r in rows]) for i in range(len(columns))]
        values = [[_sql_value(v) for v in row] for row in rows]
        with self._connect() as conn:
            if self.experiment is not None:
                experiment_id = self.experiment_id(conn)
                names, types = ["experiment_id", *names], ["integer", *types]
                values = [[experiment_id, *row] for row in values]
            conn.execute(f"CREATE TABLE IF NOT EXISTS {_quote(table)} (id integer primary key autoincrement)")
            have = {row[1] for row in conn.execute(f"PRAGMA table_info({_quote(table)})")}
            for name, kind in zip(names, types, strict=True):
                if name not in have:
                    conn.execute(f"ALTER TABLE {_quote(table)} ADD COLUMN {_quote(name)} {kind}")
            marks = ", ".join("?" * len(names))
            conn.executemany(
                f"INSERT INTO {_quote(table)} ({', '.join(map(_quote, names))}) VALUES ({marks})", values
            )
            if self.experiment is not None:
                conn.execute("UPDATE experiment_ids SET has_records = 1 WHERE experiment_name = ?", (self.experiment,))
        conn.close()

    def query(self, query: str, values: Sequence[Any] | Mapping[str, Any]) -> list[sqlite3.Row]:
        if not self.path.exists():
            raise rk.QueryError(f"{str(self.path)!r} does not exist yet: call save_records() before query()")
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA query_only = ON")
            return list(conn.execute(query, values))
        except sqlite3.Error as exc:
            raise rk.QueryError(f"query() failed (it is read-only; values are bound with ?): {exc}") from exc
        finally:
            conn.close()

    def table_exists(self, table: str) -> bool:
        if not self.path.exists():
            return False
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
        try:
            return _has_table(conn, table)
        finally:
            conn.close()
