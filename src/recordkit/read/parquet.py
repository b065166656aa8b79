"""Sealing: a finished run's records as one Parquet file, ``<run folder>/records.parquet``.

The file holds the flat view (DESIGN.md §4): ``step, time``, one column per record key, one per scope
field (a record's own value wins), the run fields, ``config.<key>`` columns, then ``scope_id, seq``.
It is written with zstd to a temporary file renamed over the old one, so a reader never sees a torn
file. The file's metadata (``recordkit`` key) holds the run's id, status, end time and name; a run resumed
and finished again, or renamed, no longer matches and is sealed again.

Column types follow the values: numbers (ints and floats mixed become float64; NaN stays NaN),
booleans, strings, datetimes (timestamp), lists of scalars (list). A column mixing kinds, or holding
dicts, is kept exactly as text: strings as they are, anything else as JSON.

Sealing runs in one background thread per process after ``finish()`` (setting ``seal``), and is waited
for at exit (up to :data:`EXIT_WAIT` seconds) and by ``store.close()``. Without pyarrow nothing is
sealed in the background; ``store.export_parquet`` asks for it.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import queue
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recordkit import _values as V
from recordkit._deps import require
from recordkit._exceptions import RecordkitWarning, RunStateError
from recordkit.backends.base import LIVE_STATUSES, RecordQuery, RunRow, merged_scope_fields
from recordkit.read.records import RUN_FIELDS
from recordkit.runs.meta import run_fields

if TYPE_CHECKING:
    from recordkit._store import Store

SEALED_NAME = "records.parquet"
FORMAT_VERSION = 1
#: Seconds the interpreter waits at exit for runs still being sealed.
EXIT_WAIT = 60.0


def require_pyarrow() -> Any:
    """pyarrow with its Parquet module loaded."""
    require("pyarrow.parquet")
    return require("pyarrow")


def run_dir(store: Store, row: RunRow) -> Path:
    """The run's folder (stored relative to the store's folder)."""
    from recordkit.runs.meta import run_folder

    return run_folder(store.path, row)


def sealed_path(store: Store, row: RunRow) -> Path:
    return run_dir(store, row) / SEALED_NAME


# --- building the table -----------------------------------------------------------------------------


def _text_cell(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else V.dumps(value)


def _nested_struct(pa: Any, kind: Any) -> bool:
    if pa.types.is_struct(kind) or pa.types.is_map(kind) or pa.types.is_union(kind):
        return True
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _nested_struct(pa, kind.value_type)
    return False


def to_array(pa: Any, values: list[Any]) -> Any:
    """One column: typed when its values agree, else exact text (strings as is, the rest as JSON)."""
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError):
        return pa.array([_text_cell(v) for v in values], type=pa.string())
    if _nested_struct(pa, array.type):
        return pa.array([_text_cell(v) for v in values], type=pa.string())
    return array


def _constant(pa: Any, value: Any, n: int) -> Any:
    single = to_array(pa, [value])
    if single.type == pa.null():
        return pa.nulls(n)
    if n == 0:  # a run without records still has its columns (pa.repeat refuses 0 of a list)
        return single.slice(0, 0)
    return pa.repeat(single[0], n)


def run_table(store: Store, row: RunRow) -> Any:
    """The run's flat records as a pyarrow Table (columns as in the module docstring)."""
    pa = require_pyarrow()
    from recordkit.read.records import superseded_ranges

    backend = store.backend
    scope_rows = backend.scopes([row.id])
    merged = merged_scope_fields(scope_rows)
    keys = backend.keys([row.id])
    scope_ids: list[int] = []
    seqs: list[int] = []
    steps: list[int] = []
    times: list[float] = []
    values: list[dict[str, Any]] = []
    # Records a resume superseded stay in the store, but not in the file: readers of Parquet see what
    # every recordkit read sees.
    superseded = superseded_ranges(backend, [row.id])
    for _, raw in backend.iter_records(RecordQuery(run_ids=[row.id], superseded=superseded)):
        scope_ids.append(raw.scope_id)
        seqs.append(raw.seq)
        steps.append(raw.step)
        times.append(raw.time)
        values.append(raw.values)
    n = len(values)
    seen = set(keys)
    for record in values:  # keys the summary does not know (None-only, beyond the column limit)
        if not record.keys() <= seen:
            keys += [k for k in record if k not in seen]
            seen.update(record)
    columns: dict[str, Any] = {
        "step": pa.array(steps, type=pa.int64()),
        "time": pa.array(times, type=pa.float64()),
    }
    for key in keys:
        columns[key] = to_array(pa, [v.get(key) for v in values])
    # Scope fields: one value per scope, spread to the records by index (no per-record dict lookups).
    order = list(dict.fromkeys(scope_ids))
    position = {sid: i for i, sid in enumerate(order)}
    index = pa.array([position[sid] for sid in scope_ids], type=pa.int32())
    scope_keys = list(dict.fromkeys(k for sid in order for k in merged.get(sid, {})))
    for key in scope_keys:
        per_scope = [merged.get(sid, {}).get(key) for sid in order]
        if key in columns:  # the record's own value wins; None falls back to the scope's
            own = columns[key].to_pylist()
            spread = [per_scope[i] for i in index.to_pylist()]
            columns[key] = to_array(pa, [o if o is not None else s for o, s in zip(own, spread, strict=True)])
        else:
            columns[key] = to_array(pa, per_scope).take(index)
    fields = run_fields(row)
    for name in RUN_FIELDS:
        if name not in columns:
            columns[name] = _constant(pa, fields[name], n)
    for name, value in V.flatten_config(row.config, "config.").items():
        if name not in columns:
            columns[name] = _constant(pa, value, n)
    for name, data in (("scope_id", scope_ids), ("seq", seqs)):
        if name not in columns:
            columns[name] = pa.array(data, type=pa.int64())
    table = pa.table(columns)
    meta = {"run_id": row.id, "status": row.status, "end_time": row.end_time, "run_name": row.name, "records": n,
            "format": FORMAT_VERSION}
    return table.replace_schema_metadata({"recordkit": json.dumps(meta)})


def write_parquet(table: Any, path: Path) -> None:
    """zstd Parquet through a temporary file renamed into place (a reader never sees a torn file)."""
    pa = require_pyarrow()
    import pyarrow.parquet as pq

    floats = [f.name for f in table.schema if pa.types.is_floating(f.type)]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        # Byte-stream split lets zstd find the shared exponent bytes of floats (times, metrics): smaller files.
        pq.write_table(table, tmp, compression="zstd", use_byte_stream_split=floats or False)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def sealed_meta(path: Path) -> dict[str, Any] | None:
    """The recordkit metadata of a sealed file, or None if there is no readable one."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
        return json.loads(meta[b"recordkit"])  # type: ignore[no-any-return]
    except (OSError, KeyError, ValueError):
        return None


def is_fresh(path: Path, row: RunRow) -> bool:
    meta = sealed_meta(path) if path.exists() else None
    return (
        meta is not None
        and meta.get("run_id") == row.id
        and meta.get("status") == row.status
        and meta.get("end_time") == row.end_time
        and meta.get("run_name") == row.name  # the file holds run_name: a renamed run is sealed again
        and meta.get("format") == FORMAT_VERSION
    )


def seal_run(store: Store, row: RunRow) -> Path:
    """Seal a finished run (again, if its sealed file is missing or out of date); return the file."""
    require_pyarrow()
    if row.status in LIVE_STATUSES:
        raise RunStateError(
            f"run {row.id!r} is {row.status}; only finished runs are sealed "
            "(export_parquet reads live runs as they are)"
        )
    path = sealed_path(store, row)
    with _lock_for(path):
        if not is_fresh(path, row):
            write_parquet(run_table(store, row), path)
    return path


_path_locks: dict[str, threading.Lock] = {}
_path_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _path_locks_guard:
        return _path_locks.setdefault(str(path), threading.Lock())


# --- the background sealer --------------------------------------------------------------------------


class _Sealer:
    """One daemon thread sealing finished runs in the order they finish."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[tuple[Store, RunRow]] = queue.Queue()
        self.pending: dict[int, int] = {}  # id(store) -> jobs not done
        self.done = threading.Condition()
        self.thread = threading.Thread(target=self._loop, name="recordkit-sealer", daemon=True)
        self.thread.start()

    def submit(self, store: Store, row: RunRow) -> None:
        with self.done:
            self.pending[id(store)] = self.pending.get(id(store), 0) + 1
        self.jobs.put((store, row))

    def _loop(self) -> None:
        with contextlib.suppress(ImportError):
            import pyarrow.parquet  # noqa: F401  (loaded at once: the first job should not wait for it)
        while True:
            store, row = self.jobs.get()
            try:
                seal_run(store, row)
            except Exception as exc:  # the records are safe in the store; the file is made again on export
                with contextlib.suppress(Exception):
                    warnings.warn(
                        f"recordkit could not seal run {row.id} into Parquet ({exc}); its records are stored, "
                        "and store.export_parquet() will seal it",
                        RecordkitWarning,
                        stacklevel=2,
                    )
            finally:
                with self.done:
                    self.pending[id(store)] -= 1
                    self.done.notify_all()

    def wait(self, store: Store | None, timeout: float | None = None) -> None:
        with self.done:
            self.done.wait_for(
                lambda: (self.pending.get(id(store), 0) if store is not None else sum(self.pending.values())) == 0,
                timeout,
            )


_sealer: _Sealer | None = None
_sealer_lock = threading.Lock()


_exiting = False


def seal_later(store: Store, row: RunRow) -> None:
    """Queue a finished run for sealing (nothing happens without pyarrow: export seals it later).

    pyarrow is imported by the sealer thread, not here: it takes about 0.2 s, and finish() must not.
    """
    global _sealer
    if _exiting or importlib.util.find_spec("pyarrow") is None:
        return
    # pyarrow imports concurrent.futures.thread, which refuses to load once the interpreter is shutting
    # down; loaded here (a few ms, once), a script that ends right after finish() still gets its file.
    try:
        import concurrent.futures.thread  # noqa: F401
    except RuntimeError:  # already shutting down (a run finished by the exit handler): sealed at export
        return
    if _sealer is None:
        with _sealer_lock:
            if _sealer is None:
                _sealer = _Sealer()
                atexit.register(_wait_at_exit)
    _sealer.submit(store, row)


def wait_sealed(store: Store | None = None, timeout: float | None = None) -> None:
    """Wait until the runs queued for sealing (of ``store``, or all) are sealed."""
    if _sealer is not None:
        _sealer.wait(store, timeout)


def _wait_at_exit() -> None:
    global _exiting
    wait_sealed(None, EXIT_WAIT)
    # Runs finished later by the exit handler itself are sealed at the next export: a half-written
    # temporary file from a thread killed at exit helps no one.
    _exiting = True


def _forget_after_fork() -> None:
    global _sealer, _sealer_lock
    _sealer = None
    _sealer_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
