"""Commands that read records: ``records``, ``sql``, ``export`` and ``plot``.

``records`` prints flat records (each record's values with its scopes' and its run's fields);
``sql`` runs a read-only query over the same views; ``export`` writes them as a dataset;
``plot`` draws a run's series. Each calls one library method.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

import recordkit as rk
from recordkit._formats import json_dumps, json_row
from recordkit.cli import options
from recordkit.cli.formatting import RECORD_DURATION_COLUMNS, RECORD_TIME_COLUMNS
from recordkit.cli.output import counting, write_json_array, write_rows
from recordkit.cli.rows import check_columns, limited, record_table_columns
from recordkit.read.listing import parse_value, parse_where

#: Rows a records table shows when no --limit is given (tables are for looking, csv/jsonl for piping).
TABLE_RECORD_LIMIT = 50


@click.command("records")
@options.store_argument
@options.store_option
@options.collection_option
@click.option(
    "--run", "run_refs", multiple=True, metavar="RUN", help="Only this run (number, COLL/N, id or prefix); repeat."
)
@options.where_option
@options.columns_option
@options.limit_option
@options.format_option("table", "csv", "json", "jsonl")
def records(
    store: str | None,
    collection: str | None,
    run_refs: tuple[str, ...],
    where: tuple[str, ...],
    columns: tuple[str, ...],
    limit: int | None,
    fmt: str,
) -> None:
    """Print flat records: each record's values, its scopes' fields, its run's fields, step, time.

    csv, json and jsonl stream record by record (constant memory). JSON is strict:
    NaN and infinities are written as {"$float": "nan"}. A table shows the first
    50 records unless --limit is given. Python: collection.records.where(KEY=VALUE).

    \b
    Example:
        recordkit records --collection demo --where phase=eval --format csv > eval.csv
    """
    equals = parse_where(where)
    opened = options.open_store(store)
    if run_refs:
        found = [options.find_run(opened, ref) for ref in run_refs]
        source = found[0].records if len(found) == 1 else rk.Records(opened, run_ids=[run.id for run in found])
        if collection:
            equals = {"collection": collection, **equals}
    elif collection:
        source = options.find_collection(opened, collection).records
    else:
        source = opened.records
    view = source.where(**equals) if equals else source
    chosen = options.parse_columns(columns)
    if chosen is not None:  # checked before filtering: a filter that keeps nothing is no unknown column
        check_columns(chosen, source.columns(), "records")
    times, durations = RECORD_TIME_COLUMNS, RECORD_DURATION_COLUMNS
    if fmt == "table":
        if chosen is None:
            several = not run_refs and not collection and len(opened.collections()) > 1
            chosen = record_table_columns(view.columns(), collection=several)
        shown = limit if limit is not None else TABLE_RECORD_LIMIT
        rows = [record.to_dict() for record in limited(view, shown + 1)]
        write_rows(fmt, chosen, rows[:shown], times=times, durations=durations)
        if limit is None and len(rows) > shown:
            click.echo(f"(first {shown} records; use --limit N, or --format csv for all)", err=True)
        return
    stream = counting(limited(view, limit), "Writing records")
    if chosen is None:
        if fmt == "csv":
            chosen = view.columns()
        else:  # json and jsonl: each record with exactly the keys it has
            dicts = (record.to_dict() for record in stream)
            objects = (json_row(d) for d in dicts)
            if fmt == "json":
                write_json_array(objects)
            else:
                for obj in objects:
                    sys.stdout.write(json_dumps(obj) + "\n")
            return
    write_rows(fmt, chosen, stream, times=times, durations=durations)


@click.command("sql")
@click.argument("query", metavar="QUERY")
@options.store_option
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="VALUE",
    help="Bind the next ? placeholder (JSON when it parses, else text); repeat in order.",
)
@options.format_option("table", "csv", "json")
def sql(query: str, store: str | None, params: tuple[str, ...], fmt: str) -> None:
    """Run one read-only SQL query over the views runs, records and scopes.

    records holds every record flat (its keys, scope fields and run fields as
    columns). Anything that writes is refused. Python: store.sql(QUERY, params).

    \b
    Example:
        recordkit sql "select run_name, avg(loss) from records where phase = ? group by run_id" -p eval
    """
    result = options.open_store(store).sql(query, [parse_value(p) for p in params])
    rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    if fmt == "table" and not rows:
        click.echo("No rows.")
        return
    write_rows(fmt, result.columns, rows, times=RECORD_TIME_COLUMNS, durations=RECORD_DURATION_COLUMNS)


@click.command("export")
@options.store_option
@options.collection_option
@click.option("--out", "-o", "out", required=True, metavar="DIR", help="Folder to write the dataset into.")
@options.format_option("parquet", "csv", "jsonl")
def export(store: str | None, collection: str | None, out: str, fmt: str) -> None:
    """Write every run's flat records as a hive-partitioned dataset under DIR.

    Files go to DIR/collection=NAME/run=ID/part-0.FORMAT; Parquet files share one
    schema, so DuckDB, Polars and Spark read DIR as one table.
    Python: store.export(DIR, format=FORMAT) / store.export_parquet(DIR).

    \b
    Example:
        recordkit export --format parquet --out dataset/ && duckdb -c "select count(*) from 'dataset/**/*.parquet'"
    """
    opened = options.open_store(store)
    written = opened.export(out, format=fmt, collection=collection)
    click.echo(f"Wrote {len(written)} {fmt} file(s) under {Path(out).resolve()}")


@click.command("plot")
@click.argument("run_ref", metavar="RUN")
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@options.store_option
@click.option("--by", "by", metavar="FIELD", default=None, help="One line per value of this field (e.g. model).")
@click.option(
    "--out", "-o", "out", metavar="FILE.png", default=None, help="Where to save.  [default: RUN_FOLDER/plots/KEYS.png]"
)
def plot(run_ref: str, keys: tuple[str, ...], store: str | None, by: str | None, out: str | None) -> None:
    """Save a PNG of KEY... against step for one run (needs matplotlib).

    RUN is a run number, COLLECTION/NUMBER, a run id or a unique id prefix.
    Python: run.plot([KEY, ...], by=FIELD, path=FILE).

    \b
    Example:
        recordkit plot demo/3 loss acc --out curves.png
    """
    opened = options.open_store(store)
    path = options.find_run(opened, run_ref).plot(list(keys), by=by, path=out)
    click.echo(str(Path(path).resolve()))
