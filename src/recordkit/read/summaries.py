"""Summary columns of a run row: ``last``, ``min``, ``max`` and ``mean`` of a metric, over all its points
or the last N.

A run row holds the last value of each metric (``acc``). Written as a function of a column, a run row
gains another: ``max(acc)``, ``min(loss)``, ``last(acc)`` (the same as ``acc``), ``mean(acc)`` (every
point) and ``mean(acc,10)`` / ``min(loss,5)`` / ``max(acc,3)`` (the last N points, in log order). They
filter (``--where 'max(acc)>0.9'``), sort (``--sort '-mean(acc,10)'``) and show (``--columns``) like
any column. ``last``, and ``min``/``max`` of every point, come from the per-run summary kept on write
(no records read); the others read the metric's points of each run asked about (only its column).
NaN and non-numbers are skipped; a run without a number for the metric gets None.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from recordkit.backends.base import Backend, KeySummary, RunRow

_SUMMARY = re.compile(r"^(last|min|max|mean)\((.+?)(?:,\s*(\d+))?\)$")


class Summary(NamedTuple):
    """A parsed summary column: ``function`` of ``column`` over the last ``points`` (None: all)."""

    function: str
    column: str
    points: int | None


def parse_summary(name: str) -> Summary | None:
    """``"mean(acc,10)"`` → ``Summary("mean", "acc", 10)``; None for a plain column name.

    Examples
    --------
    >>> parse_summary("max(acc)"), parse_summary("acc")
    (Summary(function='max', column='acc', points=None), None)
    """
    found = _SUMMARY.match(name.strip())
    if found is None:
        return None
    function, column, points = found.groups()
    count = None if points is None else int(points)
    if count is not None and (function == "last" or count < 1):
        return None
    return Summary(function, column.strip(), count)


def summary_columns(names: Iterable[str]) -> list[str]:
    """The names among ``names`` that are summary columns, once each, in order."""
    return list(dict.fromkeys(name for name in names if parse_summary(name) is not None))


def _key(column: str, stats: Mapping[str, KeySummary]) -> str | None:
    """The series a run-row column shows (``metric.step`` is the key ``step``; a bare ``acc`` its one
    series ``phase=eval/acc``), if the run has it."""
    from recordkit.backends.labels import resolve

    if column in stats:
        return column
    if column.startswith("metric.") and column[len("metric.") :] in stats:
        return column[len("metric.") :]
    return resolve(column, stats, "this run")


def _numbers(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values if type(v) in (int, float) and not (type(v) is float and math.isnan(v))]


def fill(backend: Backend, pairs: Sequence[tuple[RunRow, dict[str, Any]]], names: Sequence[str]) -> None:
    """Add the summary columns ``names`` to each run row of ``pairs`` (in place)."""
    wanted = [(name, parse_summary(name)) for name in names]
    wanted = [(name, found) for name, found in wanted if found is not None]
    if not wanted or not pairs:
        return
    from recordkit.read.records import superseded_ranges

    ids = [row.id for row, _ in pairs]
    stats = backend.summaries(ids)
    superseded = superseded_ranges(backend, ids)
    for row, table in pairs:
        run_stats = stats.get(row.id, {})
        points: dict[str, list[float]] = {}
        for name, summary in wanted:
            assert summary is not None
            key = _key(summary.column, run_stats)
            if key is None:
                table[name] = None
                continue
            if summary.points is None and summary.function != "mean":
                s = run_stats[key]
                table[name] = s.last if summary.function == "last" else (s.min if summary.function == "min" else s.max)
                continue
            if key not in points:
                points[key] = _series_numbers(backend, row.id, key, [r for r in superseded if r[0] == row.id])
            values = points[key] if summary.points is None else points[key][-summary.points :]
            if not values:
                table[name] = None
            elif summary.function == "mean":
                table[name] = math.fsum(values) / len(values)
            else:
                table[name] = min(values) if summary.function == "min" else max(values)


def _series_numbers(backend: Backend, run_id: str, label: str, superseded: list[tuple[str, int, int]]) -> list[float]:
    """The numbers of one series (``phase=eval/acc``) of a run, in log order: its scopes' points only."""
    from recordkit.backends.labels import key_of, labelled, labels_of

    key = key_of(label)
    found = backend.series(run_id, key, superseded=superseded)
    labels = labels_of(backend.scopes([run_id])) if found else {}
    ordered = sorted(  # log order
        point for scope_id, scope_points in found.items() if labelled(labels.get(scope_id, ""), key) == label
        for point in scope_points
    )
    return _numbers(point[3] for point in ordered)
