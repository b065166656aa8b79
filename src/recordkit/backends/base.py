"""The backend seam: everything recordkit needs from a storage engine, and nothing more.

A backend is chosen by the store's URL (a folder path → SQLite, ``postgresql://`` → PostgreSQL).
Everything above this seam (runs, scopes, the writer, the flat Records view, the CLI) talks only to
the methods below, so a new engine is one module that subclasses :class:`Backend` (an SQL engine
subclasses ``core.SQLBackend`` and brings a ``Dialect``: see ``backends/__init__.py``).

Obligations shared by every method:

* Thread safety: ``write_batch`` is called only from the writer thread; every other method may be
  called from any thread, so a backend keeps one connection per thread (or a lock).
* Errors: engine errors are translated into :class:`recordkit.StorageError` at one boundary, chained
  with ``from exc``.
* Atomicity: ``create_run`` and ``end_run`` number runs atomically, so that several processes starting
  runs in one collection at once get distinct, correct numbers; ``write_batch`` is one transaction.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

# Run statuses (the values of recordkit.RunStatus), spelled here so backends need not import _run.
RUNNING, PAUSED, FINISHED, FAILED, INTERRUPTED, CRASHED = (
    "running",
    "paused",
    "finished",
    "failed",
    "interrupted",
    "crashed",
)
LIVE_STATUSES = (RUNNING, PAUSED)
ERROR_STATUSES = (FAILED, INTERRUPTED, CRASHED)

#: The fields every flat record carries from its run, in the order reads show them (the Records view,
#: the SQL ``records`` view, Parquet files).
RUN_FIELDS = (
    "run_id",
    "run_name",
    "collection",
    "status",
    "experiment_number",
    "error_number",
    "had_error",
    "experiment_start_time",
    "experiment_end_time",
    "experiment_duration",
)


@dataclasses.dataclass
class RunRow:
    """One run as stored. Times are seconds since the epoch (``time.time()``)."""

    id: str
    collection: str
    number: int
    error_number: int
    name: str | None
    status: str
    start_time: float
    end_time: float | None
    config: dict[str, Any]
    env: dict[str, Any]
    tags: list[str]
    parent_id: str | None
    step: int
    epoch: int
    error: dict[str, Any] | None
    host: str
    pid: int
    heartbeat: float
    folder: str
    root_scope: int
    notes: str | None = None


class LazyEnvRunRow(RunRow):
    """A RunRow whose ``env`` is decoded from its stored text on first read.

    A captured environment is by far the largest part of a run (tens of kilobytes: packages,
    variables, git); listing 10,000 runs must not decode 10,000 of them. A backend builds its rows
    with :meth:`deferred` and everything else reads ``row.env`` as usual.
    """

    _env: dict[str, Any] | None
    _env_source: tuple[Callable[[Any], Any], Any] | None

    @classmethod
    def deferred(cls, decode: Callable[[Any], Any], raw: Any, **fields: Any) -> LazyEnvRunRow:
        """A row whose env is ``decode(raw)``, computed on the first read of ``row.env``."""
        # Filled in directly rather than through __init__: backends build thousands of these at once.
        row = cls.__new__(cls)
        row.__dict__.update(fields)
        row._env = None
        row._env_source = (decode, raw)
        return row

    @property
    def env(self) -> dict[str, Any]:
        if self._env is None:
            source = self._env_source
            self._env = source[0](source[1]) if source is not None else {}
            self._env_source = None
        return self._env

    @env.setter
    def env(self, value: dict[str, Any]) -> None:
        self._env = value
        self._env_source = None


@dataclasses.dataclass
class NewRun:
    """What ``create_run`` needs; the backend assigns ``number`` and ``error_number``."""

    id: str
    collection: str
    name: str | None
    start_time: float
    config: dict[str, Any]
    env: dict[str, Any]
    tags: list[str]
    parent_id: str | None
    host: str
    pid: int
    folder: str
    root_scope: int
    notes: str | None = None


@dataclasses.dataclass
class ScopeRow:
    """A scope: its own fields (not its ancestors'), its parent scope and its run.

    ``label`` names the series logged in it (``phase=eval``; see ``backends/labels.py``), fixed when the
    scope was created; None in stores written before labels were stored.
    """

    id: int
    run_id: str
    parent_id: int | None
    fields: dict[str, Any]
    label: str | None = None


# Items the writer hands to write_batch, in the order the caller produced them.
@dataclasses.dataclass
class CreateScope:
    id: int
    run_id: str
    parent_id: int | None
    fields: dict[str, Any]
    #: The series label (backends/labels.py); None: the writer derives it from the parent and fields.
    label: str | None = None


@dataclasses.dataclass
class UpdateScope:
    id: int
    fields: dict[str, Any]


@dataclasses.dataclass
class UpdateRun:
    """Counters and liveness: step, epoch, heartbeat (None leaves a field as it is)."""

    run_id: str
    step: int | None = None
    epoch: int | None = None
    heartbeat: float | None = None


class _Plain:
    """A small value class: equality and repr from ``__slots__``.

    The items and rows added with events and files are plain classes, not dataclasses: a dataclass
    costs about 0.3 ms of ``import recordkit`` each (measured), and these load with every import.
    """

    __slots__: tuple[str, ...] = ()
    _fields: tuple[str, ...] = ()  # every slot along the class's bases, in order

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls._fields = (*cls._fields, *cls.__dict__.get("__slots__", ()))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, n) == getattr(other, n) for n in self._fields)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__name__}({fields})"


class AddEvent(_Plain):
    """An append-only event: a hierarchical ``name`` (``epoch/2/eval``), when, at which step, an
    optional ``duration`` in seconds and JSON-able ``data`` (may hold tensors: the backend encodes
    it with ``_values.dumps`` in the writer thread)."""

    __slots__ = ("data", "duration", "name", "run_id", "step", "time")

    def __init__(
        self, run_id: str, name: str, time: float, step: int, duration: float | None, data: dict[str, Any]
    ) -> None:
        self.run_id = run_id
        self.name = name
        self.time = time
        self.step = step
        self.duration = duration
        self.data = data


class AddFile(_Plain):
    """A file row: an ``attachment`` (content in the store's blob folder, by ``sha256``), a
    ``reference`` (an outside ``path``, never copied) or a ``checkpoint`` (``path`` relative to the
    store's files root). ``meta`` holds kind-specific details (a checkpoint's step, epoch, metrics)."""

    __slots__ = ("kind", "meta", "mtime", "name", "path", "run_id", "sha256", "size", "step", "time")

    def __init__(
        self,
        run_id: str,
        name: str,
        kind: str,
        time: float,
        step: int,
        size: int | None,
        sha256: str | None,
        path: str | None,
        mtime: float | None,
        meta: dict[str, Any],
    ) -> None:
        self.run_id = run_id
        self.name = name
        self.kind = kind
        self.time = time
        self.step = step
        self.size = size
        self.sha256 = sha256
        self.path = path
        self.mtime = mtime
        self.meta = meta


class RemoveFile(_Plain):
    """Mark every file row of ``run_id`` with this ``path`` removed at ``time`` (retention deleted it).
    The row stays: what was recorded is never forgotten, only flagged."""

    __slots__ = ("path", "run_id", "time")

    def __init__(self, run_id: str, path: str, time: float) -> None:
        self.run_id = run_id
        self.path = path
        self.time = time


class AddLink(_Plain):
    """A directed reference from one run to another, read from both sides."""

    __slots__ = ("data", "relation", "source_id", "target_id", "time")

    def __init__(self, source_id: str, target_id: str, relation: str, time: float, data: dict[str, Any]) -> None:
        self.source_id = source_id
        self.target_id = target_id
        self.relation = relation
        self.time = time
        self.data = data


class RecordRows(_Plain):
    """Records of one run that share their keys, as the journal hands them over: each row is
    ``(time, *values, scope_id, seq, step)``, the values in ``keys`` order. No dict per record: the
    writer binds rows straight into a table (see ``JOURNAL_ORDER`` in ``backends/writing.py``).

    Time and the values come first so the hot path can tell a record of floats from its marshal
    bytes alone: every value's type code then sits at a fixed offset (``runs/run.py``)."""

    __slots__ = ("keys", "rows", "run_id")

    def __init__(self, run_id: str, keys: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        self.run_id = run_id
        self.keys = keys
        self.rows = rows


class JournalMark(_Plain):
    """The last item of a batch read from a journal: commit, in the batch's transaction, that the
    journal ``journal`` is stored up to entry ``entries`` (exclusive), which ends at ring ``offset``.
    A batch whose mark is not beyond the stored one was committed before and changes nothing, so a
    journal replayed after a crash lands exactly once."""

    __slots__ = ("entries", "journal", "offset")

    def __init__(self, journal: str, entries: int, offset: int) -> None:
        self.journal = journal
        self.entries = entries
        self.offset = offset


# A record item is a plain tuple for speed: (run_id, scope_id, seq, step, time, values).
RecordItem = tuple[str, int, int, int, float, dict[str, Any]]
WriteItem = (
    RecordItem | RecordRows | CreateScope | UpdateScope | UpdateRun | AddEvent | AddFile | RemoveFile | AddLink
    | JournalMark
)


class EventRow(AddEvent):
    """An event as stored; ``seq`` orders the events of a store (assigned by the backend)."""

    __slots__ = ("seq",)

    def __init__(
        self, seq: int, run_id: str, name: str, time: float, step: int, duration: float | None, data: dict[str, Any]
    ) -> None:
        super().__init__(run_id, name, time, step, duration, data)
        self.seq = seq


class FileRow(AddFile):
    """A file row as stored (see :class:`AddFile`); ``removed`` is when retention deleted it, or None."""

    __slots__ = ("removed", "seq")

    def __init__(
        self,
        seq: int,
        run_id: str,
        name: str,
        kind: str,
        time: float,
        step: int,
        size: int | None,
        sha256: str | None,
        path: str | None,
        mtime: float | None,
        meta: dict[str, Any],
        removed: float | None,
    ) -> None:
        super().__init__(run_id, name, kind, time, step, size, sha256, path, mtime, meta)
        self.seq = seq
        self.removed = removed


class LinkRow(AddLink):
    """A link as stored; ``seq`` orders the links of a store."""

    __slots__ = ("seq",)

    def __init__(
        self, seq: int, source_id: str, target_id: str, relation: str, time: float, data: dict[str, Any]
    ) -> None:
        super().__init__(source_id, target_id, relation, time, data)
        self.seq = seq


@dataclasses.dataclass
class RawRecord:
    """A record as stored: its own values only. ``_records`` merges scope and run fields on top."""

    scope_id: int
    seq: int
    step: int
    time: float
    values: dict[str, Any]


@dataclasses.dataclass
class RecordQuery:
    """Which records to read. Every condition must be evaluated by the engine, not in Python.

    ``scope_ids`` restricts to records of those scopes (None: every scope of ``run_ids``).
    ``equals`` holds ``(key, value, fallback_scope_ids)``: a record matches when its own value for
    ``key`` equals ``value``, or when it has no own value and its scope is in ``fallback_scope_ids``
    (the scopes whose fields give ``key`` that value). It is a pre-filter: a backend may return more,
    never fewer, and the Records view checks exactly afterwards.
    ``steps`` is an inclusive (low, high) range; either end may be None.
    ``superseded`` holds ``(run_id, after_step, before_seq)``: records of that run with
    ``step > after_step`` and ``seq < before_seq`` are left out (a run resumed from an earlier
    checkpoint superseded them). Unlike ``equals`` it is exact: a backend must not return them.
    """

    run_ids: Sequence[str]
    scope_ids: frozenset[int] | None = None
    equals: Sequence[tuple[str, Any, frozenset[int]]] = ()
    steps: tuple[int | None, int | None] = (None, None)
    keys: frozenset[str] | None = None
    superseded: Sequence[tuple[str, int, int]] = ()


class Removed:
    """What ``delete_runs`` or ``collect_garbage`` removed (or, for a dry run, would remove).

    ``rows`` counts database rows by kind (``runs``, ``scopes``, ``records``, ``summary``, and any
    kind a backend adds, such as ``events`` or ``files``). ``bytes_before`` and ``bytes_after`` are
    the engine's storage size around the operation, measured from file sizes (SQLite) or relation
    sizes (PostgreSQL); for a dry run, ``bytes_after`` is what the size would become.
    """

    # A plain class, not a dataclass: generating dataclass methods costs import time on every start.
    __slots__ = ("bytes_after", "bytes_before", "rows")

    def __init__(self, rows: dict[str, int] | None = None, bytes_before: int = 0, bytes_after: int = 0) -> None:
        self.rows: dict[str, int] = {} if rows is None else rows
        self.bytes_before = bytes_before
        self.bytes_after = bytes_after

    @property
    def bytes_reclaimed(self) -> int:
        return max(0, self.bytes_before - self.bytes_after)

    def __repr__(self) -> str:
        return f"Removed(rows={self.rows!r}, bytes_before={self.bytes_before}, bytes_after={self.bytes_after})"


@dataclasses.dataclass
class KeySummary:
    """Latest and extreme values of one key in one run, kept up to date on every write."""

    last: Any
    last_step: int
    min: float | None
    max: float | None
    count: int


class Backend(abc.ABC):
    """The storage engine behind a Store. See the module docstring for shared obligations."""

    #: The store's address as the user gave it, with any password removed.
    url: str
    #: Folder holding run folders (meta.json, attachments, checkpoints); None if the engine has none.
    files_root: str | None
    #: Where this process's journal of the store lives (``_journal.py``); None keeps it in memory.
    journal_folder: str | None = None

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. Idempotent."""

    # --- collections -------------------------------------------------------------------------
    @abc.abstractmethod
    def ensure_collection(self, name: str) -> None:
        """Create the collection if it does not exist (safe to race)."""

    @abc.abstractmethod
    def collections(self) -> list[str]:
        """Collection names, oldest first."""

    # --- runs --------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_run(self, new: NewRun) -> RunRow:
        """Insert a running run and assign its number atomically.

        The number is the highest number in the collection, plus one unless every run holding the
        highest number ended with an error (then the failed number is retried).
        """

    @abc.abstractmethod
    def end_run(self, run_id: str, status: str, end_time: float, error: dict[str, Any] | None) -> RunRow:
        """Set a final status. For an error status, ``error_number`` becomes one more than the
        highest ``error_number`` of the failed runs with the same number; otherwise 0."""

    @abc.abstractmethod
    def set_status(self, run_id: str, status: str) -> None:
        """Change a live run's status (running ↔ paused, or back to running on resume)."""

    @abc.abstractmethod
    def update_config(self, run_id: str, config: dict[str, Any]) -> None:
        """Replace a run's stored config (the caller has checked that only new keys were added)."""

    def edit_run(self, run_id: str, fields: Mapping[str, Any]) -> None:
        """Change what a person may change about a run afterwards: ``name`` (text or None), ``tags``
        (a list of texts) and ``notes`` (text or None), only the keys given, in one statement. Records,
        config, numbers and status stay as they are; the run may be live in another process."""
        from recordkit._exceptions import StoreError

        raise StoreError(f"this store ({self.url!r}) cannot edit runs; use a folder or PostgreSQL store")

    @abc.abstractmethod
    def get_run(self, run_id: str) -> RunRow | None:
        """One run by exact id."""

    @abc.abstractmethod
    def find_runs(
        self,
        collection: str | None = None,
        *,
        number: int | None = None,
        id_prefix: str | None = None,
        statuses: Sequence[str] | None = None,
    ) -> list[RunRow]:
        """Runs matching every given condition, ordered by start time (oldest first)."""

    def reopen_run(self, run_id: str, host: str, pid: int, now: float) -> RunRow:
        """Make an ended (or crashed) run live again for ``collection.resume_run``: status running,
        no end time, error and ``error_number`` cleared, and the lease (host, pid, heartbeat=now)
        taken by the resuming process. Number, config, counters and records stay as they are.
        Atomic: if the run is already running or paused (another process resumed it first), raise
        :class:`recordkit.RunStateError` and change nothing."""
        from recordkit._exceptions import StoreError

        raise StoreError(f"this store ({self.url!r}) cannot resume runs yet; use a folder store")

    @abc.abstractmethod
    def reserve_scope_ids(self, count: int) -> range:
        """A block of ``count`` scope ids no other process will get."""

    # --- writing -----------------------------------------------------------------------------
    @abc.abstractmethod
    def write_batch(self, items: Sequence[WriteItem]) -> None:
        """Apply items in order in one transaction: scopes, scope fields, records (new keys and
        new key sets create columns or tables under the write lock), counters and summaries.
        Record values are already plain Python (materialised). A :class:`JournalMark` last in
        ``items`` is stored in the same transaction; when the stored mark of that journal is
        already at or beyond it, nothing is written (the batch was committed before)."""

    def journal_mark(self, journal: str) -> tuple[int, int] | None:
        """(entries, ring offset) the journal ``journal`` is stored up to, or None if never."""
        return None

    def forget_journal(self, journal: str) -> None:  # noqa: B027 - optional: a backend may keep no marks
        """Drop the mark of a journal whose file is gone (it will never be replayed again)."""

    # --- reading -----------------------------------------------------------------------------
    @abc.abstractmethod
    def scopes(self, run_ids: Iterable[str]) -> dict[int, ScopeRow]:
        """Every scope of the given runs."""

    @abc.abstractmethod
    def iter_records(self, query: RecordQuery) -> Iterator[tuple[str, RawRecord]]:
        """(run_id, record) pairs, runs in the order of ``query.run_ids``, records in log order."""

    @abc.abstractmethod
    def count_records(self, query: RecordQuery) -> int:
        """How many records ``iter_records`` would yield."""

    @abc.abstractmethod
    def aggregate(self, query: RecordQuery, key: str, function: str) -> Any:
        """``function`` (count, sum, avg, min, max) of a key's numeric values over the query's records.
        Only own values count (not scope fields); NaN is skipped, as pandas does."""

    @abc.abstractmethod
    def keys(self, run_ids: Iterable[str]) -> list[str]:
        """Every record key ever logged in those runs, in first-seen order (bare keys: ``loss``, never a
        series label such as ``phase=eval/loss``)."""

    @abc.abstractmethod
    def summary(self, run_id: str) -> dict[str, KeySummary]:
        """Per series (``loss``, ``phase=eval/loss``: see ``backends/labels.py``) last/min/max/count of a run."""

    @abc.abstractmethod
    def max_seq(self, run_id: str) -> int:
        """Highest record sequence number of a run (-1 if none), so a resumed run continues it."""

    def series(
        self, run_id: str, key: str, *, after_seq: int = -1, superseded: Sequence[tuple[str, int, int]] = ()
    ) -> dict[int, list[tuple[int, int, float, Any]]]:
        """Per scope id, the ``(seq, step, time, value)`` of every record of the run that holds an own,
        non-null value for ``key`` and has ``seq > after_seq``, in log order; ``superseded`` as in
        :class:`RecordQuery` (exact). Not abstract: this default reads through :meth:`iter_records`;
        an engine answers it faster by reading only the key's column.
        """
        out: dict[int, list[tuple[int, int, float, Any]]] = {}
        query = RecordQuery(run_ids=[run_id], keys=frozenset({key}), superseded=superseded)
        for _, raw in self.iter_records(query):
            value = raw.values.get(key)
            if raw.seq > after_seq and value is not None:
                out.setdefault(raw.scope_id, []).append((raw.seq, raw.step, raw.time, value))
        return out

    # --- listing, deleting, collecting garbage (not abstract: a new engine may add them later) ------
    def summaries(self, run_ids: Iterable[str]) -> dict[str, dict[str, KeySummary]]:
        """Per run, what :meth:`summary` gives for it, for many runs in one round trip.

        ``recordkit ls`` lists 10,000 runs with their latest metrics in well under a second (DESIGN §5),
        so an engine answers this with one query (``... WHERE run_id IN (...)``, or ``= ANY(%s)`` in
        PostgreSQL), not one per run. Obligations:

        * every requested run id is a key of the result, mapped to ``{}`` when it has no summary
          (unknown ids too), and no other run is;
        * each run's keys are in first-logged order, exactly as ``summary(run_id)`` orders them;
        * values are decoded exactly as ``summary`` decodes them (NaN, datetimes, lists round-trip).

        This default asks :meth:`summary` once per run: correct, but slow for thousands of runs.
        """
        return {run_id: self.summary(run_id) for run_id in run_ids}

    def last_values(self, run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Per run, the last value of each key: ``summaries`` without last_step/min/max/count.

        What ``recordkit ls`` shows. Same obligations as :meth:`summaries` (every requested id a key,
        first-logged key order, exact values); an engine may answer it with a narrower query. This
        default derives it from :meth:`summaries`.
        """
        return {
            run_id: {key: stats.last for key, stats in summary.items()}
            for run_id, summary in self.summaries(run_ids).items()
        }

    def delete_runs(self, run_ids: Sequence[str], *, dry_run: bool = False) -> Removed:
        """Delete these runs and everything stored for them, in one transaction.

        Everything means every row that belongs to the runs: the run rows, their scopes, the records
        of those scopes in every records table, their summaries, and the rows of any table a later
        feature adds (events, file index, links). Run folders are not the backend's business (the
        Store removes them). Unknown ids are skipped. With ``dry_run`` nothing changes and the counts
        say what would be deleted. ``rows`` counts by kind; the byte fields may stay 0 (space is
        reclaimed by :meth:`collect_garbage`). An engine without it raises StoreError (a clean CLI error).
        """
        from recordkit._exceptions import StoreError

        raise StoreError(f"this store's engine ({type(self).__name__}) cannot delete runs yet; upgrade recordkit")

    def collect_garbage(self, *, dry_run: bool = False) -> Removed:
        """Delete rows no run refers to any more, then give the freed space back to the file system.

        Orphans are scopes (and summaries, events, file rows…) whose run is gone, and records whose
        scope is gone — left behind, for example, by a live run that kept writing after it was
        force-deleted. Then the engine compacts (SQLite: ``VACUUM`` and a WAL checkpoint).
        ``bytes_before``/``bytes_after`` are the storage size around it, measured, not estimated;
        with ``dry_run`` nothing changes, and ``bytes_after`` is the size a real run would leave
        (computed on a scratch copy), so ``gc`` then reclaims what ``gc --dry-run`` announced
        when nothing wrote in between.
        """
        from recordkit._exceptions import StoreError

        raise StoreError(f"this store's engine ({type(self).__name__}) cannot collect garbage yet; upgrade recordkit")

    def seems_reachable(self) -> bool:
        """Whether the engine is believed reachable now, without asking it (no I/O): a server known to be
        away (batches waiting in a spool) answers False, so optional reads (the liveness pass at a run's
        start) are skipped instead of waiting on the network. A file engine is always reachable."""
        return True

    def referenced_blobs(self) -> set[str] | None:
        """The sha256 of every blob a file row refers to, or None when this engine keeps no file index.

        ``Store.gc`` removes the files under ``<store>/blobs/<sha[:2]>/<sha>`` that are not in this
        set. None (the default) means "unknown": blobs are then left alone, never deleted.
        """
        return None

    # --- analytics (optional) ----------------------------------------------------------------
    def sql(
        self, query: str, params: Sequence[Any] | Mapping[str, Any], *, timeout: float = 30.0
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """(column names, rows) of one read-only query over the views documented in docs/analytics.md.

        Parameters are bound by the engine, never pasted. Anything that would write, a function that
        is not plainly computing, and a query still running after ``timeout`` seconds must raise
        :class:`recordkit.QueryError`. Engines without SQL views keep this default.
        """
        from recordkit._exceptions import QueryError

        raise QueryError(f"{type(self).__name__} does not support store.sql(); export to Parquet and use DuckDB")

    # --- events, files, links (written through write_batch as AddEvent/AddFile/RemoveFile/AddLink).
    # Not abstract, so an engine written before them still opens: its defaults store none of them.
    def events(self, run_ids: Iterable[str] | None, prefix: str | None = None) -> list[EventRow]:
        """Events of the given runs (None: every run), in the order they were written. With
        ``prefix``, only events named ``prefix`` or below it (``prefix/…``), matched literally."""
        return []

    def files(self, run_ids: Iterable[str] | None) -> list[FileRow]:
        """File rows of the given runs (None: every run, used to find unreferenced blobs), in the
        order they were written; removed rows included (``removed`` is set)."""
        return []

    def links(self, run_id: str) -> list[LinkRow]:
        """Links whose source or target is ``run_id``, in the order they were written."""
        return []


def merged_scope_fields(scopes: Mapping[int, ScopeRow]) -> dict[int, dict[str, Any]]:
    """Each scope's fields merged with its ancestors' (nearest wins). Pure; used by every backend."""
    merged: dict[int, dict[str, Any]] = {}

    def resolve(scope_id: int) -> dict[str, Any]:
        if scope_id in merged:
            return merged[scope_id]
        row = scopes[scope_id]
        base = resolve(row.parent_id) if row.parent_id is not None and row.parent_id in scopes else {}
        merged[scope_id] = {**base, **row.fields}
        return merged[scope_id]

    for scope_id in scopes:
        resolve(scope_id)
    return merged
