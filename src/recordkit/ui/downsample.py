"""Draw-time downsampling of a series: M4 (first, min, max and last point of each pixel column).

A line drawn through the M4 points of each pixel column is the same picture as the line through every
point (Jugel et al., "M4: a visualization-oriented time series data aggregation", VLDB 2014), so a
million points become at most ``4 × width`` without losing a spike. Pure numpy, no I/O.

>>> import numpy as np
>>> x = np.arange(1_000_000, dtype=float)
>>> xs, ys, raw = m4(x, np.sin(x / 1000), width=800)
>>> len(xs) <= 4 * 800, raw
(True, False)
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: A range holding at most this many points per pixel column is sent as it is (raw points).
RAW_PER_PIXEL = 2


def window(x: Any, lo: float | None, hi: float | None) -> tuple[int, int]:
    """``[start, stop)`` of the points of sorted ``x`` inside ``[lo, hi]``, plus one neighbour on each
    side, so that a zoomed line still runs to the edges of the plot."""
    start = 0 if lo is None else max(int(np.searchsorted(x, lo, side="left")) - 1, 0)
    stop = len(x) if hi is None else min(int(np.searchsorted(x, hi, side="right")) + 1, len(x))
    return start, max(start, stop)


def m4(
    x: Any, y: Any, width: int, lo: float | None = None, hi: float | None = None
) -> tuple[Any, Any, bool]:
    """The points of ``(x, y)`` to draw in ``width`` pixel columns over ``[lo, hi]``: ``(xs, ys, raw)``.

    ``x`` is sorted ascending (float64); ``y`` is float64 and may hold NaN (a gap: it is kept where it
    is the only value of its column, else skipped by min/max). ``raw`` is True when the range held few
    enough points to send every one of them.
    """
    width = max(int(width), 1)
    start, stop = window(x, lo, hi)
    xs, ys = x[start:stop], y[start:stop]
    if len(xs) <= RAW_PER_PIXEL * width:
        return xs, ys, True
    first, last = float(xs[0]), float(xs[-1])
    span = last - first
    if span <= 0:  # every point at one x: its extremes are the picture
        keep = _extremes(ys, np.array([0]))
        return xs[keep], ys[keep], False
    column = np.minimum(((xs - first) * (width / span)).astype(np.int64), width - 1)
    starts = np.flatnonzero(np.concatenate(([True], column[1:] != column[:-1])))
    keep = _extremes(ys, starts)
    return xs[keep], ys[keep], False


def _extremes(ys: Any, starts: Any) -> Any:
    """Sorted indexes of the first, last, min and max point of each run ``starts[i]:starts[i+1]``."""
    n = len(ys)
    ends = np.append(starts[1:], n) - 1
    parts = [starts, ends]
    finite = ~np.isnan(ys)
    if finite.any():
        # A column's min/max ignore NaN; an all-NaN column keeps only its first and last point.
        low = np.where(finite, ys, np.inf)
        high = np.where(finite, ys, -np.inf)
        segment = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n)))
        for values, reduce in ((low, np.minimum), (high, np.maximum)):
            best = reduce.reduceat(values, starts)
            hits = np.flatnonzero((values == best[segment]) & finite)
            first_hit = np.concatenate(([True], segment[hits][1:] != segment[hits][:-1]))
            parts.append(hits[first_hit])
    return np.unique(np.concatenate(parts))

