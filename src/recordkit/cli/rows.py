"""What the commands show, as rows: runs, one run's parts, two runs' differences, gc's report.

A *row* is a plain ``dict`` from column name to a raw value (floats stay floats, times stay seconds
since the epoch); :mod:`recordkit.cli.output` turns rows into a table, CSV or JSON at the very end.
Pure functions: nothing here prints, opens a store or imports click or rich. The commands resolve
their arguments, call one library method, and hand the result to these functions; tests call them
with tiny stand-ins (anything shaped like :class:`RunLike`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from recordkit._exceptions import QueryError
from recordkit.cli.formatting import human_bytes
from recordkit.read.listing import ALL_RUN_COLUMNS, MISSING, RUN_COLUMNS, flatten, lookup, make_row
from recordkit.read.records import RUN_FIELDS

# Environment keys that differ between any two runs; `diff` leaves them out.
VOLATILE_ENV_KEYS = frozenset({"process.pid", "process.ppid", "hardware.disk_free", "hardware.disk_free_human"})
#: How many of a run's latest events ``show`` lists (``recordkit events RUN`` lists them all).
LAST_EVENTS = 10
#: Columns of a run's events as tables list them.
EVENT_COLUMNS = ["time", "step", "name", "duration", "data"]


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


# --- runs and their columns ----------------------------------------------------------------------


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


def limited(items: Iterable[Any], limit: int | None) -> Iterator[Any]:
    """The first ``limit`` items (all when None), without reading one more."""
    return iter(items) if limit is None else itertools.islice(items, limit)


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
        "notes": getattr(run, "notes", None),
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


def attempt_rows(events: Sequence[Any]) -> list[dict[str, Any]]:
    """How each earlier attempt of a resumed run ended: one row per ``resumed`` event (not a pause's)."""
    rows = []
    for event in events:
        data = event.data
        if event.name == "resumed" and "previous_status" in data:
            error = data.get("previous_error") or {}
            text = ": ".join(str(part) for part in (error.get("type"), error.get("message")) if part)
            rows.append({"resumed": event.time, "status": data["previous_status"], "error": text or None})
    return rows


def metric_rows(run: RunLike) -> list[dict[str, Any]]:
    """Per metric: key, last value, its step, min, max and count (``run.summary()`` as rows)."""
    return [{"key": key, **stats} for key, stats in run.summary().items()]


def _get(env: Mapping[str, Any], dotted: str) -> Any:
    value = lookup(env, dotted)
    return None if value is MISSING else value


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
            x, y = left.get(key, MISSING), right.get(key, MISSING)
            if _same(x, y):
                continue
            entry: dict[str, Any] = {"section": section, "key": key}
            if x is not MISSING:
                entry["a"] = x
            if y is not MISSING:
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


# --- the store -----------------------------------------------------------------------------------


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
    rows.append({"removed": "stray temp files, removed checkpoints", "count": len(report.stray_files),
                 "bytes": human_bytes(report.stray_bytes)})
    before, after = human_bytes(report.database_bytes_before), human_bytes(report.database_bytes_after)
    rows.append(
        {"removed": f"database: {before} → {after}", "count": None, "bytes": human_bytes(report.database_bytes)}
    )
    return rows
