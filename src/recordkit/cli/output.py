"""Printing: rows as a rich table, CSV, a JSON array or JSON lines; spinners and progress on stderr.

A cell never holds more than one terminal line: a longer value is cut to the terminal's width with
``…`` (:func:`cell_width`), so a 10 MB string metric prints a line, not 10 MB; csv and json keep every
value whole. Rich is imported only when something is printed with it (``recordkit --help`` stays fast). Long
tables skip rich: past :data:`RICH_ROW_LIMIT` rows the same text is laid out by
:func:`recordkit.cli.formatting.plain_table`, without colours. Progress and spinners show only
when stderr is a terminal, so piped output and scripts see nothing but the data.
"""

from __future__ import annotations

import contextlib
import csv
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from recordkit._formats import csv_lines, json_array_chunks, json_dumps, json_row
from recordkit.cli.formatting import (
    RUN_DURATION_COLUMNS,
    RUN_TIME_COLUMNS,
    display_cell,
    display_column,
    fit,
    plain_table,
    right_aligned,
)
from recordkit.cli.rows import select

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

#: Longer tables are laid out without rich (same text, no colours): rich takes about 0.3 ms a row.
RICH_ROW_LIMIT = 1000

_STATUS_STYLES = {
    "finished": "green",
    "running": "cyan",
    "paused": "cyan",
    "failed": "red",
    "crashed": "red",
    "interrupted": "yellow",
}


# --- tables --------------------------------------------------------------------------------------


def cell_width() -> int:
    """The most terminal cells one table cell shows: the terminal's width (``$COLUMNS``, else 80 when
    not a terminal), at least 20."""
    import shutil

    return max(20, shutil.get_terminal_size((80, 24)).columns)



def make_console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def print_table(console: Console, table: Table) -> None:
    """Print at the table's natural width, never squeezed: cut or folded cells would hide values."""
    from rich.measure import Measurement

    natural = Measurement.get(console, console.options.update_width(1_000_000), table).maximum
    if natural > console.width:
        console.width = natural
    console.print(table)


def styled_cell(
    column: str, value: Any, times: frozenset[str], durations: frozenset[str], width: int | None = None
) -> Text:
    """A table cell: the value's display text on one line cut to ``width`` (default: :func:`cell_width`),
    coloured when it is a run status."""
    from rich.text import Text

    text = fit(display_cell(column, value, times=times, durations=durations), width or cell_width())
    style = _STATUS_STYLES.get(text, "") if column == "status" else ""
    return Text(text, style=style)  # Text, not str: brackets in values must never read as markup


def make_table(
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    times: frozenset[str] = RUN_TIME_COLUMNS,
    durations: frozenset[str] = RUN_DURATION_COLUMNS,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Table:
    from rich import box
    from rich.table import Table

    materialised = list(rows)
    table = Table(
        title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left", title_style="bold"
    )
    for column, right in zip(columns, right_aligned(columns, materialised), strict=True):
        header = (headers or {}).get(column, column)
        table.add_column(header, justify="right" if right else "left", no_wrap=True, overflow="ellipsis")
    width = cell_width()
    for row in materialised:
        table.add_row(*(styled_cell(column, row.get(column), times, durations, width) for column in columns))
    return table


def show_table(
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    times: frozenset[str] = RUN_TIME_COLUMNS,
    durations: frozenset[str] = RUN_DURATION_COLUMNS,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Print rows as a table: rich up to RICH_ROW_LIMIT rows, the same layout without colours beyond."""
    materialised = list(rows)
    if len(materialised) <= RICH_ROW_LIMIT:
        table = make_table(columns, materialised, times=times, durations=durations, headers=headers)
        print_table(make_console(), table)
        return
    names = [(headers or {}).get(column, column) for column in columns]
    width = cell_width()
    by_column = [
        [
            text if len(text) <= width and text.isascii() and text.isprintable() else fit(text, width)
            for text in display_column(column, [row.get(column) for row in materialised], times=times,
                                       durations=durations)
        ]
        for column in columns
    ]
    cells = list(zip(*by_column, strict=True)) if by_column else [() for _ in materialised]
    out = sys.stdout
    for line in plain_table(names, cells, right_aligned(columns, materialised)):
        out.write(line + "\n")


# --- every format --------------------------------------------------------------------------------


def write_json_array(objects: Iterable[Any]) -> None:
    """Objects as one JSON array on stdout, streamed (constant memory)."""
    out = sys.stdout
    for chunk in json_array_chunks(objects):
        out.write(chunk)


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
        for line in csv_lines(rows, columns, times=machine_times):
            writer.writerow(line)
    elif fmt == "json":
        write_json_array(json_row(select(r, columns), times=machine_times) for r in rows)
    else:  # jsonl
        for row in rows:
            out.write(json_dumps(json_row(select(row, columns), times=machine_times)) + "\n")


# --- on stderr, while something runs ------------------------------------------------------------


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
