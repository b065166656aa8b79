"""Shared helpers: results, percentiles, timer overhead, temporary stores."""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


@dataclasses.dataclass
class Result:
    """One line of the results table.

    ``ratio`` is always ``value / floor`` in the metric's own unit: for a latency, 3.0 means three times
    slower than the floor; for a rate, 0.8 means 80 % of the floor's rate.
    """

    bench: str
    metric: str
    value: float
    unit: str
    floor: float | None = None
    floor_label: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""
    #: Shown instead of the formatted value when set (e.g. "none" for a list of offending modules).
    display: str = ""

    @property
    def ratio(self) -> float | None:
        if self.floor is None or self.floor <= 0:
            return None
        return self.value / self.floor

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        return cls(**data)


def say(message: str) -> None:
    """Progress goes to stderr so that it never mixes with the results."""
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, nearest-rank."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def timer_overhead_ns(samples: int = 200_000) -> list[int]:
    """Raw durations of an empty ``perf_counter_ns()`` pair, timed exactly like the benchmarked calls."""
    pc = time.perf_counter_ns
    out = [0] * samples
    for i in range(samples):
        t0 = pc()
        t1 = pc()
        out[i] = t1 - t0
    return out


@contextmanager
def temp_dir(prefix: str) -> Iterator[str]:
    path = tempfile.mkdtemp(prefix=f"recordkit-bench-{prefix}-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def file_size(path: str) -> int:
    return os.path.getsize(path) if os.path.exists(path) else 0


def checkpoint(db_path: str) -> int:
    """Fold the WAL into the database with a separate connection; return the database file's size."""
    import sqlite3

    conn = sqlite3.connect(db_path, timeout=60)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.close()
    return file_size(db_path)


def fmt_number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    if unit in ("rec/s",):
        return f"{value:,.0f}"
    magnitude = abs(value)
    if magnitude >= 1000:
        text = f"{value:,.0f}"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return text


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    return f"{fmt_number(value, unit)} {unit}".strip()


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "–"
    if ratio >= 100:
        return f"{ratio:,.0f}×"
    if ratio >= 10:
        return f"{ratio:.1f}×"
    return f"{ratio:.2f}×"


def fmt_met(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: ""}[met]
