"""Export: every run's flat records as a hive-partitioned dataset, ``out/collection=<c>/run=<id>/part-0.<ext>``.

Parquet files all share one schema, so DuckDB, Polars and Spark read the folder as one table without
options: a key some run never logged is a null column in that run's file, and a key whose types differ
between runs is widened (ints and floats to float64; anything else to text). The ``collection`` column
lives in the folder names only (hive readers add it back); ``run`` in the folder name is the run id.

Partition values are escaped as Hive escapes them (``%2F`` for ``/``, ``%3D`` for ``=``…).
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recordkit._exceptions import QueryError
from recordkit.backends.base import LIVE_STATUSES, RunRow

if TYPE_CHECKING:
    from recordkit._store import Store

FORMATS = ("parquet", "csv", "jsonl")
# What Hive's FileUtils.escapePathName escapes.
_HIVE_ESCAPE = frozenset('"#%\'*/:=?\\\x7f{}[]^') | frozenset(chr(c) for c in range(32))


def hive_value(text: str) -> str:
    return "".join(f"%{ord(ch):02X}" if ch in _HIVE_ESCAPE else ch for ch in text)


def partition(out: Path, row: RunRow) -> Path:
    return out / f"collection={hive_value(row.collection)}" / f"run={hive_value(row.id)}"


def _rows(store: Store, collection: str | None) -> list[RunRow]:
    if collection is not None and collection not in store.backend.collections():
        raise QueryError(f"no collection {collection!r} in {store.url!r}; collections: {store.backend.collections()!r}")
    store.flush()  # live runs: everything logged so far
    return store._rows(collection)


def unified_schema(pa: Any, schemas: list[Any]) -> Any:
    """One schema for every file: columns in first-seen order; differing types widened."""
    types: dict[str, list[Any]] = {}
    for schema in schemas:
        for field in schema:
            types.setdefault(field.name, []).append(field.type)
    fields = []
    for name, kinds in types.items():
        known = list(dict.fromkeys(k for k in kinds if k != pa.null()))
        if not known:
            kind = pa.null()
        elif len(known) == 1:
            kind = known[0]
        elif all(pa.types.is_integer(k) or pa.types.is_floating(k) for k in known):
            kind = pa.float64()
        else:
            kind = pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def conform(pa: Any, table: Any, schema: Any) -> Any:
    """``table`` with exactly ``schema``'s columns, in order: missing ones null, others widened."""
    from recordkit.read.parquet import _text_cell

    n = table.num_rows
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            columns.append(pa.nulls(n, type=field.type))
            continue
        column = table.column(field.name)
        if column.type == field.type:
            columns.append(column)
        elif pa.types.is_string(field.type) and not pa.types.is_string(column.type):
            columns.append(pa.array([_text_cell(v) for v in column.to_pylist()], type=pa.string()))
        else:
            columns.append(column.cast(field.type))
    return pa.table(columns, schema=schema.with_metadata(table.schema.metadata))


def export_parquet(store: Store, out: Path, *, collection: str | None = None) -> list[Path]:
    from recordkit.read.parquet import is_fresh, require_pyarrow, run_table, seal_run, sealed_path, write_parquet

    pa = require_pyarrow()
    import pyarrow.parquet as pq

    sources: list[tuple[RunRow, Any]] = []  # (run, sealed path or in-memory table)
    for row in _rows(store, collection):
        if row.status in LIVE_STATUSES or store.path is None:
            sources.append((row, run_table(store, row)))
        elif store.settings.seal or is_fresh(sealed_path(store, row), row):
            sources.append((row, seal_run(store, row)))  # a fresh sealed file is used as it is
        else:  # sealing is off: build the table without leaving a file in the run folder
            sources.append((row, run_table(store, row)))
    schemas = [pq.read_schema(src) if isinstance(src, Path) else src.schema for _, src in sources]
    schema = unified_schema(pa, schemas)
    schema = pa.schema([f for f in schema if f.name != "collection"])  # it is the partition folder
    written = []
    for row, src in sources:
        table = pq.read_table(src) if isinstance(src, Path) else src
        path = partition(out, row) / "part-0.parquet"
        write_parquet(conform(pa, table, schema), path)
        written.append(path)
    return written


def export(store: Store, out: Path, *, format: str = "parquet", collection: str | None = None) -> list[Path]:
    """Write the dataset in ``format`` (parquet, csv, jsonl); return the files written."""
    if format not in FORMATS:
        raise QueryError(f"unknown export format {format!r}; use one of {', '.join(FORMATS)}")
    if format == "parquet":
        return export_parquet(store, out, collection=collection)
    from recordkit import _formats as R
    from recordkit.read.records import Records

    written = []
    for row in _rows(store, collection):
        records = Records(store, run_ids=[row.id])
        path = partition(out, row) / f"part-0.{format}"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("w", newline="", encoding="utf-8") as f:
                if format == "csv":
                    writer = csv.writer(f, lineterminator="\n")
                    for line in R.csv_lines(_dicts(records), records.columns()):
                        writer.writerow(line)
                else:
                    for record in _dicts(records):
                        f.write(R.json_dumps(R.json_row(record)) + "\n")
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        written.append(path)
    return written


def _dicts(records: Any) -> Iterator[dict[str, Any]]:
    for record in records:
        yield record.to_dict()
