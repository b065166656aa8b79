"""The ``recordkit`` command: each command is a thin twin of one Python method.

==========================  ====================================================================
command                     Python
==========================  ====================================================================
``recordkit demo``          ``recordkit._demo.run_demo(path)``
``recordkit ls``            ``store.run_table(where=…, sort=…, limit=…)`` (or a collection's)
``recordkit show RUN``      ``store.run(id_or_prefix)`` / ``store.collection(name).run(number)``
``recordkit records``       ``store.collection(name).records.where(key=value)``
``recordkit diff A B``      two runs' ``config``, ``env`` and ``summary()``
``recordkit rm RUN…``       ``store.delete_run(run, force=…, dry_run=…)``
``recordkit gc``            ``store.gc(dry_run=…)``
``recordkit sql QUERY``     ``store.sql(query, params)``
``recordkit export``        ``store.export(out, format=...)`` / ``store.export_parquet(out)``
``recordkit plot RUN KEY``  ``run.plot(keys, by=..., path=...)``
``recordkit sync SRC DST``  ``rk.open(SRC).sync_to(rk.open(DST))``
==========================  ====================================================================

Commands open a store, call the method, and hand the result to :mod:`recordkit._report` (pure
functions) for display. Any :class:`recordkit.RecordkitError` becomes one line on stderr
(``Error: …``) and exit status 1; a usage error (unknown option, bad number) exits with 2.

Nothing in the library imports this module, so ``import recordkit`` never loads click or rich.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import os
import shlex
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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


def store_argument(function: F) -> F:
    """An optional positional ``[STORE]``, the same as ``--store`` (both, differing, is a usage error)."""

    @functools.wraps(function)
    def merged(*args: Any, store_path: str | None = None, **kwargs: Any) -> Any:
        given = kwargs.get("store")
        if store_path is not None:
            if given is not None and given != store_path:
                raise click.UsageError(f"give the store once: STORE {store_path!r} or --store {given!r}")
            kwargs["store"] = store_path
        return function(*args, **kwargs)

    return click.argument("store_path", required=False, metavar="[STORE]")(merged)  # type: ignore[return-value]


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
    by_column = [
        R.display_column(column, [row.get(column) for row in materialised], times=times, durations=durations)
        for column in columns
    ]
    cells = list(zip(*by_column, strict=True)) if by_column else [() for _ in materialised]
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


def _stderr_is_a_terminal() -> bool:
    return sys.stderr.isatty()


@contextlib.contextmanager
def spinner(text: str) -> Iterator[None]:
    """A rich spinner on stderr while something slow runs (only when stderr is a terminal)."""
    if not _stderr_is_a_terminal():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(text):
        yield


def progress(items: Sequence[Any], description: str) -> Iterable[Any]:
    """Items, with a rich progress bar on stderr when there are several and stderr is a terminal."""
    if len(items) < 2 or not _stderr_is_a_terminal():
        return items
    from rich.console import Console
    from rich.progress import track

    return track(items, description=description, console=Console(stderr=True), transient=True)


def counting(items: Iterable[Any], description: str, every: int = 1000) -> Iterator[Any]:
    """Items, passed through one at a time; while they are written to a file or a pipe and stderr
    is a terminal, a rich progress display on stderr counts them (the total is not known up front)."""
    if not _stderr_is_a_terminal() or sys.stdout.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}: {task.completed:,}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as shown:
        task = shown.add_task(description, total=None)
        for count, item in enumerate(items, 1):
            yield item
            if count % every == 0:
                shown.update(task, completed=count)


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
@store_argument
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
    process died) show as crashed. Python: store.run_table(where=…, sort=…, limit=…).

    \b
    Example:
        recordkit ls --collection demo --where status=finished --sort -acc --config lr
    """
    conditions = R.parse_where(where)  # a bad expression is reported before the store is opened
    opened = open_store(store)
    source = find_collection(opened, collection) if collection else opened
    rows = source.run_table(where=conditions, sort=sort, limit=limit)
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
        for row in rows:  # the rows are ours: shorten in place
            row["id"] = row["id"][:8]
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
    """Show one run: identity, config, environment, metrics, files, checkpoints, sub-runs, links, last events, error.

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
    children = [R.child_row(child) for child in opened.runs(where={"parent_id": run.id})]
    files = [R.file_row(info) for info in run.files]
    checkpoints = [R.checkpoint_row(checkpoint) for checkpoint in run.checkpoints()]
    links = [R.link_row(link, run.id) for link in run.links()]
    events = run.events
    last_events = events[-R.LAST_EVENTS :]
    if fmt == "json":
        document = {
            "run": R.json_row(identity, times=R.RUN_TIME_COLUMNS),
            "config": R.json_value("config", run.config),
            "env_summary": R.env_summary(env),
            "env": R.json_value("env", env),
            "metrics": [R.json_row(row) for row in metrics],
            "children": [R.json_row(row, times=R.RUN_TIME_COLUMNS) for row in children],
            "files": [R.json_row(row, times=R.EVENT_TIME_COLUMNS) for row in files],
            "checkpoints": [R.json_row(row) for row in checkpoints],
            "links": [R.json_row(row, times=R.EVENT_TIME_COLUMNS) for row in links],
            "events": {"count": len(events), "last": last_events.to_dicts()},
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
        ("Sub-runs", ["number", "name", "status", "id", "start", "duration"], children),
    ]
    for title, columns, rows in sections:
        if rows:
            console.print()
            print_table(console, make_table(columns, rows, title=title))
    if not metrics:
        console.print("\nNo records logged.")
    shown_files = [
        {**row, "size": None if row["size"] is None else R.human_bytes(row["size"]),
         "content": (row["sha256"] or "")[:12] if row["kind"] == "attachment" else row["path"]}
        for row in files
    ]
    shown_checkpoints = [{**row, "size": R.human_bytes(row["size"])} for row in checkpoints]
    times, none = R.EVENT_TIME_COLUMNS, frozenset[str]()
    more = [
        ("Files", ["name", "kind", "step", "size", "content"], shown_files, none, none),
        ("Checkpoints", ["name", "step", "epoch", "mode", "size", "metrics"], shown_checkpoints, none, none),
        ("Links", ["relation", "direction", "run", "time", "data"], links, times, none),
        (
            f"Last events ({len(last_events)} of {len(events)}; all: recordkit events {run.id})",
            R.EVENT_COLUMNS,
            [R.event_row(event) for event in last_events],
            times,
            R.EVENT_DURATION_COLUMNS,
        ),
    ]
    for title, columns, rows, time_columns, duration_columns in more:
        if rows:
            console.print()
            print_table(
                console, make_table(columns, rows, title=title, times=time_columns, durations=duration_columns)
            )
    if error:
        console.print()
        console.print(Text(f"Error: {error.get('type')}: {error.get('message')}", style="bold red"))
        if error.get("traceback"):
            console.print(Text(str(error["traceback"]).rstrip()))


@main.command("events")
@click.argument("run_ref", metavar="RUN")
@store_option
@click.option("--under", "prefix", metavar="PREFIX", default=None, help="Only events named PREFIX or below it.")
@format_option("table", "json", "jsonl")
def events(run_ref: str, store: str | None, prefix: str | None, fmt: str) -> None:
    """List a run's events, oldest first (started, attached, checkpoint, your own…).

    RUN is a run id, a unique id prefix, or COLLECTION/NUMBER. --under epoch/2 keeps the
    events named epoch/2 or below it (epoch/2/eval). jsonl is the format of
    run.events.to_jsonl(). Python: run.events / run.events.under(PREFIX).

    \b
    Example:
        recordkit events demo/3 --under epoch --format jsonl
    """
    opened = open_store(store)
    found = find_run(opened, run_ref).events
    if prefix is not None:
        found = found.under(prefix)
    if fmt == "jsonl":
        click.echo(found.to_jsonl(), nl=False)
    elif fmt == "json":
        for chunk in R.json_array_chunks(found.to_dicts()):
            sys.stdout.write(chunk)
    else:
        rows = [R.event_row(event) for event in found]
        show_table(R.EVENT_COLUMNS, rows, times=R.EVENT_TIME_COLUMNS, durations=R.EVENT_DURATION_COLUMNS)


@main.command("records")
@store_argument
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
    stream = counting(R.limited(view, limit), "Writing records")
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


@main.command("rm")
@click.argument("run_refs", metavar="RUN…", nargs=-1, required=True)
@store_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Delete live (running or paused) runs too.")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; change nothing.")
@format_option("table", "json")
def rm(run_refs: tuple[str, ...], store: str | None, yes: bool, force: bool, dry_run: bool, fmt: str) -> None:
    """Delete runs, their sub-runs, everything recorded for them and their run folders.

    RUN is a run id, a unique id prefix, or COLLECTION/NUMBER; give several to delete
    several. Asks first (--yes skips the question); a live run is refused unless --force.
    The database shrinks at the next `recordkit gc`. Python: store.delete_run(run).

    \b
    Example:
        recordkit rm demo/1 demo/2 --yes && recordkit gc
    """
    opened = open_store(store)
    with opened:
        found: dict[str, rk.Run] = {}
        for ref in run_refs:
            run = find_run(opened, ref)
            found.setdefault(run.id, run)
        plans = {run_id: opened.delete_run(run, force=force, dry_run=True) for run_id, run in found.items()}
        # A run given together with its parent is deleted with the parent: plan each run once.
        covered: set[str] = set()
        for run_id, plan in plans.items():
            covered.update(other for other in plan.run_ids if other != run_id)
        runs = [run for run_id, run in found.items() if run_id not in covered]
        rows = [_rm_row(run, plans[run.id]) for run in runs]
        total = sum(len(plans[run.id].run_ids) for run in runs)
        if fmt == "table":
            title = f"{'Would delete' if dry_run else 'About to delete'} {_count(total, 'run')}"
            columns = ["run", "name", "status", "id", "sub_runs", "records", "files"]
            print_table(_console(), make_table(columns, rows, title=title, headers={"sub_runs": "sub-runs"}))
        if dry_run:
            if fmt == "json":
                click.echo(R.json_dumps(_rm_document([plans[run.id] for run in runs], rows, dry_run=True)))
            return
        if not yes:
            click.confirm(f"Delete {_count(total, 'run')} and everything recorded for them?", abort=True, err=True)
        reports = [opened.delete_run(run, force=force) for run in progress(runs, "Deleting runs")]
    if fmt == "json":
        click.echo(R.json_dumps(_rm_document(reports, rows, dry_run=False)))
        return
    records = sum(report.rows.get("records", 0) for report in reports)
    files = sum(report.file_bytes for report in reports)
    click.echo(
        f"Deleted {_count(sum(len(r.run_ids) for r in reports), 'run')} ({_count(records, 'record')}, "
        f"{R.human_bytes(files)} of run folders). Run `recordkit gc` to shrink the database and remove "
        "attachments no run refers to any more."
    )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _rm_row(run: rk.Run, plan: rk.CleanupReport) -> dict[str, Any]:
    return {
        "run": _label(run),
        "name": run.name,
        "status": str(run.status),
        "id": run.id,
        "sub_runs": len(plan.run_ids) - 1,
        "records": plan.rows.get("records", 0),
        "files": R.human_bytes(plan.file_bytes),
    }


def _rm_document(reports: Sequence[rk.CleanupReport], rows: Sequence[Mapping[str, Any]], *, dry_run: bool) -> Any:
    rows_by_kind: dict[str, int] = {}
    for report in reports:
        for kind, count in report.rows.items():
            rows_by_kind[kind] = rows_by_kind.get(kind, 0) + count
    return {
        "dry_run": dry_run,
        "runs": [{key: row[key] for key in ("run", "name", "status", "id")} for row in rows],
        "run_ids": [run_id for report in reports for run_id in report.run_ids],
        "rows": rows_by_kind,
        "folders": [folder for report in reports for folder in report.folders],
        "file_bytes": sum(report.file_bytes for report in reports),
    }


@main.command("gc")
@store_option
@click.option("--dry-run", is_flag=True, help="Report what would be removed and reclaimed; change nothing.")
@format_option("table", "json")
def gc(store: str | None, dry_run: bool, fmt: str) -> None:
    """Remove what no run refers to any more and report the bytes reclaimed.

    Removes database rows whose run is gone, run folders without a run and blobs no file
    refers to, then compacts the database. --dry-run changes nothing and reports what a
    real run would remove and reclaim. Python: store.gc(dry_run=...).

    \b
    Example:
        recordkit gc --dry-run
    """
    opened = open_store(store)
    with opened, spinner("Collecting garbage and compacting the database…"):
        report = opened.gc(dry_run=dry_run)
    if fmt == "json":
        document = report.to_dict()
        del document["run_ids"]
        click.echo(R.json_dumps(document))
        return
    rows = R.gc_rows(report)
    title = "Dry run: nothing changed; gc would remove" if dry_run else "Removed"
    print_table(_console(), make_table(["removed", "count", "bytes"], rows, title=title))
    verb = "Would reclaim" if dry_run else "Reclaimed"
    click.echo(f"{verb} {R.human_bytes(report.bytes_reclaimed)} ({report.bytes_reclaimed:,} bytes).")


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


@main.command("sync")
@click.argument("source", metavar="SRC")
@click.argument("destination", metavar="DST")
@click.option("--files", "files", metavar="DIR", default=None, help="Run folders of DST when it is a PostgreSQL URL.")
@click.option("--collection", "-c", "collections", multiple=True, help="Only this collection (repeatable).")
def sync(source: str, destination: str, files: str | None, collections: tuple[str, ...]) -> None:
    """Copy runs, records and run folders from SRC into DST; safe to repeat or interrupt.

    SRC and DST are store folders or postgresql:// URLs. Each record lands exactly once,
    even while a run in SRC is still writing. Python: store.sync_to(other).

    \b
    Example:
        recordkit sync records postgresql://db.lab/runs --files /shared/runs
    """
    src = rk.open(source, create=False)
    dst = rk.open(destination, files=files)
    try:
        report = src.sync_to(dst, collections=list(collections) or None)
    finally:
        src.close()
        dst.close()
    click.echo(f"{src.url} -> {dst.url}: {report}")


main.add_command(__import__("recordkit.ui.command", fromlist=["ui"]).ui)  # the web page (issue 15)

if __name__ == "__main__":  # pragma: no cover
    main()
