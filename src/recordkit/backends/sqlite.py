"""The folder store: SQLite (``<folder>/recordkit.db``) plus run folders beside it.

Layout (DESIGN.md §4, measured in docs/storage.md):

* ``runs``, ``collections``, ``scopes`` (own fields as JSON), ``summary`` (per run and key: last, min,
  max, count, updated on every batch so listing runs never scans records).
* Records are grouped by key set: each ``records_<n>`` table has one column per key (``c0``, ``c1``…,
  named through the ``record_columns`` registry so any key text and case is safe), an ``extra`` JSON
  column for values a column cannot hold exactly (NaN, a value of another kind than the column's),
  and the primary key ``(scope_id, seq)`` WITHOUT ROWID: records of a scope sit together, so a filter
  on scope fields reads only the scopes it needs.
* A column's kind (num, bool, str, datetime, date, json) is fixed by its first non-null value.
* Tables and columns are created inside the write transaction (``BEGIN IMMEDIATE``) after re-reading
  the registry, so concurrent processes never race into "duplicate column" errors.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import sqlite3
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from recordkit import _values as V
from recordkit._exceptions import RunStateError, StorageError, StoreError
from recordkit.backends._common import (
    EVENT_COLUMNS,
    FILE_COLUMNS,
    LINK_COLUMNS,
    event_row,
    file_row,
    link_row,
)
from recordkit.backends._common import NONE_TYPE as _NONE_TYPE
from recordkit.backends._common import NUM_TYPES as _NUM_TYPES
from recordkit.backends._common import STR_TYPES as _STR_TYPES
from recordkit.backends._common import Table as _Table
from recordkit.backends._common import finish_aggregate as _finish_aggregate
from recordkit.backends._common import merge_stat as _merge_stat
from recordkit.backends._common import stat as _stat
from recordkit.backends.base import (
    ERROR_STATUSES,
    LIVE_STATUSES,
    AddEvent,
    AddFile,
    AddLink,
    Backend,
    CreateScope,
    EventRow,
    FileRow,
    KeySummary,
    LazyEnvRunRow,
    LinkRow,
    NewRun,
    RawRecord,
    RecordQuery,
    Removed,
    RemoveFile,
    RunRow,
    ScopeRow,
    UpdateRun,
    UpdateScope,
    WriteItem,
)

# 1: runs, scopes, records. 2: events, files, links (a version-1 store gains the tables on open).
SCHEMA_VERSION = 2
DB_NAME = "recordkit.db"
# Keys beyond this many in one key set go to the extra column (SQLite allows 2,000 columns).
MAX_COLUMNS = 1000
# A key set reuses an existing table that has at most this many columns it does not need.
REUSE_SLACK = 4

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, collection_id INTEGER NOT NULL REFERENCES collections(id),
    number INTEGER NOT NULL, error_number INTEGER NOT NULL DEFAULT 0, name TEXT,
    status TEXT NOT NULL, start_time REAL NOT NULL, end_time REAL,
    config TEXT NOT NULL, env TEXT NOT NULL, tags TEXT NOT NULL, parent_id TEXT,
    step INTEGER NOT NULL DEFAULT 0, epoch INTEGER NOT NULL DEFAULT 0, error TEXT,
    host TEXT NOT NULL, pid INTEGER NOT NULL, heartbeat REAL NOT NULL, folder TEXT NOT NULL,
    root_scope INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS runs_by_number ON runs (collection_id, parent_id, number);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
CREATE TABLE IF NOT EXISTS scopes (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, parent_id INTEGER, fields TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS scopes_by_run ON scopes (run_id);
CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS record_tables (name TEXT PRIMARY KEY, created REAL);
CREATE TABLE IF NOT EXISTS record_columns (
    table_name TEXT NOT NULL, key TEXT NOT NULL, col TEXT NOT NULL, kind TEXT,
    PRIMARY KEY (table_name, key));
CREATE TABLE IF NOT EXISTS summary (
    run_id TEXT NOT NULL, key TEXT NOT NULL, last TEXT, last_step INTEGER, min REAL, max REAL,
    count INTEGER NOT NULL, UNIQUE (run_id, key));
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, name TEXT NOT NULL, time REAL NOT NULL,
    step INTEGER NOT NULL, duration REAL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, seq);
CREATE INDEX IF NOT EXISTS events_by_name ON events (name, run_id);
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
    time REAL NOT NULL, step INTEGER NOT NULL, size INTEGER, sha256 TEXT, path TEXT, mtime REAL,
    meta TEXT NOT NULL, removed REAL);
CREATE INDEX IF NOT EXISTS files_by_run ON files (run_id, seq);
CREATE TABLE IF NOT EXISTS links (
    seq INTEGER PRIMARY KEY, source_id TEXT NOT NULL, target_id TEXT NOT NULL, relation TEXT NOT NULL,
    time REAL NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS links_by_source ON links (source_id);
CREATE INDEX IF NOT EXISTS links_by_target ON links (target_id);
"""

_RUN_COLUMNS = (
    "r.id, c.name, r.number, r.error_number, r.name, r.status, r.start_time, r.end_time, r.config, "
    "r.env, r.tags, r.parent_id, r.step, r.epoch, r.error, r.host, r.pid, r.heartbeat, r.folder, "
    "r.root_scope"
)
# The same without the env (NULL in its place): listing runs reads each env only if asked for it.
_RUN_COLUMNS_NO_ENV = _RUN_COLUMNS.replace("r.env,", "NULL,")
_RUN_FROM = "runs r JOIN collections c ON c.id = r.collection_id"

# Tables whose rows belong to a run: (kind reported to the user, table, the column holding the run id).
# Deleting a run deletes its rows in each, and gc deletes the rows whose run is gone. A feature that
# adds a per-run table adds a line here; lines for tables a store does not have (yet) are skipped.
# A table may be listed twice (a link belongs to both its runs). Records belong to a run through
# their scope and are handled apart; ``runs`` comes last.
RUN_OWNED_TABLES: tuple[tuple[str, str, str], ...] = (
    ("summary", "summary", "run_id"),
    ("events", "events", "run_id"),
    ("files", "files", "run_id"),
    ("links", "links", "source_id"),
    ("links", "links", "target_id"),
    ("scopes", "scopes", "run_id"),
)


def _owned_tables(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """The RUN_OWNED_TABLES lines whose table this store has."""
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return [line for line in RUN_OWNED_TABLES if line[1] in present]


@contextlib.contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """The one place sqlite3 errors become recordkit errors."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        text = str(exc)
        if "locked" in text or "busy" in text:
            raise StorageError(
                f"{action}: the database stayed locked by another process past the busy timeout ({text}); "
                "retry, or check for a stuck process holding the store"
            ) from exc
        if "disk" in text or "full" in text:
            raise StorageError(f"{action}: the disk is full or failing ({text}); free space and retry") from exc
        raise StorageError(f"{action}: {text}") from exc
    except sqlite3.IntegrityError as exc:
        raise StoreError(f"{action}: a constraint failed ({exc}); this is a recordkit bug, please report it") from exc
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"{action}: the store's database is not a recordkit SQLite file or is damaged ({exc})"
        ) from exc



class SQLiteBackend(Backend):
    """SQLite in WAL mode with ``synchronous=NORMAL``: a commit survives the process being killed."""

    def __init__(self, folder: str | os.PathLike[str], *, create: bool = True, busy_timeout: float = 60.0):
        self.folder = Path(folder)
        if not self.folder.exists():
            if not create:
                raise StoreError(f"no store at {str(self.folder)!r}; create it with rk.open(path)")
            self.folder.mkdir(parents=True, exist_ok=True)
        elif not self.folder.is_dir():
            raise StoreError(f"store path {str(self.folder)!r} is a file; give a folder path")
        self.path = self.folder / DB_NAME
        if not create and not self.path.exists():
            raise StoreError(f"{str(self.folder)!r} holds no recordkit store ({DB_NAME} is missing)")
        self.url = str(self.folder)
        self.files_root = str(self.folder)
        self._busy_ms = int(busy_timeout * 1000)
        self._pid = os.getpid()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._tables: dict[str, _Table] = {}
        # key tuple -> (table, whether the keys are exactly the table's columns in order)
        self._plans: dict[tuple[str, ...], tuple[_Table, bool]] = {}
        self._closed = False
        with translate_errors(f"opening the store {self.url!r}"):
            conn = self._conn()
            conn.executescript(_DDL)  # idempotent; concurrent openers serialise on the busy timeout
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
            if int(version) > SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.url!r} has schema version {version}, newer than this recordkit "
                    f"understands ({SCHEMA_VERSION}); upgrade recordkit"
                )
            if int(version) < SCHEMA_VERSION:
                self._migrate(conn)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring an older store up to ``SCHEMA_VERSION``. Every step only adds: older data stays as it is."""
        with self._write(conn):
            (current,) = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if int(current) < 2:
                pass  # version 2 added the events, files and links tables: the DDL above created them
            conn.execute("UPDATE meta SET value = ? WHERE key='schema_version'", (str(SCHEMA_VERSION),))

    # --- connections -------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._pid != os.getpid():
            # A forked child must not use its parent's connections (SQLite forbids it): start afresh.
            self._pid = os.getpid()
            self._local = threading.local()
            self._connections = []
            self._lock = threading.Lock()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreError(f"the store {self.url!r} is closed; open it again with rk.open()")
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextlib.contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def close(self) -> None:
        self._closed = True
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

    # --- collections -------------------------------------------------------------------------
    def ensure_collection(self, name: str) -> None:
        import time

        with translate_errors(f"creating collection {name!r}"):
            conn = self._conn()
            if conn.execute("SELECT 1 FROM collections WHERE name = ?", (name,)).fetchone():
                return
            with self._write(conn):
                conn.execute("INSERT OR IGNORE INTO collections (name, created) VALUES (?, ?)", (name, time.time()))

    def collections(self) -> list[str]:
        with translate_errors("listing collections"):
            return [r[0] for r in self._conn().execute("SELECT name FROM collections ORDER BY id")]

    # --- runs --------------------------------------------------------------------------------
    def create_run(self, new: NewRun) -> RunRow:
        with translate_errors(f"starting a run in {new.collection!r}"):
            conn = self._conn()
            with self._write(conn):
                conn.execute(
                    "INSERT OR IGNORE INTO collections (name, created) VALUES (?, ?)",
                    (new.collection, new.start_time),
                )
                (collection_id,) = conn.execute(
                    "SELECT id FROM collections WHERE name = ?", (new.collection,)
                ).fetchone()
                number = self._next_number(conn, collection_id, new.parent_id)
                conn.execute(
                    "INSERT INTO runs (id, collection_id, number, error_number, name, status, start_time,"
                    " config, env, tags, parent_id, host, pid, heartbeat, folder, root_scope)"
                    " VALUES (?, ?, ?, 0, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        new.id, collection_id, number, new.name, new.start_time, V.dumps(new.config),
                        V.dumps(new.env), json.dumps(new.tags), new.parent_id, new.host, new.pid,
                        new.start_time, new.folder, new.root_scope,
                    ),
                )
                conn.execute(
                    "INSERT INTO scopes (id, run_id, parent_id, fields) VALUES (?, ?, NULL, '{}')",
                    (new.root_scope, new.id),
                )
        row = self.get_run(new.id)
        assert row is not None
        return row

    @staticmethod
    def _next_number(conn: sqlite3.Connection, collection_id: int, parent_id: str | None) -> int:
        statuses = [
            r[0]
            for r in conn.execute(
                "SELECT status FROM runs WHERE collection_id = ? AND parent_id IS ? AND number ="
                " (SELECT max(number) FROM runs WHERE collection_id = ? AND parent_id IS ?)",
                (collection_id, parent_id, collection_id, parent_id),
            )
        ]
        (top,) = conn.execute(
            "SELECT coalesce(max(number), 0) FROM runs WHERE collection_id = ? AND parent_id IS ?",
            (collection_id, parent_id),
        ).fetchone()
        if top == 0:
            return 1
        # Retry a number only while every run holding it ended with an error.
        return int(top) if all(s in ERROR_STATUSES for s in statuses) else int(top) + 1

    def end_run(self, run_id: str, status: str, end_time: float, error: dict[str, Any] | None) -> RunRow:
        with translate_errors(f"ending run {run_id!r}"):
            conn = self._conn()
            with self._write(conn):
                found = conn.execute(
                    "SELECT collection_id, parent_id, number FROM runs WHERE id = ?", (run_id,)
                ).fetchone()
                if found is None:
                    raise StoreError(f"run {run_id!r} vanished from the store while it was running")
                error_number = 0
                if status in ERROR_STATUSES:
                    (previous,) = conn.execute(
                        "SELECT coalesce(max(error_number), 0) FROM runs WHERE collection_id = ?"
                        " AND parent_id IS ? AND number = ? AND id != ? AND status IN (?, ?, ?)",
                        (*found, run_id, *ERROR_STATUSES),
                    ).fetchone()
                    error_number = int(previous) + 1
                conn.execute(
                    "UPDATE runs SET status = ?, end_time = ?, error = ?, error_number = ? WHERE id = ?",
                    (status, end_time, None if error is None else V.dumps(error), error_number, run_id),
                )
        row = self.get_run(run_id)
        assert row is not None
        return row

    def set_status(self, run_id: str, status: str) -> None:
        with translate_errors(f"setting the status of run {run_id!r}"):
            conn = self._conn()
            with self._write(conn):
                conn.execute(
                    "UPDATE runs SET status = ?, end_time = CASE WHEN ? IN ('running', 'paused')"
                    " THEN NULL ELSE end_time END WHERE id = ?",
                    (status, status, run_id),
                )

    def update_config(self, run_id: str, config: dict[str, Any]) -> None:
        with translate_errors(f"updating the config of run {run_id!r}"):
            conn = self._conn()
            with self._write(conn):
                conn.execute("UPDATE runs SET config = ? WHERE id = ?", (V.dumps(config), run_id))

    def get_run(self, run_id: str) -> RunRow | None:
        rows = self._select_runs("r.id = ?", (run_id,), with_env=True)
        return rows[0] if rows else None

    def _load_env(self, run_id: str) -> dict[str, Any]:
        """One run's env, read when a row listed without it is asked for it (even after close())."""
        sql, params = "SELECT env FROM runs WHERE id = ?", (run_id,)
        with translate_errors(f"reading the environment of run {run_id!r}"):
            if self._closed:
                with contextlib.closing(sqlite3.connect(self.path, timeout=60)) as conn:
                    found = conn.execute(sql, params).fetchone()
            else:
                found = self._conn().execute(sql, params).fetchone()
        return {} if found is None else dict(V.loads(found[0]))

    def find_runs(
        self,
        collection: str | None = None,
        *,
        number: int | None = None,
        id_prefix: str | None = None,
        statuses: Sequence[str] | None = None,
    ) -> list[RunRow]:
        where: list[str] = ["1"]
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
            where.append(f"r.status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        return self._select_runs(" AND ".join(where), params)

    def _select_runs(self, where: str, params: Sequence[Any], *, with_env: bool = False) -> list[RunRow]:
        columns = _RUN_COLUMNS if with_env else _RUN_COLUMNS_NO_ENV
        with translate_errors("reading runs"):
            cursor = self._conn().execute(
                f"SELECT {columns} FROM {_RUN_FROM} WHERE {where} ORDER BY r.start_time, r.rowid", params
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
                folder=r[18], root_scope=r[19],
            )
            for r, config, tag_list in zip(rows, configs, tags, strict=True)
        ]

    def reopen_run(self, run_id: str, host: str, pid: int, now: float) -> RunRow:
        with translate_errors(f"reopening run {run_id!r}"):
            conn = self._conn()
            with self._write(conn):
                found = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
                if found is not None and found[0] in LIVE_STATUSES:
                    raise RunStateError(f"run {run_id!r} is {found[0]}: another process resumed it first")
                conn.execute(
                    "UPDATE runs SET status = 'running', end_time = NULL, error = NULL, error_number = 0,"
                    " host = ?, pid = ?, heartbeat = ? WHERE id = ?",
                    (host, pid, now, run_id),
                )
        row = self.get_run(run_id)
        if row is None:
            raise StoreError(f"run {run_id!r} is not in the store {self.url!r}")
        return row

    def reserve_scope_ids(self, count: int) -> range:
        with translate_errors("reserving scope ids"):
            conn = self._conn()
            with self._write(conn):
                conn.execute("INSERT OR IGNORE INTO sequences VALUES ('scope', 0)")
                conn.execute("UPDATE sequences SET value = value + ? WHERE name = 'scope'", (count,))
                (end,) = conn.execute("SELECT value FROM sequences WHERE name = 'scope'").fetchone()
        return range(end - count + 1, end + 1)

    # --- writing -----------------------------------------------------------------------------
    def write_batch(self, items: Sequence[WriteItem]) -> None:
        with translate_errors("writing a batch"):
            conn = self._conn()
            try:
                with self._write(conn):
                    self._apply(conn, items)
            except BaseException:
                # Tables or columns made in the rolled-back transaction are gone: forget the cached plans.
                self._plans = {}
                self._tables = {}
                raise

    def _apply(self, conn: sqlite3.Connection, items: Sequence[WriteItem]) -> None:
        # Records are laid into rows as given (phase 1, per record, as little work as possible), then
        # checked and converted a column at a time (phase 2), where builtins do the per-value work.
        groups: dict[tuple[_Table, str], list[Any]] = {}  # rows: tuples, or lists once converted
        overflowing: set[tuple[_Table, str]] = set()  # groups where some row has an extra value
        plans = self._plans
        # Consecutive records usually share run and keys: remember the last (keys, run) → group.
        last_keys: tuple[str, ...] = ()
        last_run = ""
        last_group: list[Any] = []
        last_full = False
        for item in items:
            if type(item) is tuple:
                run_id, scope_id, seq, step, when, values = item
                keys = tuple(values)
                if keys == last_keys and run_id == last_run and last_full:
                    last_group.append((scope_id, seq, step, when, *values.values(), None))
                    continue
                plan = plans.get(keys) or self._plan(conn, values)
                table = plan[0]
                row: Any
                if plan[1]:  # the record's keys are the table's columns, in order
                    row = (scope_id, seq, step, when, *values.values(), None)
                else:
                    row = [scope_id, seq, step, when, *([None] * len(table.order)), None]
                    index = table.order_index
                    overflow = None
                    for key, value in values.items():
                        if key in index:
                            row[4 + index[key]] = value
                        else:  # beyond MAX_COLUMNS
                            overflow = overflow or {}
                            overflow[key] = value
                    if overflow is not None:
                        row[-1] = overflow
                        overflowing.add((table, run_id))
                group = groups.get((table, run_id))
                if group is None:
                    group = groups[(table, run_id)] = []
                group.append(row)
                last_keys, last_run, last_group, last_full = keys, run_id, group, plan[1]
            elif isinstance(item, CreateScope):
                conn.execute(
                    "INSERT OR IGNORE INTO scopes (id, run_id, parent_id, fields) VALUES (?, ?, ?, ?)",
                    (item.id, item.run_id, item.parent_id, V.dumps(item.fields)),
                )
            elif isinstance(item, UpdateScope):
                (current,) = conn.execute("SELECT fields FROM scopes WHERE id = ?", (item.id,)).fetchone()
                conn.execute(
                    "UPDATE scopes SET fields = ? WHERE id = ?",
                    (V.dumps({**V.loads(current), **item.fields}), item.id),
                )
            elif isinstance(item, UpdateRun):
                conn.execute(
                    "UPDATE runs SET step = coalesce(?, step), epoch = coalesce(?, epoch),"
                    " heartbeat = coalesce(?, heartbeat) WHERE id = ?",
                    (item.step, item.epoch, item.heartbeat, item.run_id),
                )
            elif type(item) is AddEvent:
                conn.execute(
                    "INSERT INTO events (run_id, name, time, step, duration, data) VALUES (?, ?, ?, ?, ?, ?)",
                    (item.run_id, item.name, item.time, item.step, item.duration, V.dumps(item.data)),
                )
            elif isinstance(item, AddFile):
                conn.execute(
                    "INSERT INTO files (run_id, name, kind, time, step, size, sha256, path, mtime, meta)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (item.run_id, item.name, item.kind, item.time, item.step, item.size, item.sha256,
                     item.path, item.mtime, V.dumps(item.meta)),
                )
            elif isinstance(item, RemoveFile):
                conn.execute(
                    "UPDATE files SET removed = ? WHERE run_id = ? AND path = ? AND removed IS NULL",
                    (item.time, item.run_id, item.path),
                )
            elif isinstance(item, AddLink):
                conn.execute(
                    "INSERT INTO links (source_id, target_id, relation, time, data) VALUES (?, ?, ?, ?, ?)",
                    (item.source_id, item.target_id, item.relation, item.time, V.dumps(item.data)),
                )
            else:  # never dropped silently: the whole batch is refused and the caller sees why
                raise StoreError(f"the folder store cannot write a {type(item).__name__} item; upgrade recordkit")
        stats: dict[tuple[str, str], list[Any]] = {}
        for (table, run_id), rows in groups.items():
            for position, key in enumerate(table.order):
                self._convert_column(conn, table, key, 4 + position, rows, run_id, stats)
            if (table, run_id) not in overflowing and not any(type(row) is list for row in rows):
                conn.executemany(f"INSERT INTO {table.name} VALUES ({','.join('?' * len(rows[0]))})", rows)
                continue
            for row in rows:
                if row[-1] is not None:
                    for key, value in row[-1].items():
                        if key not in table.order_index:
                            _stat(stats, run_id, key, value, row[2], row[1])
                    row[-1] = V.dumps(row[-1])
            conn.executemany(f"INSERT INTO {table.name} VALUES ({','.join('?' * len(rows[0]))})", rows)
        if stats:
            conn.executemany(
                "INSERT INTO summary (run_id, key, last, last_step, min, max, count)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET"
                " last = excluded.last, last_step = excluded.last_step,"
                " min = coalesce(min(summary.min, excluded.min), summary.min, excluded.min),"
                " max = coalesce(max(summary.max, excluded.max), summary.max, excluded.max),"
                " count = summary.count + excluded.count",
                [(run, key, V.dumps(s[0]), s[1], s[2], s[3], s[4]) for (run, key), s in stats.items()],
            )

    def _convert_column(
        self,
        conn: sqlite3.Connection,
        table: _Table,
        key: str,
        j: int,
        rows: list[Any],
        run_id: str,
        stats: dict[tuple[str, str], list[Any]],
    ) -> None:
        """Check and convert column ``j`` of ``rows`` in place; fold its values into ``stats``."""
        column = [row[j] for row in rows]
        types = set(map(type, column))
        has_none = _NONE_TYPE in types
        if has_none:
            types.discard(_NONE_TYPE)
            if not types:
                return
        kind = table.kinds[key]
        if kind == V.NUM and types <= _NUM_TYPES:
            present = [v for v in column if v is not None] if has_none else column
            total = sum(present)
            if total == total:  # no NaN (nor inf - inf): the fast path holds
                last = len(rows) - 1
                while rows[last][j] is None:
                    last -= 1
                _merge_stat(stats, run_id, key, [rows[last][j], rows[last][2], float(min(present)),
                                                 float(max(present)), len(present), rows[last][1]])
                return
        elif kind == V.STR and types == _STR_TYPES:
            last = len(rows) - 1
            while rows[last][j] is None:
                last -= 1
            _merge_stat(stats, run_id, key, [rows[last][j], rows[last][2], None, None,
                                             len(column) - column.count(None), rows[last][1]])
            return
        for i, row in enumerate(rows):  # the careful path, a value at a time
            value = row[j]
            if value is None:
                continue
            if type(row) is tuple:
                rows[i] = row = list(row)
            if V.needs_materialize(value):  # a tensor or array: converted here, in the writer thread
                value = V.materialize(value)
            value_kind = V.kind_of(value)
            if kind is None:
                self._set_kind(conn, table, key, value_kind)
                kind = table.kinds[key]
            if kind is not None and kind == value_kind and not (kind == V.NUM and value != value):
                row[j] = V.to_column(value, kind)
            else:  # NaN, or another kind than the column's: kept exactly in the extra column
                row[j] = None
                if row[-1] is None:
                    row[-1] = {}
                row[-1][key] = value
            _stat(stats, run_id, key, value, row[2], row[1])

    def _load_registry(self, conn: sqlite3.Connection) -> None:
        tables: dict[str, _Table] = {}
        for name, key, col, kind in conn.execute(
            "SELECT table_name, key, col, kind FROM record_columns ORDER BY table_name, CAST(substr(col, 2) AS INT)"
        ):
            tables.setdefault(name, _Table(name)).add(key, col, kind)
        for (name,) in conn.execute("SELECT name FROM record_tables"):
            tables.setdefault(name, _Table(name))
        self._tables = tables

    def _plan(self, conn: sqlite3.Connection, values: dict[str, Any]) -> tuple[_Table, bool]:
        """Pick (or create, under the write lock we hold) the table for a record's key set."""
        keys = tuple(values)
        if len(set(keys)) != len(keys):
            raise StorageError(f"duplicate keys in record {keys!r}")
        wanted = set(keys[:MAX_COLUMNS])
        self._load_registry(conn)  # another process may have added tables since we last looked
        best: _Table | None = None
        for table in self._tables.values():
            have = set(table.cols)
            if wanted <= have and len(have) - len(wanted) <= REUSE_SLACK and (
                best is None or len(have) < len(best.cols)
            ):
                best = table
        if best is None:
            best = self._create_table(conn, [k for k in keys if k in wanted], values)
        plan = (best, best.order == list(keys))
        if len(keys) <= MAX_COLUMNS:
            self._plans[keys] = plan
        return plan

    def _create_table(self, conn: sqlite3.Connection, keys: list[str], values: dict[str, Any]) -> _Table:
        conn.execute("INSERT OR IGNORE INTO sequences VALUES ('table', 0)")
        conn.execute("UPDATE sequences SET value = value + 1 WHERE name = 'table'")
        (n,) = conn.execute("SELECT value FROM sequences WHERE name = 'table'").fetchone()
        name = f"records_{n}"
        table = _Table(name)
        for i, key in enumerate(keys):
            # A tensor's kind is known once converted (in _convert_column): leave it open until then.
            value = values[key]
            table.add(key, f"c{i}", None if V.needs_materialize(value) else V.kind_of(value))
        # Untyped columns: SQLite keeps each value as given (no affinity conversions).
        columns = "".join(f", {table.cols[k]}" for k in table.order)
        conn.execute(
            f"CREATE TABLE {name} (scope_id INTEGER NOT NULL, seq INTEGER NOT NULL, step INTEGER,"
            f" time REAL{columns}, extra TEXT, PRIMARY KEY (scope_id, seq)) WITHOUT ROWID"
        )
        conn.execute("INSERT INTO record_tables VALUES (?, strftime('%s','now'))", (name,))
        conn.executemany(
            "INSERT INTO record_columns VALUES (?, ?, ?, ?)",
            [(name, k, table.cols[k], table.kinds[k]) for k in table.order],
        )
        self._tables[name] = table
        return table

    @staticmethod
    def _set_kind(conn: sqlite3.Connection, table: _Table, key: str, kind: str | None) -> None:
        conn.execute(
            "UPDATE record_columns SET kind = ? WHERE table_name = ? AND key = ? AND kind IS NULL",
            (kind, table.name, key),
        )
        (stored,) = conn.execute(
            "SELECT kind FROM record_columns WHERE table_name = ? AND key = ?", (table.name, key)
        ).fetchone()
        table.kinds[key] = None if stored is None else sys.intern(stored)

    # --- reading -----------------------------------------------------------------------------
    def scopes(self, run_ids: Iterable[str]) -> dict[int, ScopeRow]:
        ids = list(run_ids)
        with translate_errors("reading scopes"):
            cursor = self._conn().execute(
                "SELECT id, run_id, parent_id, fields FROM scopes"
                " WHERE run_id IN (SELECT value FROM json_each(?)) ORDER BY id",
                (json.dumps(ids),),
            )
            return {r[0]: ScopeRow(r[0], r[1], r[2], V.loads(r[3])) for r in cursor}

    def _tables_for_read(self) -> list[_Table]:
        with self._lock:
            self._load_registry(self._conn())
            return list(self._tables.values())

    def _where(self, table: _Table, query: RecordQuery, run_id: str | None) -> tuple[str, list[Any]] | None:
        """SQL conditions for one table and run; None when the table cannot hold a match.

        With ``run_id`` None the conditions span every run of ``query.scope_ids`` (scope ids are unique
        across runs), so counts and aggregates take one statement per table instead of one per run.
        """
        if query.scope_ids is not None:
            if not query.scope_ids:
                return None
            conds = ["scope_id IN (SELECT value FROM json_each(?))"]
            params: list[Any] = [json.dumps(sorted(query.scope_ids))]
            if run_id is not None:
                conds.append("scope_id IN (SELECT id FROM scopes WHERE run_id = ?)")
                params.append(run_id)
        else:
            conds = ["scope_id IN (SELECT id FROM scopes WHERE run_id = ?)"]
            params = [run_id]
        for superseded_run, after_step, before_seq in query.superseded:
            if superseded_run == run_id:
                conds.append("NOT (step > ? AND seq < ?)")
                params.extend([after_step, before_seq])
        low, high = query.steps
        if low is not None:
            conds.append("step >= ?")
            params.append(low)
        if high is not None:
            conds.append("step <= ?")
            params.append(high)
        if query.keys is not None and not (set(table.cols) & query.keys):
            return None
        for key, value, fallback in query.equals:
            path = _json_path(key)
            fb_sql = "scope_id IN (SELECT value FROM json_each(?))"
            fb = json.dumps(sorted(fallback))
            # JSON is parsed only for rows that have an overflow value at all (extra IS NOT NULL).
            in_extra = "json_extract(extra, ?) IS NOT NULL"
            from_scope_or_extra = (
                f"((extra IS NULL AND {fb_sql})"
                f" OR (extra IS NOT NULL AND ((NOT {in_extra} AND {fb_sql}) OR json_extract(extra, ?) = ?)))"
            )
            sql_value = V.to_column(value, V.kind_of(value)) if value is not None else None  # type: ignore[arg-type]
            if key in table.cols and table.kinds[key] == V.kind_of(value):
                col = table.cols[key]
                conds.append(f"({col} = ? OR ({col} IS NULL AND {from_scope_or_extra}))")
                params.extend([sql_value, fb, path, fb, path, sql_value])
            else:
                conds.append(from_scope_or_extra)
                params.extend([fb, path, fb, path, sql_value])
        return " AND ".join(conds), params

    def iter_records(self, query: RecordQuery) -> Iterator[tuple[str, RawRecord]]:
        tables = self._tables_for_read()
        for run_id in query.run_ids:
            streams = []
            for table in tables:
                where = self._where(table, query, run_id)
                if where is not None:
                    streams.append(self._stream(table, *where))
            for record in heapq.merge(*streams, key=lambda r: r.seq):
                yield run_id, record

    def _stream(self, table: _Table, where: str, params: list[Any]) -> Iterator[RawRecord]:
        columns = "".join(f", {table.cols[k]}" for k in table.order)
        kinds = [table.kinds[k] for k in table.order]
        keys = table.order
        plain = {V.NUM, V.STR, None}
        # Several cursors of one connection are consumed interleaved by heapq.merge; SQLite allows it.
        with translate_errors(f"reading {table.name}"):
            cursor = self._conn().execute(
                f"SELECT scope_id, seq, step, time{columns}, extra FROM {table.name} WHERE {where} ORDER BY seq",
                params,
            )
            for row in cursor:
                values: dict[str, Any] = {}
                for i, key in enumerate(keys):
                    value = row[4 + i]
                    if value is not None:
                        kind = kinds[i]
                        values[key] = value if kind in plain else V.from_column(value, kind)  # type: ignore[arg-type]
                if row[-1] is not None:
                    values.update(V.loads(row[-1]))
                yield RawRecord(row[0], row[1], row[2], row[3], values)

    @staticmethod
    def _statement_runs(query: RecordQuery) -> Sequence[str | None]:
        """One statement per run, or a single one when scope ids alone say which rows count."""
        return [None] if query.scope_ids is not None else query.run_ids

    def count_records(self, query: RecordQuery) -> int:
        total = 0
        with translate_errors("counting records"):
            conn = self._conn()
            for table in self._tables_for_read():
                for run_id in self._statement_runs(query):
                    where = self._where(table, query, run_id)
                    if where is not None:
                        sql = f"SELECT count(*) FROM {table.name} WHERE {where[0]}"
                        total += conn.execute(sql, where[1]).fetchone()[0]
        return total

    def aggregate(self, query: RecordQuery, key: str, function: str) -> Any:
        count, total, low, high = 0, 0.0, None, None
        with translate_errors(f"aggregating {key!r}"):
            conn = self._conn()
            path = _json_path(key)
            for table in self._tables_for_read():
                head: list[Any] = []
                if table.kinds.get(key) in (V.NUM, V.BOOL):
                    col = table.cols[key]
                else:
                    # Here the key's values can only be in the overflow JSON (past the column limit, or
                    # another kind than the column's); NaN and inf are tagged objects there, so skipped.
                    col = "(CASE WHEN extra IS NOT NULL AND json_type(extra, ?) IN ('integer', 'real')"
                    col += " THEN json_extract(extra, ?) END)"
                    head = [path, path] * 4
                for run_id in self._statement_runs(query):
                    where = self._where(table, query, run_id)
                    if where is None:
                        continue
                    n, t, lo, hi = conn.execute(
                        f"SELECT count({col}), total({col}), min({col}), max({col}) FROM {table.name}"
                        f" WHERE {where[0]}",
                        [*head, *where[1]],
                    ).fetchone()
                    count += n
                    total += t
                    if lo is not None:
                        low = lo if low is None else min(low, lo)
                        high = hi if high is None else max(high, hi)
        return _finish_aggregate(function, count, total, low, high)

    def series(
        self, run_id: str, key: str, *, after_seq: int = -1, superseded: Sequence[tuple[str, int, int]] = ()
    ) -> dict[int, list[tuple[int, int, float, Any]]]:
        # One narrow SELECT per scope and table, in (scope_id, seq) key order: a million points of
        # one key read without building a record (or a dict) per row.
        cut = "".join(" AND NOT (step > ? AND seq < ?)" for run, _, _ in superseded if run == run_id)
        cut_params = [n for run, after, before in superseded if run == run_id for n in (after, before)]
        path = _json_path(key)
        plain = {V.NUM, V.STR, None}
        out: dict[int, list[tuple[int, int, float, Any]]] = {}
        with translate_errors(f"reading the series {key!r} of run {run_id!r}"):
            conn = self._conn()
            scope_ids = [r[0] for r in conn.execute("SELECT id FROM scopes WHERE run_id = ? ORDER BY id", (run_id,))]
            for table in self._tables_for_read():
                col, kind = table.cols.get(key), table.kinds.get(key)
                for scope_id in scope_ids:
                    head = f"SELECT seq, step, time, {{}} FROM {table.name} WHERE scope_id = ? AND seq > ?{cut} AND "
                    params = [scope_id, after_seq, *cut_params]
                    rows: list[tuple[int, int, float, Any]] = []
                    if col is not None:
                        rows = conn.execute(head.format(col) + f"{col} IS NOT NULL ORDER BY seq", params).fetchall()
                        if kind not in plain:
                            rows = [(q, s, t, V.from_column(v, kind)) for q, s, t, v in rows]  # type: ignore[arg-type]
                    # Values the column cannot hold (NaN, another kind) live in the overflow JSON.
                    spilled = conn.execute(
                        head.format("extra") + (f"{col} IS NULL AND " if col else "")
                        + "extra IS NOT NULL AND json_extract(extra, ?) IS NOT NULL ORDER BY seq",
                        [*params, path],
                    ).fetchall()
                    if spilled:
                        rows = sorted([*rows, *((q, s, t, V.loads(e)[key]) for q, s, t, e in spilled)])
                    if rows:
                        have = out.get(scope_id)
                        out[scope_id] = rows if have is None else sorted([*have, *rows])
        return out

    def keys(self, run_ids: Iterable[str]) -> list[str]:
        with translate_errors("listing keys"):
            cursor = self._conn().execute(
                "SELECT key FROM summary WHERE run_id IN (SELECT value FROM json_each(?))"
                " GROUP BY key ORDER BY min(rowid)",
                (json.dumps(list(run_ids)),),
            )
            return [r[0] for r in cursor]

    def summary(self, run_id: str) -> dict[str, KeySummary]:
        with translate_errors(f"reading the summary of run {run_id!r}"):
            cursor = self._conn().execute(
                "SELECT key, last, last_step, min, max, count FROM summary WHERE run_id = ? ORDER BY rowid",
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

    def _summary_rows(self, run_ids: Mapping[str, Any], columns: str) -> list[Any]:
        """Summary rows (``columns``, run id first and ``last`` third) of at least these runs, in log order."""
        if not run_ids:
            return []
        with translate_errors("reading run summaries"):
            conn = self._conn()
            (runs,) = conn.execute("SELECT count(*) FROM runs").fetchone()
            if len(run_ids) * 2 >= runs:  # most runs (as `ls` asks): one scan in log order, no IN, no sort
                return conn.execute(f"SELECT {columns} FROM summary ORDER BY rowid").fetchall()
            return conn.execute(
                f"SELECT {columns} FROM summary WHERE run_id IN (SELECT value FROM json_each(?)) ORDER BY rowid",
                (json.dumps(list(run_ids)),),
            ).fetchall()

    # --- deleting and collecting garbage ------------------------------------------------------------
    def delete_runs(self, run_ids: Sequence[str], *, dry_run: bool = False) -> Removed:
        ids = json.dumps(list(run_ids))
        in_ids = "IN (SELECT value FROM json_each(?))"
        removed = Removed()
        with translate_errors("deleting runs"):
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                scopes = f"scope_id IN (SELECT id FROM scopes WHERE run_id {in_ids})"
                removed.rows["records"] = self._delete_records(conn, scopes, (ids,))
                for kind, table, column in _owned_tables(conn):
                    count = conn.execute(f"DELETE FROM {table} WHERE {column} {in_ids}", (ids,)).rowcount
                    removed.rows[kind] = removed.rows.get(kind, 0) + count
                removed.rows["runs"] = conn.execute(f"DELETE FROM runs WHERE id {in_ids}", (ids,)).rowcount
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("ROLLBACK" if dry_run else "COMMIT")
        return removed

    def _delete_records(self, conn: sqlite3.Connection, where: str, params: Sequence[Any]) -> int:
        """Delete matching rows from every records table (inside the caller's write transaction)."""
        names = [r[0] for r in conn.execute("SELECT name FROM record_tables")]
        return sum(conn.execute(f"DELETE FROM {name} WHERE {where}", params).rowcount for name in names)

    @staticmethod
    def _delete_orphans(conn: sqlite3.Connection) -> dict[str, int]:
        """Delete rows whose run (or, for records, whose scope) is gone; counts by kind."""
        tables = [r[0] for r in conn.execute("SELECT name FROM record_tables")]
        rows: dict[str, int] = {}
        for kind, table, column in _owned_tables(conn):
            count = conn.execute(f"DELETE FROM {table} WHERE {column} NOT IN (SELECT id FROM runs)").rowcount
            rows[kind] = rows.get(kind, 0) + count
        rows["records"] = sum(
            conn.execute(f"DELETE FROM {name} WHERE scope_id NOT IN (SELECT id FROM scopes)").rowcount
            for name in tables
        )
        return rows

    def size(self) -> int:
        """Bytes the database takes on disk: the file plus its write-ahead log."""
        return sum(_file_size(Path(f"{self.path}{suffix}")) for suffix in ("", "-wal"))

    def collect_garbage(self, *, dry_run: bool = False) -> Removed:
        with translate_errors("collecting garbage"):
            conn = self._conn()
            before = self.size()
            if dry_run:
                return self._collect_on_copy(conn, before)
            with self._write(conn):
                rows = self._delete_orphans(conn)
            # VACUUM rewrites the file without free pages; in WAL mode the file shrinks at the checkpoint.
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return Removed(rows, before, self.size())

    def _collect_on_copy(self, conn: sqlite3.Connection, before: int) -> Removed:
        """A dry run: the real steps on a scratch copy beside the store, which is then deleted."""
        scratch = self.folder / f".gc-dry-run-{os.getpid()}-{threading.get_ident()}.db"
        scratch.unlink(missing_ok=True)
        try:
            conn.execute("VACUUM INTO ?", (str(scratch),))
            copy = sqlite3.connect(scratch, isolation_level=None)
            try:
                copy.execute("BEGIN IMMEDIATE")
                rows = self._delete_orphans(copy)
                copy.execute("COMMIT")
                copy.execute("VACUUM")
            finally:
                copy.close()
            return Removed(rows, before, _file_size(scratch))
        finally:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    def sql(self, query: str, params: Sequence[Any] | Mapping[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        from recordkit._sql import sqlite_query

        return sqlite_query(self.path, query, params)

    def max_seq(self, run_id: str) -> int:
        best = -1
        with translate_errors(f"reading run {run_id!r}"):
            conn = self._conn()
            for table in self._tables_for_read():
                (value,) = conn.execute(
                    f"SELECT max(seq) FROM {table.name} WHERE scope_id IN (SELECT id FROM scopes WHERE run_id = ?)",
                    (run_id,),
                ).fetchone()
                if value is not None:
                    best = max(best, value)
        return best

    # --- events, files, links ----------------------------------------------------------------
    @staticmethod
    def _runs_clause(run_ids: Iterable[str] | None, column: str) -> tuple[str, list[Any]]:
        if run_ids is None:
            return "1", []
        return f"{column} IN (SELECT value FROM json_each(?))", [json.dumps(list(run_ids))]

    def events(self, run_ids: Iterable[str] | None, prefix: str | None = None) -> list[EventRow]:
        where, params = self._runs_clause(run_ids, "run_id")
        source = "events"
        if prefix is not None:
            # Few events carry a given name, many runs may be asked about: the name index reads only those.
            source = "events INDEXED BY events_by_name"
            # A range, not LIKE: literal (% and _ are plain characters) and served by the name index.
            # Names below "a/b" sort from "a/b/" up to, not including, "a/b0" ('0' follows '/').
            where += " AND (name = ? OR (name >= ? AND name < ?))"
            params.extend([prefix, prefix + "/", prefix + "0"])
        with translate_errors("reading events"):
            cursor = self._conn().execute(
                f"SELECT {EVENT_COLUMNS} FROM {source} WHERE {where} ORDER BY seq",
                params,
            )
            return [event_row(r) for r in cursor]

    def files(self, run_ids: Iterable[str] | None) -> list[FileRow]:
        where, params = self._runs_clause(run_ids, "run_id")
        with translate_errors("reading files"):
            cursor = self._conn().execute(
                f"SELECT {FILE_COLUMNS} FROM files WHERE {where} ORDER BY seq",
                params,
            )
            return [file_row(r) for r in cursor]

    def referenced_blobs(self) -> set[str] | None:
        # Removed rows count too: only checkpoints are ever removed, and they live in run folders, not blobs.
        with translate_errors("reading the file index"):
            cursor = self._conn().execute(
                "SELECT DISTINCT sha256 FROM files WHERE kind = 'attachment' AND sha256 IS NOT NULL"
            )
            return {r[0] for r in cursor}

    def links(self, run_id: str) -> list[LinkRow]:
        with translate_errors(f"reading the links of run {run_id!r}"):
            cursor = self._conn().execute(
                f"SELECT {LINK_COLUMNS} FROM links"
                " WHERE source_id = ? OR target_id = ? ORDER BY seq",
                (run_id, run_id),
            )
            return [link_row(r) for r in cursor]


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


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _json_path(key: str) -> str:
    """The JSON path of a top-level key in the overflow column (quoted: keys may hold dots)."""
    return '$."' + key.replace('"', '\\"') + '"'



