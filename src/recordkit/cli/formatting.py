"""Values as a table shows them, and tables laid out as text: pure functions, no I/O.

Nothing here prints, opens a store or imports click or rich. A table cell is
:func:`display_cell` (local times, short durations, floats to 6 significant digits); past
``output.RICH_ROW_LIMIT`` rows, :func:`plain_table` lays a table out as rich would, without colours.
The CSV and JSON text of a value is :mod:`recordkit._formats`, shared with the rest of the library.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from recordkit._formats import plain_text

#: Columns of a run row holding seconds since the epoch, and durations in seconds.
RUN_TIME_COLUMNS = frozenset({"start", "end"})
RUN_DURATION_COLUMNS = frozenset({"duration"})
#: The same for flat records.
RECORD_TIME_COLUMNS = frozenset({"time", "experiment_start_time", "experiment_end_time"})
RECORD_DURATION_COLUMNS = frozenset({"experiment_duration"})
#: The same for a run's events (and its files and links, which carry a time too).
EVENT_TIME_COLUMNS = frozenset({"time"})
EVENT_DURATION_COLUMNS = frozenset({"duration"})


# --- one value -----------------------------------------------------------------------------------


def human_bytes(count: int) -> str:
    """``512`` → ``"512 B"``, ``4096`` → ``"4.1 kB"``, ``3_500_000`` → ``"3.5 MB"`` (powers of 1000)."""
    if count < 1000:
        return f"{count} B"
    value = float(count)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 999.95 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def local_time(seconds: float) -> str:
    """Local wall-clock time to the second, for tables."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))  # 2.5 times faster than datetime


def short_duration(seconds: float) -> str:
    """``0.42`` → ``"0.42s"``, ``75`` → ``"1m15s"``, ``7300`` → ``"2h01m"``."""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def display_cell(
    column: str,
    value: Any,
    *,
    times: frozenset[str] = RUN_TIME_COLUMNS,
    durations: frozenset[str] = RUN_DURATION_COLUMNS,
) -> str:
    """A value as a table shows it: local times, short durations, floats to 6 significant digits."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if column in times:
            return local_time(value)
        if column in durations:
            return short_duration(value)
        if isinstance(value, float):
            return f"{value:.6g}"
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return plain_text(value)


def display_column(
    column: str,
    values: Iterable[Any],
    *,
    times: frozenset[str] = RUN_TIME_COLUMNS,
    durations: frozenset[str] = RUN_DURATION_COLUMNS,
) -> list[str]:
    """:func:`display_cell` for every value of one column, with the common cases inlined."""
    special = column in times or column in durations
    out = []
    for value in values:
        kind = type(value)
        if kind is str:
            out.append(value)
        elif value is None:
            out.append("")
        elif kind is float and not special:
            out.append(f"{value:.6g}")
        elif kind is int and not special:
            out.append(str(value))
        else:
            out.append(display_cell(column, value, times=times, durations=durations))
    return out


def fit(text: str, width: int) -> str:
    """``text`` on one line of at most ``width`` terminal cells: line breaks shown as ``↵``, and
    the end cut off with ``…`` when too long (a 10 MB metric must not print 10 MB into a table).

    Examples
    --------
    >>> fit("a\nb", 10), fit("abcdefghij", 6)
    ('a↵b', 'abcde…')
    """
    one_line = "\n" not in text and "\r" not in text
    if len(text) <= width and one_line and (text.isascii() or text_width(text) <= width):
        return text
    limit = width * 2 + 2  # a cell holds at most this many characters (combining marks take none)
    head = text[:limit].replace("\r\n", "↵").replace("\n", "↵").replace("\r", "↵")
    if len(text) <= limit and text_width(head) <= width:
        return head
    out, used = [], 0
    for ch in head:
        cells = text_width(ch)
        if used + cells > width - 1:
            break
        out.append(ch)
        used += cells
    return "".join(out) + "…"


# --- a table -------------------------------------------------------------------------------------


def right_aligned(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[bool]:
    """Per column: True when every value present is a number (a table right-aligns those)."""
    flags = []
    for column in columns:
        kinds = {type(row.get(column)) for row in rows}
        kinds.discard(type(None))
        flags.append(bool(kinds) and kinds <= _NUMBER_TYPES)
    return flags


_NUMBER_TYPES = frozenset({int, float})


def text_width(text: str) -> int:
    """Terminal cells ``text`` takes: wide East Asian characters count 2, combining marks 0."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad_column(texts: Sequence[str], width: int, flush_right: bool) -> list[str]:
    if "".join(texts).isascii():  # the usual case: str.rjust/ljust do it in C
        return [t.rjust(width) for t in texts] if flush_right else [t.ljust(width) for t in texts]
    padded = []
    for text in texts:
        pad = " " * (width - text_width(text))
        padded.append(pad + text if flush_right else text + pad)
    return padded


def plain_table(headers: Sequence[str], cells: Sequence[Sequence[str]], right: Sequence[bool]) -> Iterator[str]:
    """Lines of a table laid out as the CLI's rich tables are (header, rule, rows; 3 spaces apart).

    Used for tables too long for rich to lay out quickly; the text is the same, only colours are lost.
    Work is done a column at a time (10,000 runs lay out in a few milliseconds).
    """
    columns = []
    widths = []
    for i, header in enumerate(headers):
        texts = [header, *(row[i] for row in cells)]
        width = max(map(len, texts)) if "".join(texts).isascii() else max(map(text_width, texts))
        widths.append(width)
        columns.append(_pad_column(texts, width, right[i]))
    lines = ["   ".join(parts) for parts in zip(*columns, strict=True)] if columns else [""] * (len(cells) + 1)
    yield lines[0]
    yield "─" * (sum(widths) + 3 * (len(widths) - 1))
    yield from lines[1:]
