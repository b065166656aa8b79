"""Pure helpers both engines share: the records-table registry, the per-batch summary fold, the end of
an aggregate, and decoding rows of the events, files and links tables. No engine calls in here."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from recordkit import _values as V
from recordkit.backends.base import EventRow, FileRow, LinkRow

NONE_TYPE = type(None)
NUM_TYPES = frozenset({float, int})
STR_TYPES = {str}

# The columns the read methods select, in the order the row builders below expect.
EVENT_COLUMNS = "seq, run_id, name, time, step, duration, data"
FILE_COLUMNS = "seq, run_id, name, kind, time, step, size, sha256, path, mtime, meta, removed"
LINK_COLUMNS = "seq, source_id, target_id, relation, time, data"


class Table:
    """A records table: its key → column registry, mirrored from ``record_columns``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cols: dict[str, str] = {}  # key -> column name
        self.kinds: dict[str, str | None] = {}
        self.order: list[str] = []  # keys in column order (c0, c1, ...)
        self.order_index: dict[str, int] = {}

    def add(self, key: str, col: str, kind: str | None) -> None:
        self.cols[key] = col
        # Interned so the writer's hot loop can compare kinds with `is`.
        self.kinds[key] = None if kind is None else sys.intern(kind)
        self.order_index[key] = len(self.order)
        self.order.append(key)


def stat(stats: dict[tuple[str, str], list[Any]], run_id: str, key: str, value: Any, step: int, seq: int) -> None:
    """Fold one value into the batch's summary of (run, key): [last, step, min, max, count, seq]."""
    numeric = type(value) in NUM_TYPES or type(value) is bool
    low = high = float(value) if numeric and value == value else None
    merge_stat(stats, run_id, key, [value, step, low, high, 1, seq])


def merge_stat(stats: dict[tuple[str, str], list[Any]], run_id: str, key: str, new: list[Any]) -> None:
    """Fold a partial summary ``[last, step, min, max, count, seq]`` into the batch's summary of (run, key)."""
    old = stats.get((run_id, key))
    if old is None:
        stats[(run_id, key)] = new
        return
    if new[5] >= old[5]:
        old[0], old[1], old[5] = new[0], new[1], new[5]
    for i, pick in ((2, min), (3, max)):
        if new[i] is not None:
            old[i] = new[i] if old[i] is None else pick(old[i], new[i])
    old[4] += new[4]


def finish_aggregate(function: str, count: int, total: float, low: Any, high: Any) -> Any:
    """The value of ``function`` from the count, sum, min and max an engine computed."""
    if function == "count":
        return count
    if function == "sum":
        return total
    if function in ("avg", "mean"):
        return total / count if count else None
    if function == "min":
        return low
    if function == "max":
        return high
    raise ValueError(f"unknown aggregate {function!r}; use count, sum, avg, min or max")


def event_row(r: Sequence[Any]) -> EventRow:
    """An EventRow from a row of ``EVENT_COLUMNS``."""
    return EventRow(r[0], r[1], r[2], r[3], r[4], r[5], V.loads(r[6]))


def file_row(r: Sequence[Any]) -> FileRow:
    """A FileRow from a row of ``FILE_COLUMNS``."""
    return FileRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], V.loads(r[10]), r[11])


def link_row(r: Sequence[Any]) -> LinkRow:
    """A LinkRow from a row of ``LINK_COLUMNS``."""
    return LinkRow(r[0], r[1], r[2], r[3], r[4], V.loads(r[5]))
