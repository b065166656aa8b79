"""The ``recordkit`` command: each command is a thin twin of one Python method.

==========================  ====================================================================
command                     Python
==========================  ====================================================================
``recordkit demo``          ``recordkit._demo.run_demo(path)``
``recordkit ls``            ``store.run_table(where=…, sort=…, limit=…)`` (or a collection's)
``recordkit show RUN``      ``store.run(id_or_prefix)`` / ``store.collection(name).run(number)``
``recordkit events RUN``    ``run.events`` / ``run.events.under(prefix)``
``recordkit records``       ``store.collection(name).records.where(key=value)``
``recordkit diff A B``      two runs' ``config``, ``env`` and ``summary()``
``recordkit rm RUN…``       ``store.delete_run(run, force=…, dry_run=…)``
``recordkit tag RUN TAG…``  ``run.edit(add_tags=[…], remove_tags=[…])``
``recordkit edit RUN``      ``run.edit(name=…, notes=…)`` (``run.name = …``, ``run.notes = …``)
``recordkit gc``            ``store.gc(dry_run=…)``
``recordkit sql QUERY``     ``store.sql(query, params)``
``recordkit export``        ``store.export(out, format=...)`` / ``store.export_parquet(out)``
``recordkit plot RUN KEY``  ``run.plot(keys, by=..., path=...)``
``recordkit sync SRC DST``  ``rk.open(SRC).sync_to(rk.open(DST))``
==========================  ====================================================================

The package, one job a module:

* ``runs``: ls, show, events, diff, rm; ``edit``: tag, edit; ``records``: records, sql, export, plot; ``store``: demo,
  gc, sync (the commands);
* ``options``: the shared options (``--store``, ``--format``, ``--where``…) and how run and store
  arguments are resolved;
* ``rows`` (what a command shows, as rows of raw values), ``formatting`` (values and tables as
  text) and ``output`` (printing: rich tables, CSV, JSON, progress on stderr). The CSV and JSON text
  of a value is :mod:`recordkit._formats`, shared with the library.

Any :class:`recordkit.RecordkitError` becomes one line on stderr (``Error: …``) and exit status 1;
a usage error (unknown option, bad number) exits with 2.

Nothing in the library imports this package, so ``import recordkit`` never loads click or rich; and
rich is imported only when a command prints with it, so ``recordkit --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

import click

import recordkit as rk
from recordkit.cli import edit, records, runs, store
from recordkit.ui.command import ui


class _Group(click.Group):
    """A click group that turns every RecordkitError into one clean line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except rk.RecordkitError as exc:
            message = " ".join(str(exc).split("\n")).strip() or type(exc).__name__
            raise click.ClickException(message) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(rk.__version__, "--version", "-V", prog_name="recordkit")
def main() -> None:
    """Record everything about machine-learning experiments; query them all as one flat table.

    Every command reads the store given by --store (default: $RECORDKIT_STORE, else ./records).

    \b
    Example:
        recordkit demo && recordkit ls --sort -phase=eval/acc
    """


for _command in (
    runs.ls,
    runs.show,
    runs.events,
    runs.diff,
    runs.rm,
    edit.tag,
    edit.edit,
    records.records,
    records.sql,
    records.export,
    records.plot,
    store.demo,
    store.gc,
    store.sync,
    ui,  # the local web page (docs/ui.md)
):
    main.add_command(_command)
del _command

__all__ = ["main"]
