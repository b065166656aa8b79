"""The SQL core: every :class:`~recordkit.backends.base.Backend` method written once, over a Dialect.

SQLite and PostgreSQL hold the same tables (``collections``, ``runs``, ``scopes``, ``summary``,
``events``, ``files``, ``links``, the records tables of ``tables.py``), so runs, scopes, reads,
summaries, deletes and the write pipeline (``writing.py``) are the same statements with ``?``
placeholders; what the engines spell differently is asked of :attr:`SQLBackend.dialect`. An engine
subclass brings connections (:meth:`SQLBackend._connect`), its error boundary
(:meth:`SQLBackend._errors`) and what only it has (SQLite's garbage collection and SQL views,
PostgreSQL's spool).

Connections are one per thread (the writer thread and readers never share one) and are started
afresh in a forked child.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import heapq
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from recordkit import _values as V
from recordkit._exceptions import RunStateError, StorageUnavailableError, StoreError
from recordkit.backends.base import (
    ERROR_STATUSES,
    LIVE_STATUSES,
    Backend,
    EventRow,
    FileRow,
    KeySummary,
    LazyEnvRunRow,
    LinkRow,
    NewRun,
    RawRecord,
    RecordQuery,
    Removed,
    RunRow,
    ScopeRow,
    WriteItem,
)
from recordkit.backends.dialect import NO_FIT, Dialect
from recordkit.backends.marks import JournalMarks
from recordkit.backends.tables import RecordTables, Table, next_value

# Tables whose rows belong to a run: (kind reported to the user, table, the column holding the run id).
# Deleting a run deletes its rows in each, and gc deletes the rows whose run is gone. A feature that
# adds a per-run table adds a line here. A table may be listed twice (a link belongs to both its
# runs). Records belong to a run through their scope and are handled apart; ``runs`` comes last.
RUN_OWNED_TABLES: tuple[tuple[str, str, str], ...] = (
    ("summary", "summary", "run_id"),
    ("events", "events", "run_id"),
    ("files", "files", "run_id"),
    ("links", "links", "source_id"),
    ("links", "links", "target_id"),
    ("scopes", "scopes", "run_id"),
)

_RUN_COLUMNS = (
    "r.id, c.name, r.number, r.error_number, r.name, r.status, r.start_time, r.end_time, r.config, "
    "r.env, r.tags, r.parent_id, r.step, r.epoch, r.error, r.host, r.pid, r.heartbeat, r.folder, "
    "r.root_scope, r.notes"
)
# The same without the env (NULL in its place): listing runs reads each env only if asked for it.
_RUN_COLUMNS_NO_ENV = _RUN_COLUMNS.replace("r.env,", "NULL,")
_RUN_FROM = "runs r JOIN collections c ON c.id = r.collection_id"
_ADD_COLLECTION = "INSERT INTO collections (name, created) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"

# The columns the read methods select, in the order the row builders below expect.
EVENT_COLUMNS = "seq, run_id, name, time, step, duration, data"
FILE_COLUMNS = "seq, run_id, name, kind, time, step, size, sha256, path, mtime, meta, removed"
LINK_COLUMNS = "seq, source_id, target_id, relation, time, data"

_F = TypeVar("_F", bound=Callable[..., Any])


def retried(method: _F) -> _F:
    """Try once more on a fresh connection when the connection was lost: an idle connection to a
    server may have died since its last use. (A file engine never loses one, so it runs once.)"""

    @functools.wraps(method)
    def again(self: SQLBackend, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except StorageUnavailableError:
            return method(self, *args, **kwargs)

    return again  # type: ignore[return-value]


class SQLBackend(JournalMarks, Backend):
    """A Backend over SQL tables; see the module docstring. Subclasses set ``url`` and ``files_root``."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._pid = os.getpid()
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.RLock()  # re-entered: a locked section may open or drop a connection
        self._registry = RecordTables(dialect)
        self._closed = False

    # --- what an engine brings ---------------------------------------------------------------
    @abc.abstractmethod
    def _connect(self) -> Any:
        """A new connection, in autocommit mode, ready for the store's tables."""

    @abc.abstractmethod
    def _errors(self, action: str) -> AbstractContextManager[None]:
        """The engine's one boundary where driver errors become recordkit errors (``action`` names
        what was being done, for the message)."""

    def _usable(self, conn: Any) -> bool:
        """Whether a thread's connection can still be used (a server may have closed it)."""
        return True

    def _after_fork(self) -> None:
        """A forked child must not use its parent's connections: start afresh."""
        self._pid = os.getpid()
        self._local = threading.local()
        self._connections = []
        self._lock = threading.RLock()

    def _stream(self, name: str, statement: str, params: Sequence[Any]) -> Iterator[Sequence[Any]]:
        """The rows of one query over the records table ``name``. Several streams of one connection
        are consumed interleaved (``heapq.merge`` does)."""
        with self._errors(f"reading {name}"):
            yield from self._conn().execute(statement, params)

    def _first_time(self, conn: Any, batch_id: str) -> bool:
        """Record that the batch ``batch_id`` is being committed; False if it was already (a replay)."""
        return True

    # --- connections -------------------------------------------------------------------------
    def _conn(self) -> Any:
        if self._pid != os.getpid():
            self._after_fork()
        conn = getattr(self._local, "conn", None)
        if conn is None or not self._usable(conn):
            if self._closed:
                raise StoreError(f"the store {self.url!r} is closed; open it again with rk.open()")
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _drop_connection(self) -> None:
        """Forget this thread's connection (it broke): the next call opens a new one."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
            with self._lock, contextlib.suppress(ValueError):
                self._connections.remove(conn)

    @contextlib.contextmanager
    def _write(self, action: str, *, commit: bool = True) -> Iterator[Any]:
        """This thread's connection in a write transaction, inside the error boundary; with ``commit``
        False the transaction is rolled back at the end (a dry run)."""
        with self._errors(action):
            conn = self._conn()
            with self.dialect.transaction(conn, commit=commit):
                yield conn

    def close(self) -> None:
        self._closed = True
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(Exception):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

    # --- collections -------------------------------------------------------------------------
    @retried
    def ensure_collection(self, name: str) -> None:
        sql = self.dialect.sql
        with self._errors(f"creating collection {name!r}"):
            if self._conn().execute(sql("SELECT 1 FROM collections WHERE name = ?"), (name,)).fetchone():
                return
        with self._write(f"creating collection {name!r}") as conn:
            conn.execute(sql(_ADD_COLLECTION), (name, time.time()))

    @retried
    def collections(self) -> list[str]:
        with self._errors("listing collections"):
            return [r[0] for r in self._conn().execute("SELECT name FROM collections ORDER BY id")]

    # --- runs --------------------------------------------------------------------------------
    @retried
    def create_run(self, new: NewRun) -> RunRow:
        dialect = self.dialect
        sql = dialect.sql
        with self._write(f"starting a run in {new.collection!r}") as conn:
            conn.execute(sql(_ADD_COLLECTION), (new.collection, new.start_time))
            # The collection's row lock (SQLite: the write lock) serialises numbering across processes.
            (collection_id,) = conn.execute(
                sql(f"SELECT id FROM collections WHERE name = ?{dialect.for_update}"), (new.collection,)
            ).fetchone()
            # (Present already when a first attempt committed but its answer was lost: keep it.)
            if conn.execute(sql("SELECT 1 FROM runs WHERE id = ?"), (new.id,)).fetchone() is None:
                self._insert_run(conn, collection_id, new)
        row = self.get_run(new.id)
        assert row is not None
        return row

    def _insert_run(self, conn: Any, collection_id: int, new: NewRun) -> None:
        sql = self.dialect.sql
        number = self._next_number(conn, collection_id, new.parent_id)
        conn.execute(
            sql("INSERT INTO runs (id, collection_id, number, error_number, name, status, start_time,"
                " config, env, tags, parent_id, host, pid, heartbeat, folder, root_scope, notes)"
                " VALUES (?, ?, ?, 0, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            (
                new.id, collection_id, number, new.name, new.start_time, V.dumps(new.config),
                V.dumps(new.env), json.dumps(new.tags), new.parent_id, new.host, new.pid,
                new.start_time, new.folder, new.root_scope, new.notes,
            ),
        )
        conn.execute(
            sql("INSERT INTO scopes (id, run_id, parent_id, fields, label) VALUES (?, ?, NULL, '{}', '')"
                " ON CONFLICT DO NOTHING"),
            (new.root_scope, new.id),
        )

    def _next_number(self, conn: Any, collection_id: int, parent_id: str | None, *, exclude: str = "") -> int:
        same = self.dialect.same
        holders = list(
            conn.execute(
                self.dialect.sql(
                    f"SELECT status, error FROM runs WHERE collection_id = ? AND parent_id {same} ? AND id != ?"
                    f" AND number = (SELECT max(number) FROM runs WHERE collection_id = ? AND parent_id {same} ?"
                    " AND id != ?)"
                ),
                (collection_id, parent_id, exclude, collection_id, parent_id, exclude),
            )
        )
        if not holders:
            return 1
        (top,) = conn.execute(
            self.dialect.sql(
                f"SELECT max(number) FROM runs WHERE collection_id = ? AND parent_id {same} ? AND id != ?"
            ),
            (collection_id, parent_id, exclude),
        ).fetchone()
        # Retry a number only while every run holding it ended with an error it is sure of: a run declared
        # crashed because its heartbeat stopped reaching the store (the lease) may be alive behind an outage
        # and finish later, so it keeps its number to itself.
        reusable = all(status in ERROR_STATUSES and not lease_verdict(error) for status, error in holders)
        return int(top) if reusable else int(top) + 1

    def end_run(self, run_id: str, status: str, end_time: float, error: dict[str, Any] | None) -> RunRow:
        self._end_run(run_id, status, end_time, error)
        row = self.get_run(run_id)
        assert row is not None
        return row

    @retried
    def _end_run(self, run_id: str, status: str, end_time: float, error: dict[str, Any] | None) -> None:
        dialect = self.dialect
        sql = dialect.sql
        with self._write(f"ending run {run_id!r}") as conn:
            found = conn.execute(
                sql("SELECT collection_id, parent_id, number FROM runs WHERE id = ?"), (run_id,)
            ).fetchone()
            if found is None:
                raise StoreError(f"run {run_id!r} vanished from the store while it was running")
            collection_id, parent_id, number = found
            # Error numbers are counted under the collection's lock, as run numbers are.
            conn.execute(sql(f"SELECT 1 FROM collections WHERE id = ?{dialect.for_update}"), (collection_id,))
            if status not in ERROR_STATUSES and conn.execute(
                sql(f"SELECT 1 FROM runs WHERE collection_id = ? AND parent_id {dialect.same} ? AND number = ?"
                    " AND id != ? AND status = 'finished'"),
                (collection_id, parent_id, number, run_id),
            ).fetchone():
                # Two finished runs never share a number: this one was given up for crashed and its number
                # retried while it was in fact alive (an outage longer than the lease): it takes the next one.
                number = self._next_number(conn, collection_id, parent_id, exclude=run_id)
                conn.execute(sql("UPDATE runs SET number = ? WHERE id = ?"), (number, run_id))
            error_number = 0
            if status in ERROR_STATUSES:
                (previous,) = conn.execute(
                    sql(f"SELECT coalesce(max(error_number), 0) FROM runs WHERE collection_id = ?"
                        f" AND parent_id {dialect.same} ? AND number = ? AND id != ?"
                        f" AND {dialect.is_in('status')}"),
                    (collection_id, parent_id, number, run_id, dialect.listed(ERROR_STATUSES)),
                ).fetchone()
                error_number = int(previous) + 1
            conn.execute(
                sql("UPDATE runs SET status = ?, end_time = ?, error = ?, error_number = ? WHERE id = ?"),
                (status, end_time, None if error is None else V.dumps(error), error_number, run_id),
            )

    @retried
    def set_status(self, run_id: str, status: str) -> None:
        sql = self.dialect.sql
        with self._write(f"setting the status of run {run_id!r}") as conn:
            conn.execute(
                sql("UPDATE runs SET status = ?, end_time = CASE WHEN ? IN ('running', 'paused')"
                    " THEN NULL ELSE end_time END WHERE id = ?"),
                (status, status, run_id),
            )

    @retried
    def update_config(self, run_id: str, config: dict[str, Any]) -> None:
        with self._write(f"updating the config of run {run_id!r}") as conn:
            conn.execute(self.dialect.sql("UPDATE runs SET config = ? WHERE id = ?"), (V.dumps(config), run_id))

    _EDITABLE = ("name", "tags", "notes")

    def edit_run(self, run_id: str, fields: Mapping[str, Any]) -> None:
        unknown = set(fields) - set(self._EDITABLE)
        if unknown:
            raise ValueError(f"edit_run changes only {', '.join(self._EDITABLE)}, not {sorted(unknown)!r}")
        chosen = [key for key in self._EDITABLE if key in fields]
        if not chosen:
            return
        values = [json.dumps(list(fields[k])) if k == "tags" else fields[k] for k in chosen]
        assignments = ", ".join(f"{key} = ?" for key in chosen)  # names from _EDITABLE only; values bound
        with self._write(f"editing run {run_id!r}") as conn:
            conn.execute(self.dialect.sql(f"UPDATE runs SET {assignments} WHERE id = ?"), (*values, run_id))

    @retried
    def reopen_run(self, run_id: str, host: str, pid: int, now: float) -> RunRow:
        dialect = self.dialect
        sql = dialect.sql
        with self._write(f"reopening run {run_id!r}") as conn:
            # The row lock makes two resumers of one run take turns: the second sees it running.
            found = conn.execute(sql(f"SELECT status FROM runs WHERE id = ?{dialect.for_update}"), (run_id,)).fetchone()
            if found is not None and found[0] in LIVE_STATUSES:
                raise RunStateError(f"run {run_id!r} is {found[0]}: another process resumed it first")
            conn.execute(
                sql("UPDATE runs SET status = 'running', end_time = NULL, error = NULL, error_number = 0,"
                    " host = ?, pid = ?, heartbeat = ? WHERE id = ?"),
                (host, pid, now, run_id),
            )
        row = self.get_run(run_id)
        if row is None:
            raise StoreError(f"run {run_id!r} is not in the store {self.url!r}")
        return row

    def get_run(self, run_id: str) -> RunRow | None:
        rows = self._select_runs("r.id = ?", (run_id,), with_env=True)
        return rows[0] if rows else None

    def find_runs(
        self,
        collection: str | None = None,
        *,
        number: int | None = None,
        id_prefix: str | None = None,
        statuses: Sequence[str] | None = None,
    ) -> list[RunRow]:
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if collection is not None:
            where.append("c.name = ?")
            params.append(collection)
        if number is not None:
            where.append("r.number = ? AND r.parent_id IS NULL")
            params.append(number)
        if id_prefix is not None:
            # substr, not LIKE: a prefix holding % or _ must match literally.
            where.append("substr(r.id, 1, ?) = ?")
            params.extend([len(id_prefix), id_prefix])
        if statuses is not None:
            where.append(self.dialect.is_in("r.status"))
            params.append(self.dialect.listed(statuses))
        return self._select_runs(" AND ".join(where), params)

    @retried
    def _select_runs(self, where: str, params: Sequence[Any], *, with_env: bool = False) -> list[RunRow]:
        columns = _RUN_COLUMNS if with_env else _RUN_COLUMNS_NO_ENV
        order = self.dialect.insert_order
        with self._errors("reading runs"):
            cursor = self._conn().execute(
                self.dialect.sql(f"SELECT {columns} FROM {_RUN_FROM} WHERE {where} ORDER BY r.start_time, r.{order}"),
                params,
            )
            rows = cursor.fetchall()
        # Configs and tags of all rows are parsed with one json.loads each (one call per value costs
        # several times more for thousands of runs); only configs holding a tag need V.decode.
        configs = _loads_many([r[8] for r in rows])
        tags = json.loads("[" + ",".join(r[10] for r in rows) + "]")
        load_env = V.loads if with_env else self._load_env
        deferred = LazyEnvRunRow.deferred
        # The env (the largest part of a run, tens of kB) is read and decoded only when asked for.
        return [
            deferred(
                load_env, r[9] if with_env else r[0],
                id=r[0], collection=r[1], number=r[2], error_number=r[3], name=r[4], status=r[5],
                start_time=r[6], end_time=r[7], config=config,
                tags=tag_list, parent_id=r[11], step=r[12], epoch=r[13],
                error=None if r[14] is None else V.loads(r[14]), host=r[15], pid=r[16], heartbeat=r[17],
                folder=r[18], root_scope=r[19], notes=r[20],
            )
            for r, config, tag_list in zip(rows, configs, tags, strict=True)
        ]

    def _load_env(self, run_id: str) -> dict[str, Any]:
        """One run's env, read when a row listed without it is asked for it (even after close())."""
        statement, params = self.dialect.sql("SELECT env FROM runs WHERE id = ?"), (run_id,)
        with self._errors(f"reading the environment of run {run_id!r}"):
            if self._closed:
                with contextlib.closing(self._connect()) as conn:
                    found = conn.execute(statement, params).fetchone()
            else:
                found = self._conn().execute(statement, params).fetchone()
        return {} if found is None else dict(V.loads(found[0]))

    def reserve_scope_ids(self, count: int) -> range:
        end = self._reserve(count)
        return range(end - count + 1, end + 1)

    @retried
    def _reserve(self, count: int) -> int:
        with self._write("reserving scope ids") as conn:
            return next_value(conn, self.dialect, "scope", count)

    # --- writing -----------------------------------------------------------------------------
    def write_batch(self, items: Sequence[WriteItem]) -> None:
        with self._errors("writing a batch"):
            self._commit_batch(self._conn(), items)

    def _commit_batch(self, conn: Any, items: Sequence[WriteItem], batch_id: str | None = None) -> None:
        """Apply ``items`` in one transaction; a ``batch_id`` or a journal mark committed before changes nothing."""
        try:
            with self.dialect.transaction(conn):
                self._apply_once(conn, items, batch_id)  # backends/marks.py
        except BaseException:
            self._registry.forget()  # tables or columns made in the rolled-back transaction are gone
            raise

    # --- reading -----------------------------------------------------------------------------
    @retried
    def scopes(self, run_ids: Iterable[str]) -> dict[int, ScopeRow]:
        dialect = self.dialect
        with self._errors("reading scopes"):
            cursor = self._conn().execute(
                dialect.sql(f"SELECT id, run_id, parent_id, fields, label FROM scopes WHERE {dialect.is_in('run_id')}"
                            " ORDER BY id"),
                (dialect.listed(run_ids),),
            )
            return {r[0]: ScopeRow(r[0], r[1], r[2], V.loads(r[3]), r[4]) for r in cursor}

    @retried
    def _tables_for_read(self) -> list[Table]:
        with self._lock, self._errors("reading the record tables"):
            self._registry.load(self._conn())
            return list(self._registry.tables.values())

    def _where(self, table: Table, query: RecordQuery, run_id: str | None) -> tuple[str, list[Any]] | None:
        """SQL conditions for one table and run (a pre-filter: never fewer rows than match); None when
        the table cannot hold a match.

        With ``run_id`` None the conditions span every run of ``query.scope_ids`` (scope ids are unique
        across runs), so counts and aggregates take one statement per table instead of one per run.
        """
        dialect = self.dialect
        conds: list[str] = []
        params: list[Any] = []
        if query.keys is not None and not (table.cols.keys() & query.keys):
            if not table.may_overflow():
                return None
            conds.append("extra IS NOT NULL")  # the wanted keys can only be in the overflow column
        if query.scope_ids is not None:
            if not query.scope_ids:
                return None
            conds.append(dialect.is_in("scope_id"))
            params.append(dialect.listed(sorted(query.scope_ids)))
        if run_id is not None or query.scope_ids is None:
            conds.append("scope_id IN (SELECT id FROM scopes WHERE run_id = ?)")
            params.append(run_id)
        for superseded_run, after_step, before_seq in query.superseded:
            if superseded_run == run_id:  # exact, not a pre-filter: a resume superseded these
                conds.append("NOT (step > ? AND seq < ?)")
                params.extend([after_step, before_seq])
        low, high = query.steps
        if low is not None:
            conds.append("step >= ?")
            params.append(low)
        if high is not None:
            conds.append("step <= ?")
            params.append(high)
        for key, value, fallback in query.equals:
            # Own value equal, or no own value and a scope whose fields give the value.
            has_sql, has_params = dialect.extra_has(key)
            equal_sql, equal_params = dialect.extra_equals(key, value)
            from_scope = f"((NOT {has_sql} AND {dialect.is_in('scope_id')}) OR {equal_sql})"
            from_scope_params = [*has_params, dialect.listed(sorted(fallback)), *equal_params]
            col = table.cols.get(key)
            stored = NO_FIT
            if col is not None and value is not None:
                stored = dialect.to_column(value, dialect.kind_of(value), table.kinds[key])
            if col is None:
                conds.append(from_scope)
                params.extend(from_scope_params)
            elif stored is NO_FIT:
                conds.append(f"({col} IS NULL AND {from_scope})")
                params.extend(from_scope_params)
            else:
                conds.append(f"({col} = ? OR ({col} IS NULL AND {from_scope}))")
                params.extend([stored, *from_scope_params])
        return " AND ".join(conds), params

    def _statement_runs(self, query: RecordQuery) -> Sequence[str | None]:
        """One statement per run, or a single one when scope ids alone say which rows count."""
        return [None] if query.scope_ids is not None and not query.superseded else query.run_ids

    def iter_records(self, query: RecordQuery) -> Iterator[tuple[str, RawRecord]]:
        tables = self._tables_for_read()
        for run_id in query.run_ids:
            streams = []
            for table in tables:
                where = self._where(table, query, run_id)
                if where is not None:
                    streams.append(self._read_table(table, *where))
            for record in heapq.merge(*streams, key=_seq):
                yield run_id, record

    def _read_table(self, table: Table, where: str, params: list[Any]) -> Iterator[RawRecord]:
        columns = "".join(f", {table.cols[k]}" for k in table.order)
        kinds = [table.kinds[k] for k in table.order]
        keys = table.order
        plain = self.dialect.plain_kinds
        statement = f"SELECT scope_id, seq, step, time{columns}, extra FROM {table.name} WHERE {where} ORDER BY seq"
        for row in self._stream(table.name, self.dialect.sql(statement), params):
            values: dict[str, Any] = {}
            for i, key in enumerate(keys):
                value = row[4 + i]
                if value is not None:
                    kind = kinds[i]
                    values[key] = value if kind in plain else V.from_column(value, kind)  # type: ignore[arg-type]
            if row[-1] is not None:
                values.update(V.loads(row[-1]))
            yield RawRecord(row[0], row[1], row[2], row[3], values)

    @retried
    def count_records(self, query: RecordQuery) -> int:
        total = 0
        with self._errors("counting records"):
            conn = self._conn()
            for table in self._tables_for_read():
                for run_id in self._statement_runs(query):
                    where = self._where(table, query, run_id)
                    if where is not None:
                        statement = f"SELECT count(*) FROM {table.name} WHERE {where[0]}"
                        total += conn.execute(self.dialect.sql(statement), where[1]).fetchone()[0]
        return total

    @retried
    def aggregate(self, query: RecordQuery, key: str, function: str) -> Any:
        count, total, low, high = 0, 0.0, None, None
        with self._errors(f"aggregating {key!r}"):
            conn = self._conn()
            for table in self._tables_for_read():
                for run_id in self._statement_runs(query):
                    where = self._where(table, query, run_id)
                    if where is None:
                        continue
                    statement, head = self.dialect.aggregate(table, key, where[0])
                    n, t, lo, hi = conn.execute(self.dialect.sql(statement), [*head, *where[1]]).fetchone()
                    count += n
                    total += t
                    if lo is not None:
                        low = lo if low is None else min(low, lo)
                        high = hi if high is None else max(high, hi)
        return finish_aggregate(function, count, total, low, high)

    @retried
    def series(
        self, run_id: str, key: str, *, after_seq: int = -1, superseded: Sequence[tuple[str, int, int]] = ()
    ) -> dict[int, list[tuple[int, int, float, Any]]]:
        from recordkit.backends.series import read_series

        return read_series(self, run_id, key, after_seq, superseded)

    @retried
    def keys(self, run_ids: Iterable[str]) -> list[str]:
        dialect = self.dialect
        with self._errors("listing keys"):
            cursor = self._conn().execute(
                dialect.sql(f"SELECT coalesce(name, key) FROM summary WHERE {dialect.is_in('run_id')}"
                            f" GROUP BY coalesce(name, key) ORDER BY min({dialect.insert_order})"),
                (dialect.listed(run_ids),),
            )
            return [r[0] for r in cursor]

    @retried
    def summary(self, run_id: str) -> dict[str, KeySummary]:
        with self._errors(f"reading the summary of run {run_id!r}"):
            cursor = self._conn().execute(
                self.dialect.sql("SELECT key, last, last_step, min, max, count FROM summary WHERE run_id = ?"
                                 f" ORDER BY {self.dialect.insert_order}"),
                (run_id,),
            )
            return {r[0]: KeySummary(V.loads(r[1]), r[2], r[3], r[4], r[5]) for r in cursor}

    def summaries(self, run_ids: Iterable[str]) -> dict[str, dict[str, KeySummary]]:
        out: dict[str, dict[str, KeySummary]] = {run_id: {} for run_id in run_ids}
        rows = self._summary_rows(out, "run_id, key, last, last_step, min, max, count")
        for (run_id, key, _, last_step, low, high, count), last in zip(rows, _decode_lasts(rows), strict=True):
            found = out.get(run_id)
            if found is not None:  # a scan of the whole table also meets runs not asked for
                found[key] = KeySummary(last, last_step, low, high, count)
        return out

    def last_values(self, run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {run_id: {} for run_id in run_ids}
        rows = self._summary_rows(out, "run_id, key, last")
        for (run_id, key, _), last in zip(rows, _decode_lasts(rows), strict=True):
            found = out.get(run_id)
            if found is not None:  # a scan of the whole table also meets runs not asked for
                found[key] = last
        return out

    @retried
    def _summary_rows(self, run_ids: Mapping[str, Any], columns: str) -> list[Any]:
        """Summary rows (``columns``, run id first and ``last`` third) of at least these runs, in log order."""
        if not run_ids:
            return []
        dialect = self.dialect
        order = dialect.insert_order
        with self._errors("reading run summaries"):
            conn = self._conn()
            (runs,) = conn.execute("SELECT count(*) FROM runs").fetchone()
            if len(run_ids) * 2 >= runs:  # most runs (as `ls` asks): one scan in log order, no IN, no sort
                return list(conn.execute(f"SELECT {columns} FROM summary ORDER BY {order}").fetchall())
            return list(conn.execute(
                dialect.sql(f"SELECT {columns} FROM summary WHERE {dialect.is_in('run_id')} ORDER BY {order}"),
                (dialect.listed(run_ids),),
            ).fetchall())

    @retried
    def max_seq(self, run_id: str) -> int:
        best = -1
        with self._errors(f"reading run {run_id!r}"):
            conn = self._conn()
            for table in self._tables_for_read():
                (value,) = conn.execute(
                    self.dialect.sql(f"SELECT max(seq) FROM {table.name}"
                                     " WHERE scope_id IN (SELECT id FROM scopes WHERE run_id = ?)"),
                    (run_id,),
                ).fetchone()
                if value is not None:
                    best = max(best, value)
        return best

    @retried
    def max_seq_by_scope(self, run_id: str) -> dict[int, int]:
        """Highest record sequence number per scope of a run (scopes without records are absent)."""
        found: dict[int, int] = {}
        with self._errors(f"reading run {run_id!r}"):
            conn = self._conn()
            for table in self._tables_for_read():
                for scope_id, value in conn.execute(
                    self.dialect.sql(f"SELECT scope_id, max(seq) FROM {table.name}"
                                     " WHERE scope_id IN (SELECT id FROM scopes WHERE run_id = ?) GROUP BY scope_id"),
                    (run_id,),
                ):
                    found[scope_id] = max(found.get(scope_id, -1), value)
        return found

    # --- deleting ----------------------------------------------------------------------------
    @retried
    def delete_runs(self, run_ids: Sequence[str], *, dry_run: bool = False) -> Removed:
        dialect = self.dialect
        sql = dialect.sql
        ids = dialect.listed(run_ids)
        removed = Removed()
        # A dry run rolls the transaction back: the counts say what would be deleted.
        with self._write("deleting runs", commit=not dry_run) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM record_tables ORDER BY name")]
            scopes = f"scope_id IN (SELECT id FROM scopes WHERE {dialect.is_in('run_id')})"
            removed.rows["records"] = sum(
                conn.execute(sql(f"DELETE FROM {name} WHERE {scopes}"), (ids,)).rowcount for name in names
            )
            for kind, table, column in RUN_OWNED_TABLES:
                count = conn.execute(sql(f"DELETE FROM {table} WHERE {dialect.is_in(column)}"), (ids,)).rowcount
                removed.rows[kind] = removed.rows.get(kind, 0) + count
            runs = conn.execute(sql(f"DELETE FROM runs WHERE {dialect.is_in('id')}"), (ids,))
            removed.rows["runs"] = runs.rowcount
        return removed

    # --- events, files, links ----------------------------------------------------------------
    def _runs_clause(self, run_ids: Iterable[str] | None, column: str) -> tuple[str, list[Any]]:
        if run_ids is None:
            return "1 = 1", []
        return self.dialect.is_in(column), [self.dialect.listed(run_ids)]

    @retried
    def events(self, run_ids: Iterable[str] | None, prefix: str | None = None) -> list[EventRow]:
        dialect = self.dialect
        where, params = self._runs_clause(run_ids, "run_id")
        source = "events"
        if prefix is not None:
            # Few events carry a given name, many runs may be asked about: the name index reads only those.
            source = dialect.events_by_name
            # A range, not LIKE: literal (% and _ are plain characters) and served by the name index.
            # Names below "a/b" sort from "a/b/" up to, not including, "a/b0" ('0' follows '/').
            name = dialect.name_in_byte_order
            where += f" AND (name = ? OR ({name} >= ? AND {name} < ?))"
            params.extend([prefix, prefix + "/", prefix + "0"])
        with self._errors("reading events"):
            cursor = self._conn().execute(
                dialect.sql(f"SELECT {EVENT_COLUMNS} FROM {source} WHERE {where} ORDER BY seq"), params
            )
            return [event_row(r) for r in cursor]

    @retried
    def files(self, run_ids: Iterable[str] | None) -> list[FileRow]:
        where, params = self._runs_clause(run_ids, "run_id")
        with self._errors("reading files"):
            cursor = self._conn().execute(
                self.dialect.sql(f"SELECT {FILE_COLUMNS} FROM files WHERE {where} ORDER BY seq"), params
            )
            return [file_row(r) for r in cursor]

    @retried
    def referenced_blobs(self) -> set[str] | None:
        # Removed rows count too: only checkpoints are ever removed, and they live in run folders, not blobs.
        with self._errors("reading the file index"):
            cursor = self._conn().execute(
                "SELECT DISTINCT sha256 FROM files WHERE kind = 'attachment' AND sha256 IS NOT NULL"
            )
            return {r[0] for r in cursor}

    @retried
    def links(self, run_id: str) -> list[LinkRow]:
        with self._errors(f"reading the links of run {run_id!r}"):
            cursor = self._conn().execute(
                self.dialect.sql(f"SELECT {LINK_COLUMNS} FROM links WHERE source_id = ? OR target_id = ? ORDER BY seq"),
                (run_id, run_id),
            )
            return [link_row(r) for r in cursor]


def lease_verdict(error: Any) -> bool:
    """Whether a stored run error is a ``crashed`` verdict from an expired lease (not a dead process)."""
    if not error:
        return False
    found = V.loads(error) if isinstance(error, str) else error
    return isinstance(found, dict) and found.get("verdict") == "lease"


def _seq(record: RawRecord) -> int:
    return record.seq


def finish_aggregate(function: str, count: int, total: float, low: Any, high: Any) -> Any:
    """The value of ``function`` from the count, sum, min and max an engine computed."""
    if function == "count":
        return count
    if function == "sum":
        return total
    if function in ("avg", "mean"):
        return total / count if count else None
    if function == "min":
        return low
    if function == "max":
        return high
    raise ValueError(f"unknown aggregate {function!r}; use count, sum, avg, min or max")


def event_row(r: Sequence[Any]) -> EventRow:
    """An EventRow from a row of ``EVENT_COLUMNS``."""
    return EventRow(r[0], r[1], r[2], r[3], r[4], r[5], V.loads(r[6]))


def file_row(r: Sequence[Any]) -> FileRow:
    """A FileRow from a row of ``FILE_COLUMNS``."""
    return FileRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], V.loads(r[10]), r[11])


def link_row(r: Sequence[Any]) -> LinkRow:
    """A LinkRow from a row of ``LINK_COLUMNS``."""
    return LinkRow(r[0], r[1], r[2], r[3], r[4], V.loads(r[5]))


def _decode_lasts(rows: Sequence[Any]) -> list[Any]:
    """The ``last`` column (third) of summary rows, decoded. One json.loads over all of them is many
    times faster than one call per value; only tagged values (NaN, datetimes: dicts) need V.decode."""
    lasts = json.loads("[" + ",".join(r[2] or "null" for r in rows) + "]")
    decode, containers = V.decode, (dict, list)
    return [decode(last) if type(last) in containers else last for last in lasts]


def _loads_many(texts: list[str]) -> list[Any]:
    """``[V.loads(t) for t in texts]`` with one JSON parse for all (texts are JSON documents)."""
    values = json.loads("[" + ",".join(texts) + "]")
    return [V.decode(v) if '"$' in t else v for t, v in zip(texts, values, strict=True)]
