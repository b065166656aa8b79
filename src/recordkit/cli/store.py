"""Commands about a whole store: ``demo`` fills one, ``gc`` tidies one, ``sync`` copies one into another."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import click

import recordkit as rk
from recordkit._formats import json_dumps
from recordkit.cli import options
from recordkit.cli.formatting import human_bytes
from recordkit.cli.output import make_console, make_table, print_table, spinner
from recordkit.cli.rows import gc_rows, run_row


@click.command("demo")
@click.argument("path", required=False, metavar="[STORE]")
@options.store_option
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
    rows = [run_row(run) for run in recorded]
    # The held-out series by their labels: a bare "loss" names two series (train and eval) and shows nothing.
    columns = ["number", "name", "status", "config.lr", "phase=eval/loss", "phase=eval/acc", "duration"]
    print_table(make_console(), make_table(columns, rows, title="Runs (last held-out evaluation)"))
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


def _shell_store(store: rk.Store, given: str | None) -> str:
    """`` --store PATH`` for a hint, or nothing when the default would find the same store."""
    if given is None and "RECORDKIT_STORE" not in os.environ:
        return ""
    return f" --store {shlex.quote(str(_where(store)))}"


def _where(store: rk.Store) -> Path | str:
    return store.path.resolve() if store.path is not None else store.url


@click.command("gc")
@options.store_option
@click.option("--dry-run", is_flag=True, help="Report what would be removed and reclaimed; change nothing.")
@options.format_option("table", "json")
def gc(store: str | None, dry_run: bool, fmt: str) -> None:
    """Remove what no run refers to any more and report the bytes reclaimed.

    Removes database rows whose run is gone, run folders without a run, blobs no file
    refers to and stray files killed processes left in run folders (temp files of saves
    and seals, deleted checkpoints), then compacts the database. --dry-run changes nothing and reports what a
    real run would remove and reclaim. Python: store.gc(dry_run=...).

    \b
    Example:
        recordkit gc --dry-run
    """
    opened = options.open_store(store)
    with opened, spinner("Collecting garbage and compacting the database…"):
        report = opened.gc(dry_run=dry_run)
    if fmt == "json":
        document = report.to_dict()
        del document["run_ids"]
        click.echo(json_dumps(document))
        return
    rows = gc_rows(report)
    title = "Dry run: nothing changed; gc would remove" if dry_run else "Removed"
    print_table(make_console(), make_table(["removed", "count", "bytes"], rows, title=title))
    verb = "Would reclaim" if dry_run else "Reclaimed"
    click.echo(f"{verb} {human_bytes(report.bytes_reclaimed)} ({report.bytes_reclaimed:,} bytes).")


@click.command("sync")
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
