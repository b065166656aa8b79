"""Request parameters → library calls → JSON-able answers. No query logic of its own.

Every answer is built from the public read API (``store.run_table``, ``run.series``, ``run.events``,
``run.files``…); this module only translates what a request asks for into those calls (a filter text
``acc>0.9`` is read by the library's one parser, ``read/where.py``, as ``recordkit ls --where`` reads
it), pages and trims their results, and makes the values JSON-safe. Parameters are data, never code
or SQL: a filter's value is parsed as JSON or kept as text, and the library binds every SQL value.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import recordkit as rk
from recordkit.read.where import parse_where
from recordkit.ui.downsample import m4

#: Most rows one page of the runs table may ask for.
MAX_PAGE = 500
#: Seconds a computed run table is reused for the same question (paging through 10,000 runs reads once).
TABLE_TTL = 5.0
#: Points kept in the series cache, all series together (about 32 bytes each).
CACHE_POINTS = 20_000_000
#: Widest drawing a series request may ask for, in pixel columns.
MAX_WIDTH = 8000
#: Events one request returns at most.
MAX_EVENTS = 1000
#: Largest git diff shown inline.
MAX_DIFF = 2_000_000

IDENTITY = ("collection", "number", "error_number", "id", "name", "status", "start", "duration", "end", "tags",
            "parent_id")
X_AXES = ("step", "time", "epoch")


class BadRequest(ValueError):
    """A request parameter that cannot be understood; the message says what to send instead."""


# --- plain values ----------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """``value`` as strict JSON: NaN and infinities as the texts ``"NaN"``, ``"Infinity"``, ``"-Infinity"``,
    datetimes as ISO text, tuples as lists, anything else unknown as its ``str``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return str(value)


# --- the runs table ---------------------------------------------------------------------------------


def runs_where(
    *, status: str | None, search: str | None, tag: str | None, top_level: bool, filters: Sequence[str]
) -> dict[str, Any]:
    """The ``where`` dict of a runs-table request: equalities for the library, tests for the columns."""
    where: dict[str, Any] = {}
    if status:
        where["status"] = status
    if tag:
        where["tag"] = tag
    if top_level:
        where["parent_id"] = None
    if search:
        needle = search.lower()
        where["name"] = lambda name: name is not None and needle in name.lower()
    for expression in filters:
        # The library's one grammar (read/where.py), as `recordkit ls --where` reads it: = is equality on
        # run fields, tags and config; > >= < <= != ~ test any column, metrics included.
        try:
            ((column, condition),) = parse_where([expression.strip()]).items()
        except rk.QueryError as exc:
            raise BadRequest(str(exc)) from None
        if column in where:
            raise BadRequest(f"column {column!r} is filtered twice; keep one condition per column")
        where[column] = condition
    return where


class RunTables:
    """Run tables computed by ``run_table`` and kept :data:`TABLE_TTL` seconds per question."""

    def __init__(self, store: rk.Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[Any, ...], tuple[float, list[dict[str, Any]]]] = OrderedDict()

    def collections(self) -> list[dict[str, Any]]:
        """Each collection's name and number of runs (kept as long as a table)."""
        now = time.monotonic()
        with self._lock:
            kept = self._kept.get(("collections",))
            if kept is not None and now - kept[0] < TABLE_TTL:
                return kept[1]
        found = [{"name": c.name, "runs": len(c)} for c in self.store.collections()]
        with self._lock:
            self._kept[("collections",)] = (now, found)
        return found

    def rows(self, collection: str | None, where: Mapping[str, Any], sort: str | None, key: tuple[Any, ...],
             fresh: bool = False) -> list[dict[str, Any]]:
        now = time.monotonic()
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and now - kept[0] < TABLE_TTL and not fresh:
                return kept[1]
        source = self.store.collection(collection) if collection else self.store
        rows = source.run_table(where=dict(where), sort=sort or None)
        with self._lock:
            self._kept[key] = (now, rows)
            while len(self._kept) > 8:
                self._kept.popitem(last=False)
        return rows


def runs_page(
    tables: RunTables,
    *,
    collection: str | None = None,
    status: str | None = None,
    search: str | None = None,
    tag: str | None = None,
    top_level: bool = False,
    filters: Sequence[str] = (),
    sort: str | None = None,
    offset: int = 0,
    limit: int = 50,
    columns: Sequence[str] | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    """One page of the runs table, with the total and every column the matching runs have."""
    if not 0 < limit <= MAX_PAGE:
        raise BadRequest(f"limit is 1 to {MAX_PAGE} rows, not {limit}")
    if offset < 0:
        raise BadRequest(f"offset is 0 or more, not {offset}")
    where = runs_where(status=status, search=search, tag=tag, top_level=top_level, filters=filters)
    key = (collection, status, search, tag, top_level, tuple(filters), sort)
    rows = tables.rows(collection, where, sort, key, fresh=fresh)
    available: dict[str, None] = dict.fromkeys(IDENTITY)
    for row in rows:
        available.update(dict.fromkeys(row))
    page = rows[offset:offset + limit]
    chosen = set(IDENTITY) | set(columns if columns is not None else available)
    return {
        "total": len(rows),
        "offset": offset,
        "limit": limit,
        "columns": list(available),
        "rows": [{k: plain(v) for k, v in row.items() if k in chosen} for row in page],
    }


def live_rows(store: rk.Store, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Status, counters and latest values of a few runs (the visible running ones), read one by one."""
    out = []
    for run_id in run_ids[:MAX_PAGE]:
        try:
            run = store.run(run_id)
        except rk.RunNotFoundError:
            continue
        row: dict[str, Any] = {"id": run.id, "status": str(run.status), "step": run.step, "end": run.end_time,
                               "duration": run.duration}
        for key, summary in run.summary().items():
            row.setdefault(key if key not in IDENTITY else f"metric.{key}", summary["last"])
        out.append(plain(row))
    return out


# --- one run ---------------------------------------------------------------------------------------


def run_brief(run: rk.Run) -> dict[str, Any]:
    return {"id": run.id, "collection": run.collection.name, "number": run.number, "name": run.name,
            "status": str(run.status), "kind": run.kind}


def run_detail(run: rk.Run) -> dict[str, Any]:
    """Everything the run page shows, but the events (asked for separately, page by page)."""
    env = dict(run.env)
    git = env.pop("git", None)
    error = run.error
    detail: dict[str, Any] = plain({
        **run_brief(run),
        "error_number": run.error_number,
        "start": run.start_time,
        "end": run.end_time,
        "duration": run.duration,
        "tags": list(run.tags),
        "parent_id": run.parent_id,
        "step": run.step,
        "epoch": run.epoch,
        "config": run.config,
        "env": env,
        "git": None if git is None else {**git, "diff_text": git_diff(run, git)},
        "summary": run.summary(),
        "keys": keys_of([run]),
        "files": [_file(f) for f in run.files],
        "checkpoints": [
            {"name": c.name, "step": c.step, "epoch": c.epoch, "mode": c.mode, "size": c.size, "sha256": c.sha256,
             "time": c.time, "metrics": c.metrics, "removed": c.removed, "file": _checkpoint_file(run, c)}
            for c in run.checkpoints(include_removed=True)
        ],
        "children": [run_brief(child) for child in run.children()],
        "parent": None if run.parent_id is None else _brief_or_id(run, run.parent_id),
        "links": [
            {"relation": link.relation, "direction": "out" if link.source_id == run.id else "in",
             "other": _brief_or_id(run, link.other(run.id)), "time": link.time, "data": link.data}
            for link in run.links()
        ],
        "error": None if error is None else dict(error),
        "events": len(run.events),
    })
    return detail


def _file(info: Any) -> dict[str, Any]:
    return {"name": info.name, "kind": info.kind, "size": info.size, "sha256": info.sha256, "step": info.step,
            "time": info.time, "removed": info.removed, "readable": info.path is not None and info.removed is None}


def _checkpoint_file(run: rk.Run, checkpoint: Any) -> str | None:
    for info in run.files:
        if info.kind == "checkpoint" and info.path == checkpoint.path:
            return str(info.name)
    return None


def _brief_or_id(run: rk.Run, other_id: str) -> dict[str, Any]:
    try:
        return run_brief(run.collection.store.run(other_id))
    except rk.RunNotFoundError:
        return {"id": other_id, "missing": True}


def git_diff(run: rk.Run, git: Mapping[str, Any]) -> str | None:
    """The stored ``git diff`` of a dirty working tree (a file in the run's folder), or None."""
    diff = git.get("diff")
    if not isinstance(diff, Mapping) or not isinstance(diff.get("file"), str):
        return None
    name = str(diff["file"])
    if run.collection.store.path is None or "/" in name or "\\" in name or name.startswith("."):
        return None  # a plain file name inside the run's folder (if the store has folders), never elsewhere
    try:
        with (run.folder / name).open("rb") as f:
            return f.read(MAX_DIFF).decode("utf-8", "replace")
    except OSError:
        return None


def run_events(run: rk.Run, *, prefix: str | None, offset: int, limit: int) -> dict[str, Any]:
    if not 0 < limit <= MAX_EVENTS or offset < 0:
        raise BadRequest(f"events come 1 to {MAX_EVENTS} at a time from offset 0 or more")
    events = run.events.under(prefix) if prefix else run.events
    chosen = events[offset:offset + limit]
    return {
        "total": len(events),
        "offset": offset,
        "events": [plain({"seq": e.seq, "name": e.name, "time": e.time, "step": e.step, "duration": e.duration,
                          "data": dict(e.data)}) for e in chosen],
    }


# --- series ----------------------------------------------------------------------------------------


class _Read:
    """One run's series of one key, as numpy columns, extended in place while the run is live."""

    def __init__(self) -> None:
        self.scopes: dict[str, dict[str, Any]] = {}  # label -> scope, seq, step, time, value arrays
        self.last_seq = -1
        self.final = False
        self.lock = threading.Lock()

    @property
    def points(self) -> int:
        return sum(len(s["seq"]) for s in self.scopes.values())


def _numeric(values: Sequence[Any]) -> Any:
    """Float64 values for drawing: numbers as they are, booleans as 0/1, anything else as a gap (NaN)."""
    try:
        return np.fromiter(values, dtype=np.float64, count=len(values))
    except (TypeError, ValueError):
        return np.array([float(v) if isinstance(v, (int, float)) else math.nan for v in values], dtype=np.float64)


class SeriesCache:
    """Series read with ``run.series`` and kept as numpy columns (least recently used dropped first).

    An ended run's series is read once; a live run's is extended with ``run.series(key, after_seq=…)``,
    so a running chart never reads a whole history twice.
    """

    def __init__(self, store: rk.Store, max_points: int = CACHE_POINTS) -> None:
        self.store = store
        self.max_points = max_points
        self._lock = threading.Lock()
        self._reads: OrderedDict[tuple[str, str], _Read] = OrderedDict()

    def get(self, run: rk.Run, key: str) -> _Read:
        with self._lock:
            read = self._reads.get((run.id, key))
            if read is None:
                read = self._reads[(run.id, key)] = _Read()
            self._reads.move_to_end((run.id, key))
        with read.lock:
            if not read.final:
                final = run.status not in (rk.RunStatus.RUNNING, rk.RunStatus.PAUSED)
                for series in run.series(key, after_seq=read.last_seq):
                    self._append(read, series)
                read.final = final
        self._evict()
        return read

    @staticmethod
    def _append(read: _Read, series: rk.Series) -> None:
        new = {"seq": np.array(series.seqs, dtype=np.int64), "step": np.array(series.steps, dtype=np.float64),
               "time": np.array(series.times, dtype=np.float64), "value": _numeric(series.values)}
        have = read.scopes.get(series.label)
        if have is None:
            read.scopes[series.label] = {"label": series.label, "scope": plain(series.scope), **new}
        else:
            for name, column in new.items():
                have[name] = np.concatenate([have[name], column])
        read.last_seq = max(read.last_seq, int(new["seq"][-1]))

    def _evict(self) -> None:
        with self._lock:
            total = sum(read.points for read in self._reads.values())
            while total > self.max_points and len(self._reads) > 1:
                _, dropped = self._reads.popitem(last=False)
                total -= dropped.points


def _epochs(cache: SeriesCache, run: rk.Run) -> tuple[Any, Any] | None:
    """(steps, epochs) of the run's ``epoch`` key, all scopes together, sorted by step; None without one."""
    read = cache.get(run, "epoch")
    if not read.scopes:
        return None
    steps = np.concatenate([s["step"] for s in read.scopes.values()])
    epochs = np.concatenate([s["value"] for s in read.scopes.values()])
    order = np.argsort(steps, kind="stable")
    return steps[order], epochs[order]


def series_for(
    cache: SeriesCache,
    runs: Sequence[rk.Run],
    key: str,
    *,
    x: str = "step",
    width: int = 1000,
    lo: float | None = None,
    hi: float | None = None,
    after: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Each run's series of ``key`` (one per scope), downsampled to ``width`` pixel columns over ``[lo, hi]``.

    With ``after`` (run id → sequence number), only the points logged since are sent, raw unless there
    are more than the width holds: the answer a live chart appends to what it has. Against ``epoch``,
    a run that logged no ``epoch`` key is left out and named in ``skipped``.
    """
    if x not in X_AXES:
        raise BadRequest(f"x is one of {', '.join(X_AXES)}, not {x!r}")
    if not 0 < width <= MAX_WIDTH:
        raise BadRequest(f"width is 1 to {MAX_WIDTH} pixel columns, not {width}")
    out, skipped = [], []
    for run in runs:
        read = cache.get(run, key)
        since = None if after is None else after.get(run.id)
        epochs = _epochs(cache, run) if x == "epoch" and read.scopes else None
        if x == "epoch" and read.scopes and epochs is None:
            skipped.append({"run": run.id, "reason": f"run {run.name or run.id} logged no 'epoch' key"})
            continue
        with read.lock:  # a live run's arrays are replaced as it grows: take one consistent view
            scopes = [dict(s) for s in read.scopes.values()]
        for s in scopes:
            seq, steps, times, values = s["seq"], s["step"], s["time"], s["value"]
            if since is not None:
                cut = int(np.searchsorted(seq, since, side="right"))
                seq, steps, times, values = seq[cut:], steps[cut:], times[cut:], values[cut:]
            if x == "step":
                xs = steps
            elif x == "time":
                xs = times - run.start_time
            else:
                assert epochs is not None
                at = np.searchsorted(epochs[0], steps, side="right") - 1
                xs = np.where(at >= 0, epochs[1][np.maximum(at, 0)], np.nan)
                known = ~np.isnan(xs)  # points logged before the first epoch have no epoch to sit at
                xs, values = xs[known], values[known]
            ordered = bool(np.all(xs[1:] >= xs[:-1])) if len(xs) > 1 else True
            if not ordered:
                order = np.argsort(xs, kind="stable")
                xs, values = xs[order], values[order]
            drawn_x, drawn_y, raw = m4(xs, values, width, lo, hi)
            out.append({
                "run": run.id,
                "label": s["label"],
                "scope": s["scope"],
                "points": len(s["seq"]),
                "raw": raw,
                "last_seq": int(s["seq"][-1]) if len(s["seq"]) else -1,
                "x": [_number(v) for v in drawn_x.tolist()],
                "y": [_number(v) for v in drawn_y.tolist()],
            })
    return {"key": key, "x_axis": x, "series": out, "skipped": skipped,
            "live": [run.id for run in runs if run.status in (rk.RunStatus.RUNNING, rk.RunStatus.PAUSED)]}


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def keys_of(runs: Sequence[rk.Run]) -> list[str]:
    """Every key the runs logged (bare keys, from their summaries: nothing is scanned), first seen first.

    A key is a chart; each of its series (``phase=train/loss``, ``phase=eval/loss``) is a line on it.
    """
    if not runs:
        return []
    return list(runs[0]._store.backend.keys([run.id for run in runs]))
