"""Commands that change a run afterwards: ``tag`` and ``edit`` (name, tags, notes; never records).

Both are thin twins of :meth:`recordkit.Run.edit`. ``tag`` reads ``+best`` as "add best" and
``-old`` as "remove old"; a word such as ``-old`` would otherwise be taken for a short option, so
:class:`TagCommand` sets such words apart before click parses the options.
"""

from __future__ import annotations

from typing import Any

import click

from recordkit._formats import json_dumps
from recordkit.cli import options

# Options of `tag` that are spelled with one dash (a word equal to one of these is the option).
_SHORT_OPTIONS = frozenset({"-s", "-f", "-h"})
_TAKES_A_VALUE = frozenset({"-s", "--store", "-f", "--format"})


class TagCommand(click.Command):
    """Moves tag changes (``+best``, ``-old``) behind ``--`` so click never reads them as options."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest: list[str] = []
        words: list[str] = []  # every word after RUN, in order
        expects_value = run_seen = False
        for i, arg in enumerate(args):
            if expects_value:
                rest.append(arg)
                expects_value = False
            elif arg == "--":
                words.extend(args[i + 1 :])
                break
            elif arg.startswith("-") and (arg.startswith("--") or arg in _SHORT_OPTIONS or len(arg) == 1):
                rest.append(arg)
                expects_value = arg in _TAKES_A_VALUE
            elif not run_seen and not arg.startswith(("+", "-")):
                rest.append(arg)
                run_seen = True
            else:
                words.append(arg)
        return super().parse_args(ctx, [*rest, "--", *words] if words else rest)


def split_changes(words: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """``("+best", "-old", "mlp")`` → ``(["best", "mlp"], ["old"])``: added and removed tags."""
    added: list[str] = []
    removed: list[str] = []
    for word in words:
        if word.startswith("-"):
            removed.append(word[1:])
        else:
            added.append(word[1:] if word.startswith("+") else word)
    return added, removed


@click.command("tag", cls=TagCommand)
@click.argument("run_ref", metavar="RUN")
@click.argument("words", nargs=-1, required=True, metavar="+TAG|-TAG…")
@options.store_option
@options.format_option("table", "json")
def tag(run_ref: str, words: tuple[str, ...], store: str | None, fmt: str) -> None:
    """Add (+TAG, or just TAG) and remove (-TAG) tags of a run; prints its tags after.

    RUN is a run number, COLLECTION/NUMBER, a run id or a unique id prefix. Removing a tag
    the run does not carry is no error, so a tag command can be repeated. Records are not
    touched. Python: run.edit(add_tags=[…], remove_tags=[…]).

    \b
    Example:
        recordkit tag demo/3 +best -candidate
    """
    added, removed = split_changes(words)
    opened = options.open_store(store)
    with opened:
        run = options.find_run(opened, run_ref)
        run.edit(add_tags=added, remove_tags=removed)
        _report(run, fmt)


@click.command("edit")
@click.argument("run_ref", metavar="RUN")
@options.store_option
@click.option("--name", "name", metavar="TEXT", default=None, help="The new name ('' clears it).")
@click.option("--notes", "notes", metavar="TEXT", default=None, help="The new notes ('' clears them).")
@options.format_option("table", "json")
def edit(run_ref: str, store: str | None, name: str | None, notes: str | None, fmt: str) -> None:
    """Rename a run or change its notes; prints the run's name, tags and notes after.

    RUN is a run number, COLLECTION/NUMBER, a run id or a unique id prefix. Records,
    config and numbering are not touched; flat records show the new run_name at once.
    Python: run.name = …, run.notes = … (or run.edit(name=…, notes=…)).

    \b
    Example:
        recordkit edit demo/3 --name baseline --notes "lr too high after step 3k"
    """
    if name is None and notes is None:
        raise click.UsageError("give --name and/or --notes (an empty text clears one)")
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name
    if notes is not None:
        changes["notes"] = notes
    opened = options.open_store(store)
    with opened:
        run = options.find_run(opened, run_ref)
        run.edit(**changes)
        _report(run, fmt)


def _report(run: Any, fmt: str) -> None:
    label = f"{run.collection.name}/{run.number}"
    if fmt == "json":
        click.echo(json_dumps({"id": run.id, "run": label, "name": run.name, "tags": list(run.tags),
                               "notes": run.notes}))
        return
    click.echo(f"{label} ({run.id}): name {run.name!r}, tags {', '.join(run.tags) or '(none)'}"
               + (f", notes {run.notes!r}" if run.notes else ""))
