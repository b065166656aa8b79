"""The ``recordkit`` command: each command is a thin twin of one Python method.

==========================  ====================================================================
command                     Python
==========================  ====================================================================
``recordkit demo``          ``recordkit._demo.run_demo(path)``
``recordkit ls``            ``store.runs()`` / ``store.collection(name).runs()``
``recordkit show RUN``      ``store.run(id_or_prefix)`` / ``store.collection(name).run(number)``
``recordkit records``       ``store.collection(name).records.where(key=value)``
``recordkit diff A B``      two runs' ``config``, ``env`` and ``summary()``
``recordkit sql QUERY``     ``store.sql(query, params)``
``recordkit export``        ``store.export(out, format=...)`` / ``store.export_parquet(out)``
``recordkit plot RUN KEY``  ``run.plot(keys, by=..., path=...)``
==========================  ====================================================================

Commands open a store, call the method, and hand the result to :mod:`recordkit._report` (pure
functions) for display. Any :class:`recordkit.RecordkitError` becomes one line on stderr
(``Error: …``) and exit status 1; a usage error (unknown option, bad number) exits with 2.

Nothing in the library imports this module, so ``import recordkit`` never loads click or rich.
"""

from __future__ import annotations

import csv
import os
import shlex
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

import recordkit as rk
from recordkit import _report as R

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

F = TypeVar("F", bound=Callable[..., Any])

#: Longer tables are laid out without rich (same text, no colours): rich takes about 0.3 ms a row.
RICH_ROW_LIMIT = 1000
#: Rows a records table shows when no --limit is given (tables are for looking, csv/jsonl for piping).
TABLE_RECORD_LIMIT = 50

_STATUS_STYLES = {
    "finished": "green",
    "running": "cyan",
    "paused": "cyan",
    "failed": "red",
    "crashed": "red",
    "interrupted": "yellow",
}


class _Group(click.Group):
    """A click group that turns every RecordkitError into one clean line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except rk.RecordkitError as exc:
            message = " ".join(str(exc).split("\n")).strip() or type(exc).__name__
            raise click.ClickException(message) from exc


# --- shared options ------------------------------------------------------------------------------


def store_option(function: F) -> F:
    """``--store PATH``; left out, the library's default applies ($RECORDKIT_STORE, else ./records)."""
    return click.option(
        "--store",
        "-s",
        "store",
        metavar="PATH",
        default=None,
        help="Store folder or URL.  [default: $RECORDKIT_STORE, else ./records]",
    )(function)


def collection_option(function: F) -> F:
    return click.option("--collection", "-C", "collection", metavar="NAME", default=None, help="Only this collection.")(
        function
    )


def where_option(function: F) -> F:
    return click.option(
        "--where",
        "-w",
        "where",
        multiple=True,
        metavar="KEY=VALUE",
        help="Keep only matches; VALUE is read as JSON when it parses (0.1, true, null), else as text. "
        "Repeat to combine.",
    )(function)


def limit_option(function: F) -> F:
    return click.option(
        "--limit", "-n", "limit", type=click.IntRange(min=0), default=None, metavar="N", help="Show at most N rows."
    )(function)


def columns_option(function: F) -> F:
    return click.option(
        "--columns",
        "-c",
        "columns",
        multiple=True,
        metavar="A,B,…",
        help="Exactly these columns, in this order (comma-separated or repeated).",
    )(function)


def format_option(*choices: str) -> Callable[[F], F]:
    """``--format`` with the given choices; the first is the default."""

    def decorate(function: F) -> F:
        return click.option(
            "--format",
            "-f",
            "fmt",
            type=click.Choice(choices),
            default=choices[0],
            show_default=True,
            help="Output format.",
        )(function)

    return decorate


# --- helpers -------------------------------------------------------------------------------------


def open_store(path: str | None) -> rk.Store:
    """An existing store (a missing one is an error: reading commands never create a store)."""
    try:
        return rk.open(path, create=False)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, rk.RecordkitError):
            raise
        raise click.ClickException(str(exc)) from exc  # e.g. a bad RECORDKIT_* variable


def find_collection(store: rk.Store, name: str) -> rk.Collection:
    """``store.collection(name)``, but an unknown name is an error rather than an empty collection."""
    collection = store.collection(name)
    known = [c.name for c in store.collections()]
    if name not in known:
        raise rk.QueryError(
            f"no collection {name!r} in {store.url!r}; collections: {', '.join(map(repr, known)) or 'none yet'}"
        )
    return collection


def find_run(store: rk.Store, ref: str) -> rk.Run:
    """A run by id, unique id prefix, or ``COLLECTION/NUMBER``."""
    parsed = R.resolve_run_ref(ref)
    if parsed is None:
        return store.run(ref)
    name, number = parsed
    return store.collection(name).run(number)




def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def print_table(console: Console, table: Table) -> None:
    """Print at the table's natural width, never squeezed: cut or folded cells would hide values."""
    from rich.measure import Measurement

    natural = Measurement.get(console, console.options.update_width(1_000_000), table).maximum
    if natural > console.width:
        console.width = natural
    console.print(table)


def _cell(column: str, value: Any, times: frozenset[str], durations: frozenset[str]) -> Any:
    from rich.text import Text

    text = R.display_cell(column, value, times=times, durations=durations)
    style = _STATUS_STYLES.get(text, "") if column == "status" else ""
    return Text(text, style=style)  # Text, not str: brackets in values must never read as markup


def make_table(
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    times: frozenset[str] = R.RUN_TIME_COLUMNS,
    durations: frozenset[str] = R.RUN_DURATION_COLUMNS,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Table:
    from rich import box
    from rich.table import Table

    materialised = list(rows)
    table = Table(
        title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left", title_style="bold"
    )
    for column, right in zip(columns, R.right_aligned(columns, materialised), strict=True):
        header = (headers or {}).get(column, column)
        table.add_column(header, justify="right" if right else "left", no_wrap=True, overflow="ellipsis")
    for row in materialised:
        table.add_row(*(_cell(column, row.get(column), times, durations) for column in columns))
    return table


def show_table(
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    times: frozenset[str] = R.RUN_TIME_COLUMNS,
    durations: frozenset[str] = R.RUN_DURATION_COLUMNS,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Print rows as a table: rich up to RICH_ROW_LIMIT rows, the same layout without colours beyond."""
    materialised = list(rows)
    if len(materialised) <= RICH_ROW_LIMIT:
        print_table(_console(), make_table(columns, materialised, times=times, durations=durations, headers=headers))
        return
    names = [(headers or {}).get(column, column) for column in columns]
    cells = [
        [R.display_cell(column, row.get(column), times=times, durations=durations) for column in columns]
        for row in materialised
    ]
    out = sys.stdout
    for line in R.plain_table(names, cells, R.right_aligned(columns, materialised)):
        out.write(line + "\n")


def write_rows(
    fmt: str,
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    times: frozenset[str],
    durations: frozenset[str],
    machine_times: frozenset[str] = frozenset(),
) -> None:
    """Print rows as a table, CSV, a JSON array or JSON lines; all but the table stream row by row."""
    out = sys.stdout
    if fmt == "table":
        show_table(columns, rows, times=times, durations=durations)
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        for line in R.csv_lines(rows, columns, times=machine_times):
            writer.writerow(line)
    elif fmt == "json":
        for chunk in R.json_array_chunks(R.json_row(R.select(r, columns), times=machine_times) for r in rows):
            out.write(chunk)
    else:  # jsonl
        for row in rows:
            out.write(R.json_dumps(R.json_row(R.select(row, columns), times=machine_times)) + "\n")


def _shell_store(store: rk.Store, given: str | None) -> str:
    """`` --store PATH`` for a hint, or nothing when the default would find the same store."""
    if given is None and "RECORDKIT_STORE" not in os.environ:
        return ""
    return f" --store {shlex.quote(str(_where(store)))}"


def _where(store: rk.Store) -> Path | str:
    return store.path.resolve() if store.path is not None else store.url


# --- the group -----------------------------------------------------------------------------------


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(rk.__version__, "--version", "-V", prog_name="recordkit")
def main() -> None:
    """Record everything about machine-learning experiments; query them all as one flat table.

    Every command reads the store given by --store (default: $RECORDKIT_STORE, else ./records).

    \b
    Example:
        recordkit demo && recordkit ls --sort -acc
    """


@main.command("demo")
@click.argument("path", required=False, metavar="[STORE]")
@store_option
@click.option("--runs", type=click.IntRange(1, 100), default=3, show_default=True, help="How many runs to record.")
@click.option("--epochs", type=click.IntRange(1, 10_000), default=20, show_default=True, help="Epochs per run.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the data and the models.")
def demo(path: str | None, store: str | None, runs: int, epochs: int, seed: int) -> None:
    """Record a few real trainings (a tiny numpy MLP, one learning rate per run) into STORE.

    The runs go to collection "demo"; STORE is created if missing
    (default: $RECORDKIT_STORE, else ./records). Python: recordkit._demo.run_demo(STORE).

    \b
    Example:
        recordkit demo ./records --runs 3 && recordkit ls --store ./records
    """
    from recordkit._demo import COLLECTION, run_demo

    if path is not None and store is not None and path != store:
        raise click.UsageError(f"give the store once: STORE {path!r} or --store {store!r}")
    given = path if path is not None else store
    opened = rk.open(given)
    recorded = run_demo(opened, runs=runs, epochs=epochs, seed=seed)
    where = _where(opened)
    # Plain echo, not rich: a path is text, never markup, and is never wrapped.
    click.echo(f"Recorded {len(recorded)} training runs in collection {COLLECTION!r} of the store at:")
    click.echo(f"  {where}")
    click.echo()
    rows = [R.run_row(run) for run in recorded]
    columns = ["number", "name", "status", "config.lr", "loss", "acc", "duration"]
    print_table(_console(), make_table(columns, rows, title="Runs (loss and acc: last held-out evaluation)"))
    flag = _shell_store(opened, given)
    first, last = recorded[0].number, recorded[-1].number
    click.echo()
    click.echo("Next, try:")
    click.echo(f"  recordkit ls{flag}")
    click.echo(f"  recordkit show {COLLECTION}/{last}{flag}")
    click.echo(f"  recordkit records{flag} --where phase=eval --columns run_name,epoch,loss,acc")
    click.echo(f"  recordkit diff {COLLECTION}/{first} {COLLECTION}/{last}{flag}")
    click.echo("or, in Python (with pandas installed):")
    click.echo("  import recordkit as rk")
    click.echo(f"  df = rk.open({str(where)!r}).collection({COLLECTION!r}).records.to_pandas()")


@main.command("ls")
@store_option
@collection_option
@where_option
@click.option("--sort", "sort", metavar="[-]COLUMN", default=None, help="Sort by a column; '-' for descending.")
@limit_option
@click.option(
    "--config", "config_keys", multiple=True, metavar="KEY,…", help="Add these config values as config.KEY columns."
)
@columns_option
@format_option("table", "csv", "json")
def ls(
    store: str | None,
    collection: str | None,
    where: tuple[str, ...],
    sort: str | None,
    limit: int | None,
    config_keys: tuple[str, ...],
    columns: tuple[str, ...],
    fmt: str,
) -> None:
    """List runs: number, error number, id, name, status, start, duration, latest metrics.

    --where matches run fields (status, name, id, number, error_number, had_error,
    collection, tag) and config values (config.lr, or just lr). Crashed runs (their
    process died) show as crashed. Python: store.runs() / store.collection(NAME).runs().

    \b
    Example:
        recordkit ls --collection demo --where status=finished --sort -acc --config lr
    """
    equals = R.parse_where(where)
    opened = open_store(store)
    runs: Sequence[R.RunLike] = find_collection(opened, collection).runs() if collection else opened.runs()
    runs = R.filter_runs(runs, equals)
    rows = R.sort_rows([R.run_row(run) for run in runs], sort)
    if limit is not None:
        rows = rows[:limit]
    chosen = R.parse_columns(columns)
    if chosen is None:
        chosen = R.run_columns(rows, R.parse_columns(config_keys) or (), collection=collection is None)
    elif rows:
        R.check_columns(chosen, {name for row in rows for name in row}, "runs")
    if fmt == "table":
        if not rows:
            click.echo(f"No runs in {opened.url}" + (f" collection {collection!r}" if collection else "") + ".")
            return
        if not columns and len({row["collection"] for row in rows}) == 1:
            chosen = [c for c in chosen if c != "collection"]
        # A table is for reading: 8 id characters are a prefix `show` accepts; csv and json give all 16.
        rows = [{**row, "id": row["id"][:8]} for row in rows]
        show_table(chosen, rows, headers={"error_number": "err"})
        return
    write_rows(
        fmt,
        chosen,
        rows,
        times=R.RUN_TIME_COLUMNS,
        durations=R.RUN_DURATION_COLUMNS,
        machine_times=R.RUN_TIME_COLUMNS,
    )


@main.command("show")
@click.argument("run_ref", metavar="RUN")
@store_option
@format_option("table", "json")
def show(run_ref: str, store: str | None, fmt: str) -> None:
    """Show one run: identity, config, environment, metrics summary, error, folder.

    RUN is a run id, a unique id prefix, or COLLECTION/NUMBER.
    Python: store.run(ID) / store.collection(NAME).run(NUMBER).

    \b
    Example:
        recordkit show demo/3
    """
    opened = open_store(store)
    run = find_run(opened, run_ref)
    identity = R.run_identity(run)
    identity["folder"] = str(run.folder)
    env = R.thaw(run.env)
    metrics = R.metric_rows(run)
    error = R.thaw(run.error)
    if fmt == "json":
        document = {
            "run": R.json_row(identity, times=R.RUN_TIME_COLUMNS),
            "config": R.json_value("config", run.config),
            "env_summary": R.env_summary(env),
            "env": R.json_value("env", env),
            "metrics": [R.json_row(row) for row in metrics],
            "error": R.json_value("error", error),
        }
        click.echo(R.json_dumps(document))
        return
    from rich.table import Table
    from rich.text import Text

    console = _console()
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    for key, value in identity.items():
        if value not in (None, []):
            header.add_row(key, _cell(key, value, R.RUN_TIME_COLUMNS, R.RUN_DURATION_COLUMNS))
    print_table(console, header)
    config = [{"key": k, "value": v} for k, v in R.flatten(run.config).items()]
    summary = [{"key": k, "value": v} for k, v in R.env_summary(env).items()]
    sections = [
        ("Config", ["key", "value"], config),
        ("Environment", ["key", "value"], summary),
        ("Metrics", ["key", "last", "last_step", "min", "max", "count"], metrics),
    ]
    for title, columns, rows in sections:
        if rows:
            console.print()
            print_table(console, make_table(columns, rows, title=title))
    if not metrics:
        console.print("\nNo records logged.")
    if error:
        console.print()
        console.print(Text(f"Error: {error.get('type')}: {error.get('message')}", style="bold red"))
        if error.get("traceback"):
            console.print(Text(str(error["traceback"]).rstrip()))


@main.command("records")
@store_option
@collection_option
@click.option("--run", "run_refs", multiple=True, metavar="RUN", help="Only this run (id, prefix or COLL/N); repeat.")
@where_option
@columns_option
@limit_option
@format_option("table", "csv", "json", "jsonl")
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
    equals = R.parse_where(where)
    opened = open_store(store)
    if run_refs:
        found = [find_run(opened, ref) for ref in run_refs]
        source = found[0].records if len(found) == 1 else rk.Records(opened, run_ids=[run.id for run in found])
        if collection:
            equals = {"collection": collection, **equals}
    elif collection:
        source = find_collection(opened, collection).records
    else:
        source = opened.records
    view = source.where(**equals) if equals else source
    chosen = R.parse_columns(columns)
    if chosen is not None:  # checked before filtering: a filter that keeps nothing is no unknown column
        R.check_columns(chosen, source.columns(), "records")
    times, durations = R.RECORD_TIME_COLUMNS, R.RECORD_DURATION_COLUMNS
    if fmt == "table":
        if chosen is None:
            several = not run_refs and not collection and len(opened.collections()) > 1
            chosen = R.record_table_columns(view.columns(), collection=several)
        shown = limit if limit is not None else TABLE_RECORD_LIMIT
        rows = [record.to_dict() for record in R.limited(view, shown + 1)]
        write_rows(fmt, chosen, rows[:shown], times=times, durations=durations)
        if limit is None and len(rows) > shown:
            click.echo(f"(first {shown} records; use --limit N, or --format csv for all)", err=True)
        return
    stream = R.limited(view, limit)
    if chosen is None:
        if fmt == "csv":
            chosen = view.columns()
        else:  # json and jsonl: each record with exactly the keys it has
            dicts = (record.to_dict() for record in stream)
            objects = (R.json_row(d) for d in dicts)
            if fmt == "json":
                for chunk in R.json_array_chunks(objects):
                    sys.stdout.write(chunk)
            else:
                for obj in objects:
                    sys.stdout.write(R.json_dumps(obj) + "\n")
            return
    write_rows(fmt, chosen, stream, times=times, durations=durations)


@main.command("diff")
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@store_option
@format_option("table", "json")
def diff(run_a: str, run_b: str, store: str | None, fmt: str) -> None:
    """Show how two runs differ: config, environment and metrics (last values).

    RUN_A and RUN_B are run ids, unique id prefixes or COLLECTION/NUMBER. Environment
    keys that always differ (pid, free disk) are left out. Python: the runs' config,
    env and summary().

    \b
    Example:
        recordkit diff demo/1 demo/3
    """
    opened = open_store(store)
    a, b = find_run(opened, run_a), find_run(opened, run_b)
    rows = R.diff_runs(a, b)
    if fmt == "json":
        document = {
            "a": R.json_row(R.run_identity(a), times=R.RUN_TIME_COLUMNS),
            "b": R.json_row(R.run_identity(b), times=R.RUN_TIME_COLUMNS),
            "differences": [R.json_row(row) for row in rows],
        }
        click.echo(R.json_dumps(document))
        return
    label_a, label_b = _label(a), _label(b)
    if label_a == label_b:
        label_a, label_b = a.id, b.id
    if not rows:
        click.echo(f"{label_a} and {label_b} have the same config, environment and metrics.")
        return
    from rich.text import Text

    table = make_table(["section", "key"], [], title=f"{label_a} vs {label_b}")
    table.add_column(label_a, overflow="fold")
    table.add_column(label_b, overflow="fold")
    missing = Text("(missing)", style="dim")
    for row in rows:
        a_cell = _cell(row["key"], row["a"], frozenset(), frozenset()) if "a" in row else missing
        b_cell = _cell(row["key"], row["b"], frozenset(), frozenset()) if "b" in row else missing
        table.add_row(row["section"], Text(row["key"]), a_cell, b_cell)
    print_table(_console(), table)


def _label(run: rk.Run) -> str:
    attempt = f" (attempt {run.error_number})" if run.error_number else ""
    return f"{run.collection.name}/{run.number}{attempt}"


# --- analytics: sql, export, plot ------------------------------------------------------------------


@main.command("sql")
@click.argument("query", metavar="QUERY")
@store_option
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="VALUE",
    help="Bind the next ? placeholder (JSON when it parses, else text); repeat in order.",
)
@format_option("table", "csv", "json")
def sql(query: str, store: str | None, params: tuple[str, ...], fmt: str) -> None:
    """Run one read-only SQL query over the views runs, records and scopes.

    records holds every record flat (its keys, scope fields and run fields as
    columns). Anything that writes is refused. Python: store.sql(QUERY, params).

    \b
    Example:
        recordkit sql "select run_name, avg(loss) from records where phase = ? group by run_id" -p eval
    """
    result = open_store(store).sql(query, [R.parse_value(p) for p in params])
    rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    if fmt == "table" and not rows:
        click.echo("No rows.")
        return
    write_rows(fmt, result.columns, rows, times=R.RECORD_TIME_COLUMNS, durations=R.RECORD_DURATION_COLUMNS)


@main.command("export")
@store_option
@collection_option
@click.option("--out", "-o", "out", required=True, metavar="DIR", help="Folder to write the dataset into.")
@format_option("parquet", "csv", "jsonl")
def export(store: str | None, collection: str | None, out: str, fmt: str) -> None:
    """Write every run's flat records as a hive-partitioned dataset under DIR.

    Files go to DIR/collection=NAME/run=ID/part-0.FORMAT; Parquet files share one
    schema, so DuckDB, Polars and Spark read DIR as one table.
    Python: store.export(DIR, format=FORMAT) / store.export_parquet(DIR).

    \b
    Example:
        recordkit export --format parquet --out dataset/ && duckdb -c "select count(*) from 'dataset/**/*.parquet'"
    """
    opened = open_store(store)
    written = opened.export(out, format=fmt, collection=collection)
    click.echo(f"Wrote {len(written)} {fmt} file(s) under {Path(out).resolve()}")


@main.command("plot")
@click.argument("run_ref", metavar="RUN")
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@store_option
@click.option("--by", "by", metavar="FIELD", default=None, help="One line per value of this field (e.g. model).")
@click.option(
    "--out", "-o", "out", metavar="FILE.png", default=None, help="Where to save.  [default: RUN_FOLDER/plots/KEYS.png]"
)
def plot(run_ref: str, keys: tuple[str, ...], store: str | None, by: str | None, out: str | None) -> None:
    """Save a PNG of KEY... against step for one run (needs matplotlib).

    RUN is a run id, a unique id prefix, or COLLECTION/NUMBER.
    Python: run.plot([KEY, ...], by=FIELD, path=FILE).

    \b
    Example:
        recordkit plot demo/3 loss acc --out curves.png
    """
    opened = open_store(store)
    path = find_run(opened, run_ref).plot(list(keys), by=by, path=out)
    click.echo(str(Path(path).resolve()))


if __name__ == "__main__":  # pragma: no cover
    main()
