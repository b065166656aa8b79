"""Pure functions that turn runs and records into rows for display: the CLI's only logic.

Nothing here prints, opens a store or imports click or rich. The CLI resolves its arguments, calls
one library method, and hands the result to these functions; tests call them with tiny stand-ins.

A *row* is a plain ``dict`` from column name to a raw value (floats stay floats, times stay seconds
since the epoch). Formatting happens last, per output format:

* ``table``: :func:`display_cell` (local times, short durations, 6 significant digits);
* ``csv``: :func:`csv_cell` (shortest exact float text, ``nan``/``inf``, ISO times in UTC);
* ``json``/``jsonl``: :func:`json_value`, strictly valid JSON; NaN and infinities use recordkit's
  tagged form ``{"$float": "nan"}`` (as in ``meta.json``), so nothing is lost.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import math
import time
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from recordkit import _values as V
from recordkit._exceptions import QueryError, RunNotFoundError
from recordkit.read.listing import (
    ALL_RUN_COLUMNS,
    MISSING,
    RUN_COLUMNS,
    flatten,
    lookup,
    make_row,
    metric_column,
    parse_value,
    parse_where,
    sort_rows,
    thaw,
)
from recordkit.read.records import RUN_FIELDS

__all__ = [  # re-exported: the CLI and its tests reach them through this module
    "ALL_RUN_COLUMNS",
    "MISSING",
    "RUN_COLUMNS",
    "flatten",
    "lookup",
    "metric_column",
    "parse_value",
    "parse_where",
    "sort_rows",
    "thaw",
]
_MISSING = MISSING

#: Columns of a run row holding seconds since the epoch, and durations in seconds.
RUN_TIME_COLUMNS = frozenset({"start", "end"})
RUN_DURATION_COLUMNS = frozenset({"duration"})
#: The same for flat records.
RECORD_TIME_COLUMNS = frozenset({"time", "experiment_start_time", "experiment_end_time"})
RECORD_DURATION_COLUMNS = frozenset({"experiment_duration"})

# Environment keys that differ between any two runs; `diff` leaves them out.
VOLATILE_ENV_KEYS = frozenset({"process.pid", "process.ppid", "hardware.disk_free", "hardware.disk_free_human"})


class RunLike(Protocol):
    """What these functions read from a run (``recordkit.Run`` has all of it)."""

    @property
    def id(self) -> str: ...
    @property
    def number(self) -> int: ...
    @property
    def error_number(self) -> int: ...
    @property
    def had_error(self) -> bool: ...
    @property
    def name(self) -> str | None: ...
    @property
    def tags(self) -> tuple[str, ...]: ...
    @property
    def status(self) -> Any: ...
    @property
    def start_time(self) -> float: ...
    @property
    def end_time(self) -> float | None: ...
    @property
    def duration(self) -> float | None: ...
    @property
    def parent_id(self) -> str | None: ...
    @property
    def config(self) -> Mapping[str, Any]: ...
    @property
    def env(self) -> Mapping[str, Any]: ...

    def summary(self) -> dict[str, dict[str, Any]]: ...


def collection_name(run: RunLike) -> str:
    """The run's collection name (``Run.collection`` is a Collection; a stand-in may give a str)."""
    collection: Any = getattr(run, "collection", None)
    return str(getattr(collection, "name", collection))


# --- plain values --------------------------------------------------------------------------------


def parse_columns(texts: Iterable[str]) -> list[str] | None:
    """``["a,b", "c"]`` → ``["a", "b", "c"]``; None when nothing was given."""
    names = [name.strip() for text in texts for name in text.split(",") if name.strip()]
    return names or None


# --- runs ----------------------------------------------------------------------------------------


def resolve_run_ref(ref: str) -> tuple[str, int] | None:
    """``"demo/3"`` → ``("demo", 3)``; None for a run id or id prefix; RunNotFoundError if malformed."""
    if "/" not in ref:
        return None
    collection, _, number = ref.rpartition("/")
    try:
        value = int(number)
    except ValueError:
        value = -1
    if not collection or value < 0:
        raise RunNotFoundError(f"{ref!r} is neither a run id nor COLLECTION/NUMBER (e.g. demo/3)")
    return collection, value


def run_row(run: RunLike) -> dict[str, Any]:
    """One run object as a run row (``Store.run_table`` gives the same rows for stored runs)."""
    identity = {
        "collection": collection_name(run),
        "number": run.number,
        "error_number": run.error_number,
        "id": run.id,
        "name": run.name,
        "status": str(run.status),
        "start": run.start_time,
        "duration": run.duration,
        "end": run.end_time,
        "tags": list(run.tags),
        "parent_id": run.parent_id,
    }
    return make_row(identity, {key: stats["last"] for key, stats in run.summary().items()}, run.config)


def run_columns(rows: Sequence[Mapping[str, Any]], config: Sequence[str] = (), *, collection: bool = True) -> list[str]:
    """Default columns of ``ls``: identity, every metric (first-seen order), the config keys asked for."""
    base = [c for c in RUN_COLUMNS if collection or c != "collection"]
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))  # every column, in first-seen order (at C speed)
    metrics = [k for k in seen if k not in ALL_RUN_COLUMNS and not k.startswith("config.")]
    wanted = [name if name.startswith("config.") else f"config.{name}" for name in config]
    return [*base, *metrics, *wanted]


def check_columns(columns: Sequence[str], known: Iterable[str], what: str) -> None:
    """Raise QueryError naming the unknown ones when ``columns`` asks for a column nobody has."""
    available = set(known)
    unknown = [c for c in columns if c not in available]
    if unknown:
        raise QueryError(
            f"unknown column(s) {', '.join(map(repr, unknown))} for {what}; known: {', '.join(sorted(available))}"
        )


def record_table_columns(columns: Sequence[str], *, collection: bool) -> list[str]:
    """Default columns of ``records`` as a table: experiment number, step, then every logged key and scope field.

    The other formats default to every column (``Records.columns()``).
    """
    hidden = {"time", "step", *RUN_FIELDS}
    lead = ["collection"] if collection else []
    return [*lead, "experiment_number", "step", *(c for c in columns if c not in hidden)]


def select(row: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    """The row restricted to ``columns``, in that order (a missing column reads as None)."""
    return {column: row.get(column) for column in columns}


# --- one run -------------------------------------------------------------------------------------


def run_identity(run: RunLike) -> dict[str, Any]:
    """The header of ``show``: who the run is, where it lives, how it ended."""
    folder = getattr(run, "folder", None)
    return {
        "id": run.id,
        "collection": collection_name(run),
        "number": run.number,
        "error_number": run.error_number,
        "name": run.name,
        "status": str(run.status),
        "start": run.start_time,
        "end": run.end_time,
        "duration": run.duration,
        "tags": list(run.tags),
        "parent_id": run.parent_id,
        "folder": None if folder is None else str(folder),
    }


def child_row(run: RunLike) -> dict[str, Any]:
    """A sub-run as ``show`` lists it."""
    return {
        "number": run.number,
        "name": run.name,
        "status": str(run.status),
        "id": run.id,
        "start": run.start_time,
        "duration": run.duration,
    }


#: How many of a run's latest events ``show`` lists (``recordkit events RUN`` lists them all).
LAST_EVENTS = 10
#: Columns of a run's events as tables list them.
EVENT_COLUMNS = ["time", "step", "name", "duration", "data"]
EVENT_TIME_COLUMNS = frozenset({"time"})
EVENT_DURATION_COLUMNS = frozenset({"duration"})


def file_row(info: Any) -> dict[str, Any]:
    """A file of the run (``run.files``) as ``show`` lists it: where its content is, its size and hash."""
    return {
        "name": info.name,
        "kind": info.kind,
        "step": info.step,
        "size": info.size,
        "sha256": info.sha256,
        "path": None if info.path is None else str(info.path),
        "time": info.time,
    }


def link_row(link: Any, run_id: str) -> dict[str, Any]:
    """A link from or to the run (``run.links()``): its relation, which way it points, the other run."""
    return {
        "relation": link.relation,
        "direction": "to" if link.source_id == run_id else "from",
        "run": link.other(run_id),
        "time": link.time,
        "data": dict(link.data),
    }


def checkpoint_row(checkpoint: Any) -> dict[str, Any]:
    """A saved checkpoint (``run.checkpoints()``): name, step, epoch, its file and metrics."""
    return {
        "name": checkpoint.name,
        "step": checkpoint.step,
        "epoch": checkpoint.epoch,
        "mode": checkpoint.mode,
        "size": checkpoint.size,
        "metrics": dict(checkpoint.metrics),
        "path": str(checkpoint.path),
    }


def event_row(event: Any) -> dict[str, Any]:
    """An event (``run.events``) as a table row; its data stays a dict."""
    return {
        "time": event.time,
        "step": event.step,
        "name": event.name,
        "duration": event.duration,
        "data": dict(event.data),
    }


def metric_rows(run: RunLike) -> list[dict[str, Any]]:
    """Per metric: key, last value, its step, min, max and count (``run.summary()`` as rows)."""
    return [{"key": key, **stats} for key, stats in run.summary().items()]


def _get(env: Mapping[str, Any], dotted: str) -> Any:
    value = lookup(env, dotted)
    return None if value is _MISSING else value


def env_summary(env: Mapping[str, Any]) -> dict[str, str]:
    """A few lines that say where a run ran (the full document is ``run.env``); absent parts are skipped."""
    out: dict[str, str] = {}

    def put(label: str, *parts: Any, sep: str = " ") -> None:
        text = sep.join(str(p) for p in parts if p not in (None, ""))
        if text:
            out[label] = text

    put("python", _get(env, "python.implementation"), _get(env, "python.version"))
    put("os", _get(env, "system.distribution") or _get(env, "system.os_name"), _get(env, "system.machine"))
    host, user = _get(env, "system.hostname"), _get(env, "system.user")
    put("host", f"{user}@{host}" if user and host else host)
    cpus = _get(env, "hardware.cpu_count")
    put("cpu", _get(env, "hardware.cpu_model"), f"× {cpus}" if cpus else None)
    put("memory", _get(env, "hardware.memory_total_human"))
    devices = _get(env, "gpu.devices") or ()
    names = [str(d.get("name")) for d in devices if isinstance(d, Mapping)]
    if names:
        put("gpu", f"{len(names)} × {names[0]}" if len(set(names)) == 1 else ", ".join(names))
    libraries = _get(env, "python.libraries")
    if isinstance(libraries, Mapping):
        put("libraries", *(f"{k} {v}" for k, v in libraries.items()), sep=", ")
    commit = _get(env, "git.commit")
    if commit or _get(env, "git.root"):
        dirty = " (dirty)" if _get(env, "git.dirty") else ""
        put("git", str(commit)[:12] if commit else "no commit", _get(env, "git.branch"), dirty.strip() or None)
    argv = _get(env, "process.argv")
    if isinstance(argv, (list, tuple)):
        put("command", *argv)
    put("cwd", _get(env, "process.cwd"))
    return out


# --- two runs ------------------------------------------------------------------------------------


def diff_runs(a: RunLike, b: RunLike) -> list[dict[str, Any]]:
    """Config, env and metric (last value) differences: ``{"section", "key", "a", "b"}`` per key.

    A side missing the key has no ``"a"`` / ``"b"`` entry. Env keys that differ between any two runs
    (``VOLATILE_ENV_KEYS``, such as the pid) are left out.
    """
    out: list[dict[str, Any]] = []

    def compare(section: str, left: Mapping[str, Any], right: Mapping[str, Any], skip: frozenset[str]) -> None:
        keys = dict.fromkeys([*left, *right])
        for key in keys:
            if key in skip:
                continue
            x, y = left.get(key, _MISSING), right.get(key, _MISSING)
            if _same(x, y):
                continue
            entry: dict[str, Any] = {"section": section, "key": key}
            if x is not _MISSING:
                entry["a"] = x
            if y is not _MISSING:
                entry["b"] = y
            out.append(entry)

    compare("config", flatten(a.config), flatten(b.config), frozenset())
    compare("env", flatten(a.env), flatten(b.env), VOLATILE_ENV_KEYS)
    last_a = {key: stats["last"] for key, stats in a.summary().items()}
    last_b = {key: stats["last"] for key, stats in b.summary().items()}
    compare("metrics", last_a, last_b, frozenset())
    return out


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return type(x) is type(y) and bool(x == y)  # True and 1 differ in a config


# --- formatting ----------------------------------------------------------------------------------


def is_numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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


def gc_rows(report: Any) -> list[dict[str, Any]]:
    """The table of ``recordkit gc``: what was (or would be) removed, how many, and the bytes."""
    labels = {
        "records": "orphaned records",
        "scopes": "orphaned scopes",
        "summary": "orphaned summary rows",
        "events": "orphaned events",
        "files": "orphaned file rows",
        "links": "orphaned links",
    }
    rows: list[dict[str, Any]] = [
        {"removed": labels.get(kind, f"orphaned {kind} rows"), "count": count, "bytes": ""}
        for kind, count in report.rows.items()
    ]
    rows.append(
        {
            "removed": "run folders without a run",
            "count": len(report.folders),
            "bytes": human_bytes(report.folder_bytes),
        }
    )
    rows.append({"removed": "unreferenced blobs", "count": len(report.blobs), "bytes": human_bytes(report.blob_bytes)})
    before, after = human_bytes(report.database_bytes_before), human_bytes(report.database_bytes_after)
    rows.append(
        {"removed": f"database: {before} → {after}", "count": None, "bytes": human_bytes(report.database_bytes)}
    )
    return rows


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


def utc_iso(seconds: float) -> str:
    """``1700000000.5`` → ``"2023-11-14T22:13:20.500000+00:00"``."""
    return _dt.datetime.fromtimestamp(seconds, tz=_dt.timezone.utc).isoformat()


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


def _text(value: Any) -> str:
    """Text for a value in any text format (numbers are handled by the callers)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    return V.dumps(thaw(value))


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
    return _text(value)


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


def csv_cell(column: str, value: Any, *, times: frozenset[str] = frozenset()) -> str:
    """A value as CSV text: exact floats (``repr``), ``nan``/``inf``, ISO UTC for ``times`` columns."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if column in times:
            return utc_iso(value)
        return repr(value)  # the shortest text that reads back as the same float
    return _text(value)


def json_value(column: str, value: Any, *, times: frozenset[str] = frozenset()) -> Any:
    """A value ready for strict JSON: tagged non-finite floats and datetimes, ISO UTC for ``times``."""
    if column in times and isinstance(value, (int, float)) and not isinstance(value, bool):
        return utc_iso(value)
    return V.encode(thaw(value))


def json_dumps(value: Any) -> str:
    """Strict JSON text (never ``NaN``), non-ASCII kept as is."""
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


_JSON_AS_IS = frozenset({str, int, bool, type(None)})


def json_row(row: Mapping[str, Any], *, times: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A row ready for strict JSON (see :func:`json_value`); plain values are passed through as they are."""
    out = {}
    for column, value in row.items():
        kind = type(value)
        if column in times:
            out[column] = json_value(column, value, times=times)
        elif kind in _JSON_AS_IS or (kind is float and math.isfinite(value)):
            out[column] = value
        else:
            out[column] = json_value(column, value, times=times)
    return out


def csv_lines(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, times: frozenset[str] = frozenset()
) -> Iterator[list[str]]:
    """The header, then one list of cells per row; rows are consumed one at a time."""
    yield list(columns)
    for row in rows:
        cells: list[str] = []
        for column in columns:
            value = row.get(column)
            if isinstance(value, str):
                cells.append(value)
            elif value is None:
                cells.append("")
            else:
                cells.append(csv_cell(column, value, times=times))
        yield cells


def json_array_chunks(objects: Iterable[Any]) -> Iterator[str]:
    """A JSON array written piece by piece, so a caller can stream it in constant memory."""
    first = True
    for obj in objects:
        yield ("[\n" if first else ",\n") + json_dumps(obj)
        first = False
    yield "[]\n" if first else "\n]\n"


def limited(items: Iterable[Any], limit: int | None) -> Iterator[Any]:
    """The first ``limit`` items (all when None), without reading one more."""
    return iter(items) if limit is None else itertools.islice(items, limit)
