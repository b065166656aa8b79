"""The backend seam: everything recordkit needs from a storage engine, and nothing more.

A backend is chosen by the store's URL (a folder path → SQLite, ``postgresql://`` → PostgreSQL).
Everything above this seam (runs, scopes, the writer, the flat Records view, the CLI) talks only to
the methods below, so a new engine is one module that subclasses :class:`Backend`.

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
from collections.abc import Iterable, Iterator, Mapping, Sequence
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


@dataclasses.dataclass
class ScopeRow:
    """A scope: its own fields (not its ancestors'), its parent scope and its run."""

    id: int
    run_id: str
    parent_id: int | None
    fields: dict[str, Any]


# Items the writer hands to write_batch, in the order the caller produced them.
@dataclasses.dataclass
class CreateScope:
    id: int
    run_id: str
    parent_id: int | None
    fields: dict[str, Any]


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


# A record item is a plain tuple for speed: (run_id, scope_id, seq, step, time, values).
RecordItem = tuple[str, int, int, int, float, dict[str, Any]]
WriteItem = RecordItem | CreateScope | UpdateScope | UpdateRun


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
    """

    run_ids: Sequence[str]
    scope_ids: frozenset[int] | None = None
    equals: Sequence[tuple[str, Any, frozenset[int]]] = ()
    steps: tuple[int | None, int | None] = (None, None)
    keys: frozenset[str] | None = None


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

    @abc.abstractmethod
    def reserve_scope_ids(self, count: int) -> range:
        """A block of ``count`` scope ids no other process will get."""

    # --- writing -----------------------------------------------------------------------------
    @abc.abstractmethod
    def write_batch(self, items: Sequence[WriteItem]) -> None:
        """Apply items in order in one transaction: scopes, scope fields, records (new keys and
        new key sets create columns or tables under the write lock), counters and summaries.
        Record values are already plain Python (materialised)."""

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
        """Every record key ever logged in those runs, in first-seen order."""

    @abc.abstractmethod
    def summary(self, run_id: str) -> dict[str, KeySummary]:
        """Per-key last/min/max/count of a run."""

    @abc.abstractmethod
    def max_seq(self, run_id: str) -> int:
        """Highest record sequence number of a run (-1 if none), so a resumed run continues it."""

    # --- analytics (optional) ----------------------------------------------------------------
    def sql(self, query: str, params: Sequence[Any] | Mapping[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        """(column names, rows) of one read-only query over the views documented in docs/analytics.md.

        Parameters are bound by the engine, never pasted. Anything that would write must raise
        :class:`recordkit.QueryError`. Engines without SQL views keep this default.
        """
        from recordkit._exceptions import QueryError

        raise QueryError(f"{type(self).__name__} does not support store.sql(); export to Parquet and use DuckDB")


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
