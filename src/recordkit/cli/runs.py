"""Commands about runs: ``ls``, ``show``, ``events``, ``diff`` and ``rm``.

Each opens the store, finds the runs it was given (a number, ``COLLECTION/NUMBER``,
an id or a unique id prefix), calls one library method and prints what it returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click

import recordkit as rk
from recordkit._formats import json_dumps, json_row, json_value, thaw
from recordkit.cli import options
from recordkit.cli.formatting import (
    EVENT_DURATION_COLUMNS,
    EVENT_TIME_COLUMNS,
    RUN_DURATION_COLUMNS,
    RUN_TIME_COLUMNS,
    human_bytes,
)
from recordkit.cli.output import (
    make_console,
    make_table,
    print_table,
    progress,
    show_table,
    styled_cell,
    write_json_array,
    write_rows,
)
from recordkit.cli.rows import (
    EVENT_COLUMNS,
    LAST_EVENTS,
    attempt_rows,
    check_columns,
    checkpoint_row,
    child_row,
    diff_runs,
    env_summary,
    event_row,
    file_row,
    link_row,
    metric_rows,
    run_columns,
    run_identity,
)
from recordkit.read.listing import flatten, parse_where, series_column
from recordkit.read.summaries import summary_columns


@click.command("ls")
@options.store_argument
@options.store_option
@options.collection_option
@options.where_option
@click.option("--sort", "sort", metavar="[-]COLUMN", default=None, help="Sort by a column; '-' for descending.")
@options.limit_option
@click.option(
    "--config", "config_keys", multiple=True, metavar="KEY,…", help="Add these config values as config.KEY columns."
)
@click.option(
    "--summary",
    "summary_specs",
    multiple=True,
    metavar="FUNC(KEY[,N]),…",
    help="Add summary columns: last(KEY), min(KEY), max(KEY), mean(KEY); with ,N over the last N points.",
)
@options.columns_option
@options.format_option("table", "csv", "json")
def ls(
    store: str | None,
    collection: str | None,
    where: tuple[str, ...],
    sort: str | None,
    limit: int | None,
    config_keys: tuple[str, ...],
    summary_specs: tuple[str, ...],
    columns: tuple[str, ...],
    fmt: str,
) -> None:
    """List runs: number, error number, id, name, status, start, duration, latest metrics.

    --where matches run fields (status, name, id, number, error_number, had_error,
    collection, tag) and config values (config.lr, or just lr) with KEY=VALUE, and
    compares any column with > >= < <= != (acc>0.9, config.lr<=0.01, max(acc)>0.95,
    mean(loss,10)<0.2: the mean of the last 10 points). Crashed runs (their process
    died) show as crashed. Python: store.run_table(where=…, sort=…, limit=…, summaries=…).

    \b
    Example:
        recordkit ls --where 'acc>0.9' --where 'config.lr<=0.01' --sort '-max(acc)' --summary 'mean(acc,5)'
    """
    conditions = parse_where(where)  # a bad expression is reported before the store is opened
    chosen = options.parse_columns(columns)
    extra = options.parse_columns(summary_specs) or []
    summaries = [*extra, *summary_columns(chosen or [])]
    opened = options.open_store(store)
    source = options.find_collection(opened, collection) if collection else opened
    rows = source.run_table(where=conditions, sort=sort, limit=limit, summaries=summaries)
    if chosen is None:
        chosen = run_columns(rows, options.parse_columns(config_keys) or (), collection=collection is None)
        chosen += [name for name in extra if name not in chosen]
    elif rows:
        known = {name for row in rows for name in row}
        chosen = [c if c in known else series_column(c, known) or c for c in chosen]  # acc: its one series
        check_columns(chosen, known, "runs")
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
        times=RUN_TIME_COLUMNS,
        durations=RUN_DURATION_COLUMNS,
        machine_times=RUN_TIME_COLUMNS,
    )


@click.command("show")
@click.argument("run_ref", metavar="RUN")
@options.store_option
@options.format_option("table", "json")
def show(run_ref: str, store: str | None, fmt: str) -> None:
    """Show one run: identity, config, environment, metrics, files, checkpoints, sub-runs, links, last events, error.

    RUN is a run number, COLLECTION/NUMBER, a run id or a unique id prefix.
    Python: store.run(ID) / store.collection(NAME).run(NUMBER).

    \b
    Example:
        recordkit show demo/3
    """
    opened = options.open_store(store)
    run = options.find_run(opened, run_ref)
    identity = run_identity(run)
    identity["folder"] = str(run.folder)
    env = thaw(run.env)
    metrics = metric_rows(run)
    error = thaw(run.error)
    children = [child_row(child) for child in opened.runs(where={"parent_id": run.id})]
    files = [file_row(info) for info in run.files]
    checkpoints = [checkpoint_row(checkpoint) for checkpoint in run.checkpoints()]
    links = [link_row(link, run.id) for link in run.links()]
    events = run.events
    last_events = events[-LAST_EVENTS :]
    attempts = attempt_rows(events)  # a resumed run's earlier failures stay visible
    if fmt == "json":
        document = {
            "run": json_row(identity, times=RUN_TIME_COLUMNS),
            "config": json_value("config", run.config),
            "env_summary": env_summary(env),
            "env": json_value("env", env),
            "metrics": [json_row(row) for row in metrics],
            "children": [json_row(row, times=RUN_TIME_COLUMNS) for row in children],
            "files": [json_row(row, times=EVENT_TIME_COLUMNS) for row in files],
            "checkpoints": [json_row(row) for row in checkpoints],
            "links": [json_row(row, times=EVENT_TIME_COLUMNS) for row in links],
            "events": {"count": len(events), "last": last_events.to_dicts()},
            "error": json_value("error", error),
            "earlier_attempts": [json_row(row, times=frozenset({"resumed"})) for row in attempts],
        }
        click.echo(json_dumps(document))
        return
    from rich.table import Table
    from rich.text import Text

    console = make_console()
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    for key, value in identity.items():
        if value not in (None, []):
            header.add_row(key, styled_cell(key, value, RUN_TIME_COLUMNS, RUN_DURATION_COLUMNS))
    print_table(console, header)
    config = [{"key": k, "value": v} for k, v in flatten(run.config).items()]
    summary = [{"key": k, "value": v} for k, v in env_summary(env).items()]
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
        {**row, "size": None if row["size"] is None else human_bytes(row["size"]),
         "content": (row["sha256"] or "")[:12] if row["kind"] == "attachment" else row["path"]}
        for row in files
    ]
    shown_checkpoints = [{**row, "size": human_bytes(row["size"])} for row in checkpoints]
    times, none = EVENT_TIME_COLUMNS, frozenset[str]()
    more = [
        ("Files", ["name", "kind", "step", "size", "content"], shown_files, none, none),
        ("Checkpoints", ["name", "step", "epoch", "mode", "size", "metrics"], shown_checkpoints, none, none),
        ("Links", ["relation", "direction", "run", "time", "data"], links, times, none),
        ("Earlier attempts", ["resumed", "status", "error"], attempts, frozenset({"resumed"}), none),
        (
            f"Last events ({len(last_events)} of {len(events)}; all: recordkit events {run.id})",
            EVENT_COLUMNS,
            [event_row(event) for event in last_events],
            times,
            EVENT_DURATION_COLUMNS,
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


@click.command("events")
@click.argument("run_ref", metavar="RUN")
@options.store_option
@click.option("--under", "prefix", metavar="PREFIX", default=None, help="Only events named PREFIX or below it.")
@options.format_option("table", "json", "jsonl")
def events(run_ref: str, store: str | None, prefix: str | None, fmt: str) -> None:
    """List a run's events, oldest first (started, attached, checkpoint, your own…).

    RUN is a run number, COLLECTION/NUMBER, a run id or a unique id prefix. --under epoch/2 keeps the
    events named epoch/2 or below it (epoch/2/eval). jsonl is the format of
    run.events.to_jsonl(). Python: run.events / run.events.under(PREFIX).

    \b
    Example:
        recordkit events demo/3 --under epoch --format jsonl
    """
    opened = options.open_store(store)
    found = options.find_run(opened, run_ref).events
    if prefix is not None:
        found = found.under(prefix)
    if fmt == "jsonl":
        click.echo(found.to_jsonl(), nl=False)
    elif fmt == "json":
        write_json_array(found.to_dicts())
    else:
        rows = [event_row(event) for event in found]
        show_table(EVENT_COLUMNS, rows, times=EVENT_TIME_COLUMNS, durations=EVENT_DURATION_COLUMNS)


@click.command("diff")
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@options.store_option
@options.format_option("table", "json")
def diff(run_a: str, run_b: str, store: str | None, fmt: str) -> None:
    """Show how two runs differ: config, environment and metrics (last values).

    RUN_A and RUN_B are run numbers, COLLECTION/NUMBER, run ids or unique id prefixes. Environment
    keys that always differ (pid, free disk) are left out. Python: the runs' config,
    env and summary().

    \b
    Example:
        recordkit diff demo/1 demo/3
    """
    opened = options.open_store(store)
    a, b = options.find_run(opened, run_a), options.find_run(opened, run_b)
    rows = diff_runs(a, b)
    if fmt == "json":
        document = {
            "a": json_row(run_identity(a), times=RUN_TIME_COLUMNS),
            "b": json_row(run_identity(b), times=RUN_TIME_COLUMNS),
            "differences": [json_row(row) for row in rows],
        }
        click.echo(json_dumps(document))
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
        a_cell = styled_cell(row["key"], row["a"], frozenset(), frozenset()) if "a" in row else missing
        b_cell = styled_cell(row["key"], row["b"], frozenset(), frozenset()) if "b" in row else missing
        table.add_row(row["section"], Text(row["key"]), a_cell, b_cell)
    print_table(make_console(), table)


def _label(run: rk.Run) -> str:
    attempt = f" (attempt {run.error_number})" if run.error_number else ""
    return f"{run.collection.name}/{run.number}{attempt}"


@click.command("rm")
@click.argument("run_refs", metavar="RUN…", nargs=-1, required=True)
@options.store_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Delete live (running or paused) runs too.")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; change nothing.")
@options.format_option("table", "json")
def rm(run_refs: tuple[str, ...], store: str | None, yes: bool, force: bool, dry_run: bool, fmt: str) -> None:
    """Delete runs, their sub-runs, everything recorded for them and their run folders.

    RUN is a run number, COLLECTION/NUMBER, a run id or a unique id prefix; give several to delete
    several. Asks first (--yes skips the question); a live run is refused unless --force.
    The database shrinks at the next `recordkit gc`. Python: store.delete_run(run).

    \b
    Example:
        recordkit rm demo/1 demo/2 --yes && recordkit gc
    """
    opened = options.open_store(store)
    with opened:
        found: dict[str, rk.Run] = {}
        for ref in run_refs:
            run = options.find_run(opened, ref)
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
            print_table(make_console(), make_table(columns, rows, title=title, headers={"sub_runs": "sub-runs"}))
        if dry_run:
            if fmt == "json":
                click.echo(json_dumps(_rm_document([plans[run.id] for run in runs], rows, dry_run=True)))
            return
        if not yes:
            click.confirm(f"Delete {_count(total, 'run')} and everything recorded for them?", abort=True, err=True)
        reports = [opened.delete_run(run, force=force) for run in progress(runs, "Deleting runs")]
    if fmt == "json":
        click.echo(json_dumps(_rm_document(reports, rows, dry_run=False)))
        return
    records = sum(report.rows.get("records", 0) for report in reports)
    files = sum(report.file_bytes for report in reports)
    click.echo(
        f"Deleted {_count(sum(len(r.run_ids) for r in reports), 'run')} ({_count(records, 'record')}, "
        f"{human_bytes(files)} of run folders). Run `recordkit gc` to shrink the database and remove "
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
        "files": human_bytes(plan.file_bytes),
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
