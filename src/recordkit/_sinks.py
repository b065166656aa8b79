"""Mirrors: copies of the records in formats other tools read (TensorBoard event files, CSV files).

Mirrors are fed by the background writer thread, never by the caller's: after a batch is committed to
the store, :class:`MirrorFeed` turns its records into :class:`MirrorRecord` (plain Python values, the
scope path as a label, the run's identity) and hands them to every mirror. The store is the truth: a
mirror that fails warns once and the error is raised again at ``flush()`` / ``finish()``, while the
records stay stored.

A record's *label* names where it was logged: the run's root scope has the empty label; a harvested
group (``run.collect``) is its group name (``tuple_miner``); any other scope is its fields as
``key=value`` (comma-joined), with nested scopes joined by ``/`` (``model=m1/training=True``).
A label is made from the fields a scope has when it is created, so a field added later
(``scope["note"] = ...``) does not move the scope's series to another tag or file.
"""

from __future__ import annotations

import abc
import collections
import contextlib
import dataclasses
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recordkit import _values as V
from recordkit._exceptions import StoreError
from recordkit._harvest import GROUP_FIELD
from recordkit.backends.base import CreateScope

if TYPE_CHECKING:
    from recordkit.backends.base import Backend, RunRow, WriteItem


@dataclasses.dataclass(frozen=True)
class MirrorRecord:
    """One committed record as a mirror sees it: plain values, where it was logged, which run."""

    run_id: str
    collection: str
    #: The run's folder, absolute.
    run_folder: str
    label: str
    step: int
    time: float
    values: Mapping[str, Any]


class Mirror(abc.ABC):
    """A destination fed by the writer thread after each committed batch.

    Subclasses implement ``write``; ``end_run`` and ``close`` release files. Every method is called
    with the mirror's lock held, from the writer thread (``write``) or the thread finishing a run or
    closing the store. A subclass that defines ``__init__`` calls ``super().__init__(directory)``.

    Examples
    --------
    >>> class Printer(rk.Mirror):                                   # doctest: +SKIP
    ...     def write(self, records):
    ...         for r in records:
    ...             print(r.label, r.step, dict(r.values))
    >>> store = rk.open("records", mirrors=[Printer()])             # doctest: +SKIP
    """

    #: What the mirror is called in warnings and errors.
    name = "mirror"

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = None if directory is None else Path(directory)
        self.lock = threading.Lock()

    def bind(self, store_root: Path | None) -> None:
        """Called once by the store; a mirror without a directory writes into the run folders."""
        if self.directory is None and store_root is None:
            raise StoreError(f"the {self.name} mirror needs a directory for a store without a folder: {self!r}")

    def folder(self, record: MirrorRecord, leaf: str) -> Path:
        """``<directory>/<collection>/<run id>``, or ``<run folder>/<leaf>`` without a directory."""
        if self.directory is None:
            return Path(record.run_folder) / leaf
        return self.directory / record.collection / record.run_id

    @abc.abstractmethod
    def write(self, records: Sequence[MirrorRecord]) -> None:
        """Write the records of one committed batch, in log order, and make them visible (flush)."""

    def end_run(self, run_id: str) -> None:  # noqa: B027  (optional hook)
        """The run finished: release what it holds open."""

    def close(self) -> None:  # noqa: B027  (optional hook)
        """The store closes: release everything."""

    def __repr__(self) -> str:
        where = "run folders" if self.directory is None else str(self.directory)
        return f"<{type(self).__name__} mirror into {where}>"


def _is_number(value: Any) -> bool:
    return type(value) in (int, float, bool)


class TensorBoard(Mirror):
    """Numeric values as TensorBoard scalars, tagged ``<label>/<key>`` (just ``<key>`` in the run's root).

    One event file per run, written with TensorBoard's own ``EventFileWriter`` (``pip install
    'recordkit[tensorboard]'``), in ``<directory>/<collection>/<run id>``, or without a directory in
    ``<run folder>/tensorboard``; ``tensorboard --logdir <store>`` shows every run. Booleans are 0/1;
    strings, lists and None are left out.

    Examples
    --------
    >>> store = rk.open("records", mirrors=[rk.TensorBoard()])      # doctest: +SKIP
    >>> store = rk.open("records", mirrors=["tensorboard", "csv"])  # doctest: +SKIP
    """

    name = "tensorboard"
    #: Event files kept open at once; the least recently written is closed beyond this.
    MAX_OPEN = 16

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        super().__init__(directory)
        self._writers: collections.OrderedDict[str, Any] = collections.OrderedDict()

    def _writer(self, record: MirrorRecord) -> Any:
        found = self._writers.get(record.run_id)
        if found is not None:
            self._writers.move_to_end(record.run_id)
            return found
        from recordkit._deps import require

        EventFileWriter = require(
            "tensorboard.summary.writer.event_file_writer", "the TensorBoard mirror needs tensorboard"
        ).EventFileWriter
        folder = self.folder(record, "tensorboard")
        folder.mkdir(parents=True, exist_ok=True)
        writer = self._writers[record.run_id] = EventFileWriter(str(folder), max_queue_size=1000, flush_secs=5)
        while len(self._writers) > self.MAX_OPEN:
            self._writers.popitem(last=False)[1].close()
        return writer

    def write(self, records: Sequence[MirrorRecord]) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2

        touched = {}
        for record in records:
            prefix = f"{record.label}/" if record.label else ""
            values = [
                summary_pb2.Summary.Value(tag=prefix + key, simple_value=float(value))
                for key, value in record.values.items()
                if _is_number(value)
            ]
            if not values:
                continue
            writer = self._writer(record)
            touched[record.run_id] = writer
            event = event_pb2.Event(wall_time=record.time, step=record.step, summary=summary_pb2.Summary(value=values))
            writer.add_event(event)
        for writer in touched.values():
            writer.flush()

    def end_run(self, run_id: str) -> None:
        writer = self._writers.pop(run_id, None)
        if writer is not None:
            writer.close()

    def close(self) -> None:
        while self._writers:
            self._writers.popitem()[1].close()


_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._=,+-")


def file_stem(label: str) -> str:
    """A label as a safe file name (never a path): ``model=m1/training=True`` → ``model=m1.training=True``."""
    stem = "".join(ch if ch in _SAFE else "_" for ch in label.replace("/", ".")).strip(".") or "run"
    return stem[:150]


class CSV(Mirror):
    """One CSV file per run and label: ``<label>.csv`` with columns ``step, time, <keys>``.

    Files live in ``<directory>/<collection>/<run id>``, or without a directory in ``<run folder>/csv``.
    The root scope's records go to ``run.csv``. Values are written as ``recordkit records --format csv``
    writes them: floats exactly (``0.1``, ``nan``), booleans ``true``/``false``, None empty, lists and
    dicts as JSON.

    **A new key later** never corrupts a file: the header is widened and the file rewritten once, to a
    temporary file renamed over the old one (earlier rows get an empty cell for the new column), so a
    reader always sees one complete, consistent file with one header.
    """

    name = "csv"

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        super().__init__(directory)
        # (run id, label) -> (path, header)
        self._files: dict[tuple[str, str], tuple[Path, list[str]]] = {}
        self._names: dict[tuple[str, str], str] = {}  # (folder, stem) -> label that owns it

    def _file(self, record: MirrorRecord) -> tuple[Path, list[str]]:
        import csv

        key = (record.run_id, record.label)
        found = self._files.get(key)
        if found is not None:
            return found
        folder = self.folder(record, "csv")
        stem = file_stem(record.label)
        n = 1
        name = stem
        while self._names.setdefault((str(folder), name), record.label) != record.label:
            n += 1  # two labels that read the same as file names
            name = f"{stem}-{n}"
        path = folder / f"{name}.csv"
        header: list[str] = []
        if path.exists():  # a resumed run, or a store opened again: continue the file
            with path.open(newline="", encoding="utf-8") as f:
                header = next(csv.reader(f), [])
        found = self._files[key] = (path, header)
        return found

    def write(self, records: Sequence[MirrorRecord]) -> None:
        import csv
        import io

        from recordkit._formats import csv_cell

        grouped: dict[tuple[str, str], list[MirrorRecord]] = {}
        for record in records:
            grouped.setdefault((record.run_id, record.label), []).append(record)
        for group in grouped.values():
            path, header = self._file(group[0])
            wanted = list(header) or ["step", "time"]
            for record in group:
                for key in record.values:
                    if key not in wanted:
                        wanted.append(key)
            if header and wanted != header:
                _widen(path, header, wanted)
            path.parent.mkdir(parents=True, exist_ok=True)
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            if not header:
                writer.writerow(wanted)
            for record in group:
                row = {"step": record.step, "time": record.time, **record.values}
                writer.writerow([csv_cell(column, row.get(column)) for column in wanted])
            with path.open("a", newline="", encoding="utf-8") as f:
                f.write(buffer.getvalue())
            header[:] = wanted

    def end_run(self, run_id: str) -> None:
        for key in [k for k in self._files if k[0] == run_id]:
            del self._files[key]


def _widen(path: Path, old: list[str], new: list[str]) -> None:
    """Rewrite a CSV file with a wider header: temp file + rename, so readers never see a torn file."""
    import csv

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with path.open(newline="", encoding="utf-8") as src, tmp.open("w", newline="", encoding="utf-8") as dst:
        reader = csv.reader(src)
        next(reader, None)
        writer = csv.writer(dst, lineterminator="\n")
        writer.writerow(new)
        pad = [""] * (len(new) - len(old))
        for row in reader:
            writer.writerow(row + pad)
    os.replace(tmp, path)


MIRRORS: dict[str, type[Mirror]] = {"tensorboard": TensorBoard, "csv": CSV}


def make_mirrors(given: Iterable[Mirror | str]) -> list[Mirror]:
    """Mirror objects from objects or names (``"tensorboard"``, ``"csv"``)."""
    made: list[Mirror] = []
    for item in given:
        if isinstance(item, Mirror):
            made.append(item)
        elif isinstance(item, str) and item.strip().lower() in MIRRORS:
            made.append(MIRRORS[item.strip().lower()]())
        else:
            raise ValueError(
                f"unknown mirror {item!r}; give rk.TensorBoard(dir), rk.CSV(dir), or one of {sorted(MIRRORS)}"
            )
    return made


def plain_record_values(values: dict[str, Any]) -> dict[str, Any]:
    """A record's values with tensors and arrays converted (writer thread only)."""
    if type(values) is not V.LazyValues:
        return values
    return {k: V.materialize(v) if V.needs_materialize(v) else v for k, v in values.items()}


class MirrorFeed:
    """Turns committed write items into mirror records and hands them to the mirrors.

    It follows scopes from the ``CreateScope`` items it sees and asks the backend
    only for scopes made before it started (a run's root scope, a resumed run's scopes).
    """

    def __init__(self, backend: Backend, mirrors: Sequence[Mirror], root: Path | None = None) -> None:
        self.backend = backend
        self.mirrors = list(mirrors)
        self.root = root  # the store's folder: run folders are stored relative to it
        self._scopes: dict[int, tuple[int | None, dict[str, Any]]] = {}
        self._labels: dict[int, str] = {}
        self._runs: dict[str, RunRow] = {}
        self._loaded: set[str] = set()

    def prepare(self, items: list[WriteItem]) -> list[WriteItem]:
        """Materialise tensors once, before the backend sees them, so backend and mirrors agree."""
        out: list[WriteItem] = []
        for item in items:
            if type(item) is tuple and type(item[5]) is V.LazyValues:
                with contextlib.suppress(Exception):  # left as is: the backend reports the bad value
                    item = (*item[:5], plain_record_values(item[5]))
            out.append(item)
        return out

    def feed(self, items: Sequence[WriteItem]) -> None:
        records: list[MirrorRecord] = []
        for item in items:
            if type(item) is tuple:
                run_id, scope_id, _seq, step, when, values = item
                run = self._run(run_id)
                records.append(
                    MirrorRecord(
                        run_id, run.collection, self._folder(run), self._label(run_id, scope_id), step, when,
                        plain_record_values(values),
                    )
                )
            elif isinstance(item, CreateScope):
                self._scopes[item.id] = (item.parent_id, dict(item.fields))
        if not records:
            return
        for mirror in self.mirrors:
            with mirror.lock:
                mirror.write(records)

    def end_run(self, run_id: str) -> None:
        for mirror in self.mirrors:
            with mirror.lock:
                mirror.end_run(run_id)
        self._runs.pop(run_id, None)

    def close(self) -> None:
        for mirror in self.mirrors:
            with mirror.lock:
                mirror.close()

    def _folder(self, row: RunRow) -> str:
        from recordkit._run import run_folder

        return str(run_folder(self.root, row))

    def _run(self, run_id: str) -> RunRow:
        row = self._runs.get(run_id)
        if row is None:
            row = self.backend.get_run(run_id)
            if row is None:
                raise StoreError(f"run {run_id!r} is not in the store; cannot mirror its records")
            self._runs[run_id] = row
        return row

    def _label(self, run_id: str, scope_id: int) -> str:
        label = self._labels.get(scope_id)
        if label is not None:
            return label
        parts: list[str] = []
        current: int | None = scope_id
        while current is not None:
            scope = self._scopes.get(current)
            if scope is None and run_id not in self._loaded:
                self._loaded.add(run_id)
                for row in self.backend.scopes([run_id]).values():
                    self._scopes.setdefault(row.id, (row.parent_id, dict(row.fields)))
                scope = self._scopes.get(current)
            if scope is None:
                break
            parent, fields = scope
            if fields:
                parts.append(_scope_label(fields))
            current = parent
        label = self._labels[scope_id] = "/".join(reversed(parts))
        return label


def _scope_label(fields: Mapping[str, Any]) -> str:
    if len(fields) == 1 and GROUP_FIELD in fields:
        return str(fields[GROUP_FIELD])
    return ",".join(f"{key}={_text(value)}" for key, value in fields.items())


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return V.dumps(value) if isinstance(value, (list, dict)) else str(value)
