"""The shared store: PostgreSQL, with the folder store's layout (DESIGN.md §4).

* ``runs``, ``collections``, ``scopes`` (own fields as JSON text), ``summary`` (per run and key: last,
  min, max, count, upserted on every batch).
* Records are grouped by key set into ``records_<n>`` tables with one typed column per key (``c0``…,
  named through the ``record_columns`` registry), an ``extra`` JSON text column for values a column
  cannot hold exactly (NaN, a value of another kind than the column's), and the primary key
  ``(scope_id, seq)``. Batches go in with binary ``COPY``.
* Column types: ``bigint`` for a key whose first number is an int (kind ``int``), ``double precision``
  for one whose first number is a float (kind ``num``; later ints are stored as floats), ``boolean``,
  and ``text`` for strings, datetimes, dates and JSON.
* Tables and columns are created inside the write transaction under a transaction-scoped advisory
  lock, after re-reading the registry, so concurrent writers on any number of hosts never race.
* Every batch carries an id stored in ``batches`` in the same transaction: a batch whose commit was
  cut off (so the client cannot know whether it landed) is replayed from the spool exactly once.
* ``create_run`` and ``end_run`` lock the collection's row, so numbering is atomic across hosts.

Connection settings come from the URL and the standard ``PG*`` variables (libpq reads them); the
query parameter ``schema`` (not a libpq one) picks the schema, created if missing. The password is
never kept in ``url``, in error messages, in meta.json or in any stored value.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import heapq
import os
import re
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from recordkit import _values as V
from recordkit._deps import require
from recordkit._exceptions import RecordkitWarning, RunStateError, StorageError, StoreError
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

if TYPE_CHECKING:
    from recordkit._spool import Spool

# A psycopg connection; typed loosely because rows come back as tuples of whatever the columns hold.
_Conn = Any

SCHEMA_VERSION = 2
# PostgreSQL allows 1,600 columns; keys beyond this many in one key set go to the extra column.
MAX_COLUMNS = 1000
REUSE_SLACK = 4
# Scope ids handed out from memory per round trip, so run.scope() keeps working through a short outage.
SCOPE_BLOCK = 1024
INT, NUM = "int", V.NUM
# Seconds one batch may take before its connection is cut (the batch is then spooled).
WRITE_TIMEOUT = 60.0
# Rows fetched per round trip when reading records.
STREAM_CHUNK = 10_000
_INT64 = (-(2**63), 2**63 - 1)
# Advisory lock key for schema changes (the registry of record tables and columns).
_SCHEMA_LOCK = 0x7265636B  # "reck"

_PG_TYPES = {INT: "bigint", NUM: "double precision", V.BOOL: "boolean"}

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS collections (
    id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, created DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    ord BIGSERIAL, id TEXT PRIMARY KEY, collection_id BIGINT NOT NULL REFERENCES collections(id),
    number BIGINT NOT NULL, error_number BIGINT NOT NULL DEFAULT 0, name TEXT,
    status TEXT NOT NULL, start_time DOUBLE PRECISION NOT NULL, end_time DOUBLE PRECISION,
    config TEXT NOT NULL, env TEXT NOT NULL, tags TEXT NOT NULL, parent_id TEXT,
    step BIGINT NOT NULL DEFAULT 0, epoch BIGINT NOT NULL DEFAULT 0, error TEXT,
    host TEXT NOT NULL, pid BIGINT NOT NULL, heartbeat DOUBLE PRECISION NOT NULL, folder TEXT NOT NULL,
    root_scope BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_by_number ON runs (collection_id, parent_id, number);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
CREATE TABLE IF NOT EXISTS scopes (
    id BIGINT PRIMARY KEY, run_id TEXT NOT NULL, parent_id BIGINT, fields TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS scopes_by_run ON scopes (run_id);
CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS record_tables (name TEXT PRIMARY KEY, created DOUBLE PRECISION);
CREATE TABLE IF NOT EXISTS record_columns (
    table_name TEXT NOT NULL, key TEXT NOT NULL, col TEXT NOT NULL, kind TEXT, position INTEGER NOT NULL,
    PRIMARY KEY (table_name, key));
CREATE TABLE IF NOT EXISTS summary (
    ord BIGSERIAL, run_id TEXT NOT NULL, key TEXT NOT NULL, last TEXT, last_step BIGINT,
    min DOUBLE PRECISION, max DOUBLE PRECISION, count BIGINT NOT NULL, UNIQUE (run_id, key));
CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, time DOUBLE PRECISION NOT NULL);
"""

# Schema version 2: events, the file index and links (issue 4). Also run on a version-1 store to upgrade it.
_DDL_2 = """
CREATE TABLE IF NOT EXISTS events (
    seq BIGSERIAL PRIMARY KEY, run_id TEXT NOT NULL, name TEXT NOT NULL, time DOUBLE PRECISION NOT NULL,
    step BIGINT NOT NULL, duration DOUBLE PRECISION, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, seq);
CREATE INDEX IF NOT EXISTS events_by_name ON events (name COLLATE "C", run_id);
CREATE TABLE IF NOT EXISTS files (
    seq BIGSERIAL PRIMARY KEY, run_id TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
    time DOUBLE PRECISION NOT NULL, step BIGINT NOT NULL, size BIGINT, sha256 TEXT, path TEXT,
    mtime DOUBLE PRECISION, meta TEXT NOT NULL, removed DOUBLE PRECISION);
CREATE INDEX IF NOT EXISTS files_by_run ON files (run_id, seq);
CREATE TABLE IF NOT EXISTS links (
    seq BIGSERIAL PRIMARY KEY, source_id TEXT NOT NULL, target_id TEXT NOT NULL, relation TEXT NOT NULL,
    time DOUBLE PRECISION NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS links_by_source ON links (source_id);
CREATE INDEX IF NOT EXISTS links_by_target ON links (target_id);
"""

# Tables whose rows belong to a run (kind, table, run-id column), as in the SQLite backend.
_RUN_OWNED = (
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
    "r.root_scope"
)
_RUN_FROM = "runs r JOIN collections c ON c.id = r.collection_id"
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _psycopg() -> Any:
    return require("psycopg", "the PostgreSQL store needs psycopg 3")


def redact_url(url: str) -> str:
    """The URL without its password (and without any ``password=`` query parameter)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() != "password"]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), parts.fragment))


def parse_url(url: str) -> tuple[str, str, dict[str, str]]:
    """Split a store URL into (libpq conninfo, schema, recordkit options).

    recordkit's own query parameters (``schema``, ``spool``, ``write_timeout``) are removed before libpq
    sees the URL.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() == "postgres":
        parts = parts._replace(scheme="postgresql")
    ours: dict[str, str] = {}
    kept: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in ("schema", "spool", "write_timeout"):
            ours[key] = value
        else:
            kept.append((key, value))
    schema = ours.pop("schema", "") or os.environ.get("RECORDKIT_PG_SCHEMA", "") or "public"
    if not _SCHEMA_NAME.match(schema):
        raise StoreError(
            f"schema {schema!r} is not a plain identifier; use letters, digits and underscores (at most 63)"
        )
    if not any(k == "connect_timeout" for k, _ in kept):
        kept.append(("connect_timeout", "5"))
    # Built by hand: urlunsplit drops the "//" of an empty host ("postgresql:///db" relies on PGHOST).
    conninfo = f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(kept)}"
    return conninfo, schema, ours


def is_connection_error(exc: BaseException) -> bool:
    """Whether a StorageError came from losing the server (so the data should be spooled)."""
    return bool(getattr(exc, "_recordkit_connection", False))


class _Translator:
    """The one place psycopg errors become recordkit errors; drops a broken connection."""

    def __init__(self, backend: PostgresBackend, action: str) -> None:
        self.backend = backend
        self.action = action

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        psycopg = _psycopg()
        if not isinstance(exc, psycopg.Error):
            if isinstance(exc, OSError):
                self.backend._drop_connection()
            return
        text = _clean(str(exc), self.backend)
        errors = psycopg.errors
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) and not isinstance(
            exc, (errors.QueryCanceled, errors.DeadlockDetected, errors.LockNotAvailable)
        ):
            self.backend._drop_connection()
            error = StorageError(
                f"{self.action}: lost the PostgreSQL server at {self.backend.url!r} ({text}); "
                "check that it is running and reachable"
            )
            error._recordkit_connection = True  # type: ignore[attr-defined]
            raise error from exc
        if isinstance(exc, (errors.DeadlockDetected, errors.SerializationFailure, errors.LockNotAvailable)):
            error = StorageError(f"{self.action}: a concurrent writer got in the way ({text}); retried")
            error._recordkit_transient = True  # type: ignore[attr-defined]
            raise error from exc
        if isinstance(exc, (errors.InsufficientResources, errors.DiskFull)):
            raise StorageError(f"{self.action}: the server is out of resources ({text})") from exc
        if isinstance(exc, errors.InsufficientPrivilege):
            raise StoreError(
                f"{self.action}: the database user may not do this ({text}); grant it rights on the schema"
            ) from exc
        raise StoreError(f"{self.action}: {text}") from exc


def _clean(text: str, backend: PostgresBackend) -> str:
    """An engine message with any password the user gave removed (libpq may echo connection info)."""
    for secret in backend._secrets:
        text = text.replace(secret, "***")
    return text.strip().replace("\n", " ")


_F = TypeVar("_F", bound=Callable[..., Any])


def _reconnecting(method: _F) -> _F:
    """Try once more on a fresh connection: an idle connection may have died since its last use."""

    @functools.wraps(method)
    def wrapper(self: PostgresBackend, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except StorageError as exc:
            if not is_connection_error(exc):
                raise
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]



class PostgresBackend(Backend):
    """PostgreSQL through psycopg 3; one connection per thread; batches written with binary COPY.

    Parameters
    ----------
    url
        ``postgresql://user@host:port/database?schema=name``; anything libpq accepts (``sslmode``,
        ``options``…) may be added, and unset parts come from ``PGHOST``, ``PGUSER``, ``PGPASSWORD``…
    files
        A folder for run folders (meta.json, attachments, checkpoints); None: runs have no folder.
    spool
        A local folder where batches wait while the server is unreachable; None picks one under the
        user's cache folder, False turns spooling off (a failing write is then retried in memory).
    """

    def __init__(
        self,
        url: str,
        *,
        files: str | os.PathLike[str] | None = None,
        spool: str | os.PathLike[str] | bool | None = None,
    ) -> None:
        self._secrets = _secrets_of(url)
        self.url = redact_url(url)
        self._conninfo, self.schema, options = parse_url(url)
        try:
            #: Seconds a batch may take before its connection is cut and the batch spooled.
            self.write_timeout = float(options.get("write_timeout", WRITE_TIMEOUT))
        except ValueError:
            raise StoreError(f"write_timeout={options['write_timeout']!r} is not a number of seconds") from None
        self.files_root = None if files is None else _files_folder(files)
        if self.files_root is not None:
            Path(self.files_root).mkdir(parents=True, exist_ok=True)
        self._pid = os.getpid()
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.RLock()  # re-entered: a locked section may open or drop a connection
        self._tables: dict[str, _Table] = {}
        self._plans: dict[tuple[str, ...], tuple[_Table, bool]] = {}
        self._scope_block: Iterator[int] = iter(())
        self._rows: dict[str, RunRow] = {}  # last known row per run, for end_run during an outage
        self._closed = False
        self.spool: Spool | None = None
        # Schema changes of this store serialise on one advisory lock; other stores in the database do not wait.
        self._schema_lock = int.from_bytes(hashlib.sha256(self.schema.encode()).digest()[:4], "big", signed=True)
        with self._translate(f"opening the store {self.url!r}"):
            conn = self._conn()
            version = self._schema_version(conn)
        if version is None:  # a new store: create the tables (once, under the schema lock)
            version = self._create_schema()
        elif int(version) < SCHEMA_VERSION:
            version = self._create_schema()  # adds only what is missing (IF NOT EXISTS), then the version
        if int(version) > SCHEMA_VERSION:
            raise StoreError(
                f"store {self.url!r} has schema version {version}, newer than this recordkit "
                f"understands ({SCHEMA_VERSION}); upgrade recordkit"
            )
        spool_option = options.get("spool")
        if spool_option is not None and spool is None:
            spool = False if spool_option.lower() in ("0", "off", "false", "no") else spool_option
        if spool is not False:
            from recordkit._spool import Spool, default_spool_root

            root = default_spool_root(self.url) if spool in (None, True) else Path(os.fspath(spool))  # type: ignore[arg-type]
            self.spool = Spool(root)
            self.spool.adopt_orphans()
            if self.spool.pending():
                self.drain_spool()

    def _schema_version(self, conn: _Conn) -> str | None:
        # DDL is skipped when the store exists: even CREATE INDEX IF NOT EXISTS locks tables that live
        # writers are using (and deadlocked with them here).
        (exists,) = conn.execute("SELECT to_regclass(%s)", (f'"{self.schema}".meta',)).fetchone()
        if exists is None:
            return None
        found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return None if found is None else str(found[0])

    @_reconnecting
    def _create_schema(self) -> str:
        with self._translate(f"creating the store {self.url!r}"):
            conn = self._conn()
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_SCHEMA_LOCK, self._schema_lock))
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                conn.execute(f'SET LOCAL search_path TO "{self.schema}"')
                # Re-read under the lock: another process may have created or upgraded the store meanwhile.
                version = self._schema_version(conn)
                if version is None:
                    conn.execute(_DDL)
                if version is None or int(version) < 2:
                    conn.execute(_DDL_2)
                # Only ever raised: a newer recordkit's version stays, and this one refuses below.
                conn.execute(
                    "INSERT INTO meta VALUES ('schema_version', %s) ON CONFLICT (key) DO UPDATE SET value ="
                    " excluded.value WHERE meta.value::int < excluded.value::int",
                    (str(SCHEMA_VERSION),),
                )
                (version,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return str(version)

    # --- connections -------------------------------------------------------------------------
    def _translate(self, action: str) -> _Translator:
        return _Translator(self, action)

    def _conn(self) -> _Conn:
        if self._pid != os.getpid():
            # A forked child must not share its parent's sockets: start afresh.
            self._pid = os.getpid()
            self._local = threading.local()
            self._connections = []
            self._lock = threading.RLock()  # re-entered: a locked section may open or drop a connection
            if self.spool is not None:  # the parent's spool folder and its lock stay the parent's
                from recordkit._spool import Spool

                self.spool = Spool(self.spool.root)
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.closed:
            conn = None
        if conn is None:
            if self._closed:
                raise StoreError(f"the store {self.url!r} is closed; open it again with rk.open()")
            psycopg = _psycopg()
            conn = psycopg.connect(
                self._conninfo,
                autocommit=True,
                # Notice a cut network within about half a minute instead of the kernel's hours.
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
                tcp_user_timeout=30_000,
                application_name="recordkit",
            )
            conn.execute(f'SET search_path TO "{self.schema}"')
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn  # type: ignore[no-any-return]

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
            with self._lock, contextlib.suppress(ValueError):
                self._connections.remove(conn)

    def close(self) -> None:
        if self._closed:
            return
        if self.spool is not None and self.spool.pending():
            self.drain_spool()
            if self.spool.pending():
                _warn(
                    f"recordkit could not reach {self.url!r} to send {self.spool.pending()} spooled batch(es); "
                    f"they stay in {str(self.spool.root)!r} and are sent the next time this store is opened"
                )
        if self.spool is not None:
            self.spool.release()
        self._closed = True
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(Exception):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

    # --- collections -------------------------------------------------------------------------
    @_reconnecting
    def ensure_collection(self, name: str) -> None:
        with self._translate(f"creating collection {name!r}"):
            self._conn().execute(
                "INSERT INTO collections (name, created) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                (name, time.time()),
            )

    @_reconnecting
    def collections(self) -> list[str]:
        with self._translate("listing collections"):
            return [r[0] for r in self._conn().execute("SELECT name FROM collections ORDER BY id")]

    # --- runs --------------------------------------------------------------------------------
    @_reconnecting
    def create_run(self, new: NewRun) -> RunRow:
        with self._translate(f"starting a run in {new.collection!r}"):
            conn = self._conn()
            with conn.transaction():
                conn.execute(
                    "INSERT INTO collections (name, created) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                    (new.collection, new.start_time),
                )
                # The collection's row lock serialises numbering across every host.
                (collection_id,) = conn.execute(
                    "SELECT id FROM collections WHERE name = %s FOR UPDATE", (new.collection,)
                ).fetchone()
                if conn.execute("SELECT 1 FROM runs WHERE id = %s", (new.id,)).fetchone() is None:
                    # (Present already when a first attempt committed but its answer was lost: keep it.)
                    self._insert_run(conn, collection_id, new)
        row = self.get_run(new.id)
        assert row is not None
        return row

    @staticmethod
    def _insert_run(conn: _Conn, collection_id: int, new: NewRun) -> None:
        number = _next_number(conn, collection_id, new.parent_id)
        conn.execute(
            "INSERT INTO runs (id, collection_id, number, error_number, name, status, start_time,"
            " config, env, tags, parent_id, host, pid, heartbeat, folder, root_scope)"
            " VALUES (%s, %s, %s, 0, %s, 'running', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                new.id, collection_id, number, new.name, new.start_time, V.dumps(new.config),
                V.dumps(new.env), V.dumps(new.tags), new.parent_id, new.host, new.pid,
                new.start_time, new.folder, new.root_scope,
            ),
        )
        conn.execute(
            "INSERT INTO scopes (id, run_id, parent_id, fields) VALUES (%s, %s, NULL, '{}') ON CONFLICT DO NOTHING",
            (new.root_scope, new.id),
        )

    def end_run(self, run_id: str, status: str, end_time: float, error: dict[str, Any] | None) -> RunRow:
        spool = self.spool
        if spool is not None and spool.pending():
            self.drain_spool()  # the run's records first, then its final status
        try:
            if spool is not None and spool.pending():
                raise _spooled_error(self.url)
            self._end_run(run_id, status, end_time, error)
        except StorageError as exc:
            known = self._rows.get(run_id)
            if spool is None or not is_connection_error(exc) or known is None:
                raise
            # The server is gone: the final status waits in the spool, behind the run's records. The
            # row returned is the local view (its error_number is settled when the spool drains).
            spool.append(_new_batch_id(), [("end_run", run_id, status, end_time, error)])
            _warn(f"{exc}; the run's final status is spooled and sent when the server is back")
            known.status, known.end_time, known.error = status, end_time, error
            known.error_number = 1 if status in ERROR_STATUSES else 0
            return known
        row = self.get_run(run_id)
        assert row is not None
        return row

    @_reconnecting
    def _end_run(self, run_id: str, status: str, end_time: float, error: dict[str, Any] | None) -> None:
        with self._translate(f"ending run {run_id!r}"):
            conn = self._conn()
            with conn.transaction():
                found = conn.execute("SELECT collection_id FROM runs WHERE id = %s", (run_id,)).fetchone()
                if found is None:
                    raise StoreError(f"run {run_id!r} vanished from the store while it was running")
                conn.execute("SELECT 1 FROM collections WHERE id = %s FOR UPDATE", found)
                collection_id, parent_id, number = conn.execute(
                    "SELECT collection_id, parent_id, number FROM runs WHERE id = %s", (run_id,)
                ).fetchone()
                error_number = 0
                if status in ERROR_STATUSES:
                    (previous,) = conn.execute(
                        "SELECT coalesce(max(error_number), 0) FROM runs WHERE collection_id = %s"
                        " AND parent_id IS NOT DISTINCT FROM %s AND number = %s AND id != %s"
                        " AND status = ANY(%s)",
                        (collection_id, parent_id, number, run_id, list(ERROR_STATUSES)),
                    ).fetchone()
                    error_number = int(previous) + 1
                conn.execute(
                    "UPDATE runs SET status = %s, end_time = %s, error = %s, error_number = %s WHERE id = %s",
                    (status, end_time, None if error is None else V.dumps(error), error_number, run_id),
                )

    @_reconnecting
    def set_status(self, run_id: str, status: str) -> None:
        with self._translate(f"setting the status of run {run_id!r}"):
            self._conn().execute(
                "UPDATE runs SET status = %s, end_time = CASE WHEN %s IN ('running', 'paused')"
                " THEN NULL ELSE end_time END WHERE id = %s",
                (status, status, run_id),
            )

    @_reconnecting
    def update_config(self, run_id: str, config: dict[str, Any]) -> None:
        with self._translate(f"updating the config of run {run_id!r}"):
            self._conn().execute("UPDATE runs SET config = %s WHERE id = %s", (V.dumps(config), run_id))
        if run_id in self._rows:
            self._rows[run_id].config = config

    @_reconnecting
    def reopen_run(self, run_id: str, host: str, pid: int, now: float) -> RunRow:
        with self._translate(f"reopening run {run_id!r}"):
            conn = self._conn()
            with conn.transaction():
                # The row lock makes two resumers of one run take turns: the second sees it running.
                found = conn.execute("SELECT status FROM runs WHERE id = %s FOR UPDATE", (run_id,)).fetchone()
                if found is not None and found[0] in LIVE_STATUSES:
                    raise RunStateError(f"run {run_id!r} is {found[0]}: another process resumed it first")
                conn.execute(
                    "UPDATE runs SET status = 'running', end_time = NULL, error = NULL, error_number = 0,"
                    " host = %s, pid = %s, heartbeat = %s WHERE id = %s",
                    (host, pid, now, run_id),
                )
        row = self.get_run(run_id)
        if row is None:
            raise StoreError(f"run {run_id!r} is not in the store {self.url!r}")
        return row

    def get_run(self, run_id: str) -> RunRow | None:
        rows = self._select_runs("r.id = %s", (run_id,))
        return rows[0] if rows else None

    def find_runs(
        self,
        collection: str | None = None,
        *,
        number: int | None = None,
        id_prefix: str | None = None,
        statuses: Sequence[str] | None = None,
    ) -> list[RunRow]:
        where: list[str] = ["true"]
        params: list[Any] = []
        if collection is not None:
            where.append("c.name = %s")
            params.append(collection)
        if number is not None:
            where.append("r.number = %s AND r.parent_id IS NULL")
            params.append(number)
        if id_prefix is not None:
            where.append("left(r.id, %s) = %s")  # not LIKE: % and _ in a prefix match literally
            params.extend([len(id_prefix), id_prefix])
        if statuses is not None:
            where.append("r.status = ANY(%s)")
            params.append(list(statuses))
        return self._select_runs(" AND ".join(where), params)

    @_reconnecting
    def _select_runs(self, where: str, params: Sequence[Any]) -> list[RunRow]:
        with self._translate("reading runs"):
            cursor = self._conn().execute(
                f"SELECT {_RUN_COLUMNS} FROM {_RUN_FROM} WHERE {where} ORDER BY r.start_time, r.ord", params
            )
            rows = [
                RunRow(
                    id=r[0], collection=r[1], number=r[2], error_number=r[3], name=r[4], status=r[5],
                    start_time=r[6], end_time=r[7], config=V.loads(r[8]), env=V.loads(r[9]),
                    tags=V.loads(r[10]), parent_id=r[11], step=r[12], epoch=r[13],
                    error=V.loads(r[14]), host=r[15], pid=r[16], heartbeat=r[17], folder=r[18],
                    root_scope=r[19],
                )
                for r in cursor
            ]
        for row in rows:
            if row.status in ("running", "paused"):
                self._rows[row.id] = row
        return rows

    def reserve_scope_ids(self, count: int) -> range:
        with self._lock:
            if count <= SCOPE_BLOCK:
                taken = []
                for scope_id in self._scope_block:
                    taken.append(scope_id)
                    if len(taken) == count:
                        break
                if len(taken) == count and taken[-1] - taken[0] == count - 1:
                    return range(taken[0], taken[-1] + 1)
                block = self._reserve(max(count, SCOPE_BLOCK))
                self._scope_block = iter(block[count:])
                return block[:count]
            return self._reserve(count)

    @_reconnecting
    def _reserve(self, count: int) -> range:
        with self._translate("reserving scope ids"):
            conn = self._conn()
            conn.execute("INSERT INTO sequences VALUES ('scope', 0) ON CONFLICT DO NOTHING")
            (end,) = conn.execute(
                "UPDATE sequences SET value = value + %s WHERE name = 'scope' RETURNING value", (count,)
            ).fetchone()
        return range(end - count + 1, end + 1)

    # --- writing -----------------------------------------------------------------------------
    def write_batch(self, items: Sequence[WriteItem]) -> None:
        spool = self.spool
        if spool is not None and spool.pending():
            # Keep the order: new data waits behind what is already spooled.
            spool.append(_new_batch_id(), _materialized(items))
            try:
                self.drain_spool(patient=True)
            except StoreError as exc:  # the batch is safe in the spool: never hand it back to be spooled twice
                _warn(f"recordkit could not send spooled batches yet ({exc}); they stay in the spool and are retried")
            return
        batch_id = _new_batch_id()
        try:
            self._write_batch(batch_id, items)
        except StorageError as exc:
            if spool is None or not is_connection_error(exc):
                raise
            spool.append(batch_id, _materialized(items))
            _warn(
                f"{exc}; training continues, and batches are spooled in {str(spool.root)!r} "
                "until the server is back"
            )

    def drain_spool(self, *, patient: bool = False) -> int:
        """Send spooled batches in order; stop at the first connection failure. Returns how many were sent.

        With ``patient``, an attempt is made only when the spool's backoff allows (so a long outage
        costs one failed connection attempt per backoff period, not one per batch).
        """
        spool = self.spool
        if spool is None:
            return 0
        if patient and not spool.due():
            return 0
        with spool.lock:  # one sender at a time: the writer thread, or finish() in the caller's
            return self._drain(spool)

    def _drain(self, spool: Spool) -> int:
        sent = 0
        for batch_id, items, done in spool.entries():
            try:
                self._replay(batch_id, items)
            except StorageError as exc:
                if is_connection_error(exc):
                    spool.failed()
                    return sent
                raise
            done()
            sent += 1
        spool.succeeded()
        return sent

    def _replay(self, batch_id: str, items: Sequence[Any]) -> None:
        ops = [item for item in items if type(item) is tuple and item and item[0] == "end_run"]
        if ops:
            for _, run_id, status, end_time, error in ops:
                self._end_run(run_id, status, end_time, error)
            return
        try:
            self._write_batch(batch_id, items)
        except StoreError as exc:
            if isinstance(exc, StorageError):
                raise
            # A bad item must not block the spool forever: write one at a time, skip the bad ones.
            for i, item in enumerate(items):
                try:
                    self._write_batch(f"{batch_id}/{i}", [item])
                except StoreError as one:
                    if isinstance(one, StorageError):
                        raise
                    _warn(f"recordkit dropped a spooled item it could not store: {one}")

    def _write_batch(self, batch_id: str, items: Sequence[WriteItem]) -> None:
        # A deadlock or serialisation failure between writers is transient: try again at once, a few times.
        for attempt in range(5):
            try:
                self._write_batch_once(batch_id, items)
                return
            except StorageError as exc:
                if not getattr(exc, "_recordkit_transient", False) or attempt == 4:
                    raise
                time.sleep(0.01 * (attempt + 1))

    def _write_batch_once(self, batch_id: str, items: Sequence[WriteItem]) -> None:
        with self._translate("writing a batch"):
            conn = self._conn()
            # A write that hangs (a network that swallows packets, a stuck middlebox) is cut after
            # write_timeout: the batch then goes to the spool instead of holding the writer forever.
            watchdog = threading.Timer(self.write_timeout, _cut, args=(conn,))
            watchdog.daemon = True
            watchdog.start()
            try:
                with conn.transaction():
                    inserted = conn.execute(
                        "INSERT INTO batches VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                        (batch_id, time.time()),
                    ).fetchone()
                    if inserted is None:
                        return  # this batch landed before its commit was acknowledged
                    self._apply(conn, items)
            except BaseException:
                # Tables or columns made in the rolled-back transaction are gone: forget the cached plans.
                self._plans = {}
                self._tables = {}
                raise
            finally:
                watchdog.cancel()

    def _apply(self, conn: _Conn, items: Sequence[WriteItem]) -> None:
        # Lock order, the same in every writer so none waits on another in a circle: the schema lock
        # (only if a table or column kind is new, while planning and converting), then scopes, records,
        # the runs' rows and the summary rows (sorted).
        groups: dict[tuple[str, str], list[list[Any]]] = {}  # rows as lists, converted in place
        tables: dict[str, _Table] = {}
        counters: dict[str, list[Any]] = {}
        scope_items: list[CreateScope | UpdateScope] = []
        others: list[tuple[str, tuple[Any, ...]]] = []  # events, files, links: (statement, parameters), in order
        plans = self._plans
        last_keys: tuple[str, ...] | None = None
        last_run: str | None = None
        plan: tuple[_Table, bool] = (_Table(""), False)
        group: list[list[Any]] = []
        width = 0
        for item in items:
            if type(item) is tuple:
                run_id, scope_id, seq, step, when, values = item
                keys = tuple(values)
                if keys != last_keys or run_id != last_run:  # consecutive records mostly share both
                    plan = plans.get(keys) or self._plan(conn, values)
                    table = plan[0]
                    width = len(table.order)
                    tables[table.name] = table
                    group = groups.setdefault((table.name, run_id), [])
                    last_keys, last_run = keys, run_id
                if plan[1] and len(keys) == width:  # the record's keys are the table's columns, in order
                    group.append([scope_id, seq, step, when, *values.values(), None])
                    continue
                table = plan[0]
                row: list[Any] = [scope_id, seq, step, when, *([None] * width), None]
                index = table.order_index
                overflow = None
                for key, value in values.items():
                    if key in index:
                        row[4 + index[key]] = value
                    else:
                        overflow = overflow or {}
                        overflow[key] = value
                row[-1] = overflow
                group.append(row)
            elif isinstance(item, (CreateScope, UpdateScope)):
                scope_items.append(item)
            elif isinstance(item, UpdateRun):
                known = counters.setdefault(item.run_id, [None, None, None])
                for i, value in enumerate((item.step, item.epoch, item.heartbeat)):
                    if value is not None:
                        known[i] = value
            elif type(item) is AddEvent:
                others.append((_ADD_EVENT, (item.run_id, item.name, item.time, item.step, item.duration,
                                            V.dumps(item.data))))
            elif type(item) is AddFile:
                others.append((_ADD_FILE, (item.run_id, item.name, item.kind, item.time, item.step, item.size,
                                           item.sha256, item.path, item.mtime, V.dumps(item.meta))))
            elif type(item) is RemoveFile:
                others.append((_REMOVE_FILE, (item.time, item.run_id, item.path)))
            elif type(item) is AddLink:
                others.append((_ADD_LINK, (item.source_id, item.target_id, item.relation, item.time,
                                           V.dumps(item.data))))
            else:  # never dropped silently: an item this engine does not know is an error the caller sees
                raise StoreError(
                    f"the PostgreSQL store cannot write a {type(item).__name__} item; upgrade recordkit"
                )
        stats: dict[tuple[str, str], list[Any]] = {}
        for (name, run_id), rows in groups.items():  # convert everything before writing anything
            table = tables[name]
            for position, key in enumerate(table.order):
                self._convert_column(conn, table, key, 4 + position, rows, run_id, stats)
            for row in rows:
                if row[-1] is not None:
                    for key, value in row[-1].items():
                        if key not in table.order_index:
                            _stat(stats, run_id, key, value, row[2], row[1])
                    row[-1] = V.dumps(row[-1])
        for scope in scope_items:
            if isinstance(scope, CreateScope):
                conn.execute(
                    "INSERT INTO scopes (id, run_id, parent_id, fields) VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    (scope.id, scope.run_id, scope.parent_id, V.dumps(scope.fields)),
                )
            else:
                found = conn.execute("SELECT fields FROM scopes WHERE id = %s FOR UPDATE", (scope.id,)).fetchone()
                if found is not None:
                    conn.execute(
                        "UPDATE scopes SET fields = %s WHERE id = %s",
                        (V.dumps({**V.loads(found[0]), **scope.fields}), scope.id),
                    )
        for (name, _), rows in groups.items():
            if rows:
                self._copy(conn, tables[name], rows)
        start = 0
        while start < len(others):  # consecutive items of one kind in one round trip, the order kept
            end = start + 1
            while end < len(others) and others[end][0] == others[start][0]:
                end += 1
            with conn.cursor() as cursor:
                cursor.executemany(others[start][0], [params for _, params in others[start:end]])
            start = end
        for run_id, (step, epoch, heartbeat) in sorted(counters.items()):
            conn.execute(
                "UPDATE runs SET step = coalesce(%s, step), epoch = coalesce(%s, epoch),"
                " heartbeat = coalesce(%s, heartbeat) WHERE id = %s",
                (step, epoch, heartbeat, run_id),
            )
        if stats:
            # Sorted, so writers sharing a run take the summary rows' locks in one order.
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO summary (run_id, key, last, last_step, min, max, count)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (run_id, key) DO UPDATE SET"
                    " last = excluded.last, last_step = excluded.last_step,"
                    " min = LEAST(summary.min, excluded.min), max = GREATEST(summary.max, excluded.max),"
                    " count = summary.count + excluded.count",
                    [(run, key, V.dumps(s[0]), s[1], s[2], s[3], s[4]) for (run, key), s in sorted(stats.items())],
                )

    @staticmethod
    def _copy(conn: _Conn, table: _Table, rows: list[list[Any]]) -> None:
        types = ["bigint", "bigint", "bigint", "double precision"]
        types += [_PG_TYPES.get(table.kinds[k] or "", "text") for k in table.order]
        types.append("text")
        names = ", ".join(["scope_id", "seq", "step", "time", *(table.cols[k] for k in table.order), "extra"])
        with conn.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            write_row = copy.write_row
            for row in rows:
                write_row(row)

    def _convert_column(
        self,
        conn: _Conn,
        table: _Table,
        key: str,
        j: int,
        rows: list[list[Any]],
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
        fast = (kind == NUM and types <= _NUM_TYPES) or (kind == INT and types == _INT_TYPES)
        if fast:
            present = [v for v in column if v is not None] if has_none else column
            total = sum(present)
            in_range = kind == NUM or (_INT64[0] <= min(present) and max(present) <= _INT64[1])
            if total == total and in_range:  # no NaN: the fast path holds
                if kind == NUM and int in types:
                    for row in rows:
                        if type(row[j]) is int:
                            row[j] = float(row[j])
                last = len(rows) - 1
                while rows[last][j] is None:
                    last -= 1
                _merge_stat(stats, run_id, key, [column[last], rows[last][2], float(min(present)),
                                                 float(max(present)), len(present), rows[last][1]])
                return
        elif kind == V.STR and types == _STR_TYPES:
            last = len(rows) - 1
            while rows[last][j] is None:
                last -= 1
            _merge_stat(stats, run_id, key, [rows[last][j], rows[last][2], None, None,
                                             len(column) - column.count(None), rows[last][1]])
            return
        for row in rows:  # the careful path, a value at a time
            value = row[j]
            if value is None:
                continue
            if V.needs_materialize(value):  # a tensor or array: converted here, in the writer thread
                value = V.materialize(value)
            value_kind = _kind_of(value)
            if kind is None:
                kind = self._set_kind(conn, table, key, value_kind)
            stored = _to_column(value, value_kind, kind)
            if stored is not _NO_FIT:
                row[j] = stored
            else:  # NaN, a huge int, or another kind than the column's: kept exactly in the extra column
                row[j] = None
                if row[-1] is None:
                    row[-1] = {}
                row[-1][key] = value
            _stat(stats, run_id, key, value, row[2], row[1])

    def _load_registry(self, conn: _Conn) -> None:
        tables: dict[str, _Table] = {}
        for name, key, col, kind in conn.execute(
            "SELECT table_name, key, col, kind FROM record_columns ORDER BY table_name, position"
        ):
            tables.setdefault(name, _Table(name)).add(key, col, kind)
        for (name,) in conn.execute("SELECT name FROM record_tables"):
            tables.setdefault(name, _Table(name))
        self._tables = tables

    def _plan(self, conn: _Conn, values: dict[str, Any]) -> tuple[_Table, bool]:
        """Pick (or create, under the schema lock) the table for a record's key set."""
        keys = tuple(values)
        wanted = set(keys[:MAX_COLUMNS])
        best = self._best_table(wanted)
        if best is None:
            self._load_registry(conn)  # another process may have made one since we last looked
            best = self._best_table(wanted)
        if best is None:
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_SCHEMA_LOCK, self._schema_lock))
            self._load_registry(conn)  # re-read under the lock: the winner of a race made it already
            best = self._best_table(wanted) or self._create_table(conn, [k for k in keys if k in wanted], values)
        plan = (best, best.order[: len(keys)] == list(keys))
        if len(keys) <= MAX_COLUMNS:
            self._plans[keys] = plan
        return plan

    def _best_table(self, wanted: set[str]) -> _Table | None:
        best: _Table | None = None
        for table in self._tables.values():
            have = table.cols.keys()
            if wanted <= have and len(have) - len(wanted) <= REUSE_SLACK and (
                best is None or len(have) < len(best.cols)
            ):
                best = table
        return best

    def _create_table(self, conn: _Conn, keys: list[str], values: dict[str, Any]) -> _Table:
        conn.execute("INSERT INTO sequences VALUES ('table', 0) ON CONFLICT DO NOTHING")
        (n,) = conn.execute("UPDATE sequences SET value = value + 1 WHERE name = 'table' RETURNING value").fetchone()
        name = f"records_{n}"
        table = _Table(name)
        for i, key in enumerate(keys):
            table.add(key, f"c{i}", _first_kind(values[key]))
        columns = "".join(f", {table.cols[k]} {_PG_TYPES.get(table.kinds[k] or '', 'text')}" for k in table.order)
        conn.execute(
            f"CREATE TABLE {name} (scope_id BIGINT NOT NULL, seq BIGINT NOT NULL, step BIGINT,"
            f" time DOUBLE PRECISION{columns}, extra TEXT, PRIMARY KEY (scope_id, seq))"
        )
        conn.execute("INSERT INTO record_tables VALUES (%s, %s)", (name, time.time()))
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO record_columns VALUES (%s, %s, %s, %s, %s)",
                [(name, k, table.cols[k], table.kinds[k], i) for i, k in enumerate(table.order)],
            )
        self._tables[name] = table
        return table

    def _set_kind(self, conn: _Conn, table: _Table, key: str, kind: str | None) -> str | None:
        """Fix the kind of a column made before any value was seen (its type is text until then)."""
        col = table.cols[key]
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_SCHEMA_LOCK, self._schema_lock))
        (stored,) = conn.execute(
            "SELECT kind FROM record_columns WHERE table_name = %s AND key = %s", (table.name, key)
        ).fetchone()
        if stored is None and kind is not None:
            pg_type = _PG_TYPES.get(kind)
            if pg_type is not None:  # the column is empty (every value so far was NULL): retype it
                conn.execute(f"ALTER TABLE {table.name} ALTER COLUMN {col} TYPE {pg_type} USING NULL")
            conn.execute(
                "UPDATE record_columns SET kind = %s WHERE table_name = %s AND key = %s", (kind, table.name, key)
            )
            stored = kind
        table.kinds[key] = stored
        return stored  # type: ignore[no-any-return]

    # --- reading -----------------------------------------------------------------------------
    @_reconnecting
    def scopes(self, run_ids: Iterable[str]) -> dict[int, ScopeRow]:
        with self._translate("reading scopes"):
            cursor = self._conn().execute(
                "SELECT id, run_id, parent_id, fields FROM scopes WHERE run_id = ANY(%s) ORDER BY id",
                (list(run_ids),),
            )
            return {r[0]: ScopeRow(r[0], r[1], r[2], V.loads(r[3])) for r in cursor}

    @_reconnecting
    def _tables_for_read(self) -> list[_Table]:
        with self._lock, self._translate("reading the record tables"):
            self._load_registry(self._conn())
            return list(self._tables.values())

    def _where(self, table: _Table, query: RecordQuery, run_id: str) -> tuple[str, list[Any]] | None:
        """SQL conditions for one table and run (a pre-filter: never fewer rows than match)."""
        conds: list[str] = []
        if query.keys is not None and not (set(table.cols) & query.keys):
            conds.append("extra IS NOT NULL")  # the wanted keys can only be in the overflow column
        conds.append("scope_id IN (SELECT id FROM scopes WHERE run_id = %s)")
        params: list[Any] = [run_id]
        for superseded_run, after_step, before_seq in query.superseded:
            if superseded_run == run_id:  # exact, not a pre-filter: a resume superseded these
                conds.append("NOT (step > %s AND seq < %s)")
                params.extend([after_step, before_seq])
        if query.scope_ids is not None:
            conds.append("scope_id = ANY(%s)")
            params.append(sorted(query.scope_ids))
        low, high = query.steps
        if low is not None:
            conds.append("step >= %s")
            params.append(low)
        if high is not None:
            conds.append("step <= %s")
            params.append(high)
        for key, value, fallback in query.equals:
            # Own value equal, or no own value and a scope whose fields give the value (as SQLite does).
            in_extra = "(extra IS NOT NULL AND extra::jsonb ? %s)"
            extra_equal = "(extra IS NOT NULL AND extra::jsonb -> %s = %s::jsonb)"
            fb = sorted(fallback)
            as_json = V.dumps(value)
            col = table.cols.get(key)
            stored = _NO_FIT if col is None or value is None else _to_column(value, _kind_of(value), table.kinds[key])
            if col is not None and stored is not _NO_FIT:
                conds.append(
                    f"({col} = %s OR ({col} IS NULL AND ((NOT {in_extra} AND scope_id = ANY(%s)) OR {extra_equal})))"
                )
                params.extend([stored, key, fb, key, as_json])
            else:
                empty = f"{col} IS NULL AND " if col is not None else ""
                conds.append(f"(({empty}NOT {in_extra} AND scope_id = ANY(%s)) OR {extra_equal})")
                params.extend([key, fb, key, as_json])
        return " AND ".join(conds), params

    def iter_records(self, query: RecordQuery) -> Iterator[tuple[str, RawRecord]]:
        tables = self._tables_for_read()
        for run_id in query.run_ids:
            streams = []
            for table in tables:
                where = self._where(table, query, run_id)
                if where is not None:
                    streams.append(self._read_table(table, *where))
            for record in heapq.merge(*streams, key=lambda r: r.seq):
                yield run_id, record

    def _read_table(self, table: _Table, where: str, params: list[Any]) -> Iterator[RawRecord]:
        columns = "".join(f", {table.cols[k]}" for k in table.order)
        kinds = [table.kinds[k] for k in table.order]
        keys = table.order
        plain = {NUM, INT, V.BOOL, V.STR, None}
        sql = f"SELECT scope_id, seq, step, time{columns}, extra FROM {table.name} WHERE {where} ORDER BY seq"
        for row in self._stream(table.name, sql, params):
            values: dict[str, Any] = {}
            for i, key in enumerate(keys):
                value = row[4 + i]
                if value is not None:
                    kind = kinds[i]
                    values[key] = value if kind in plain else V.from_column(value, kind)  # type: ignore[arg-type]
            if row[-1] is not None:
                values.update(V.loads(row[-1]))
            yield RawRecord(row[0], row[1], row[2], row[3], values)

    def _stream(self, name: str, sql: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
        """Rows of a query in chunks (a server-side cursor), so a huge run never sits in client memory.

        Several streams of one connection may be consumed interleaved (``heapq.merge`` does).
        """
        conn = self._conn()
        with self._translate(f"reading {name}"):
            cursor = conn.cursor(name=f"rk_{uuid.uuid4().hex[:12]}", withhold=True)
            try:
                cursor.itersize = STREAM_CHUNK
                cursor.execute(sql, params)
                while True:
                    chunk = cursor.fetchmany(STREAM_CHUNK)
                    yield from chunk
                    if len(chunk) < STREAM_CHUNK:
                        break
            finally:
                with contextlib.suppress(Exception):
                    cursor.close()

    @_reconnecting
    def count_records(self, query: RecordQuery) -> int:
        total = 0
        with self._translate("counting records"):
            conn = self._conn()
            for table in self._tables_for_read():
                for run_id in query.run_ids:
                    where = self._where(table, query, run_id)
                    if where is not None:
                        sql = f"SELECT count(*) FROM {table.name} WHERE {where[0]}"
                        total += conn.execute(sql, where[1]).fetchone()[0]
        return total

    @_reconnecting
    def aggregate(self, query: RecordQuery, key: str, function: str) -> Any:
        count, total, low, high = 0, 0.0, None, None
        with self._translate(f"aggregating {key!r}"):
            conn = self._conn()
            for table in self._tables_for_read():
                kind = table.kinds.get(key)
                if kind in (NUM, INT):
                    value = f"{table.cols[key]}::double precision"
                elif kind == V.BOOL:
                    value = f"{table.cols[key]}::int::double precision"
                else:
                    value = "NULL::double precision"
                # Numbers that did not fit the column's type (a float in an int column) sit in extra.
                from_extra = (
                    "CASE WHEN extra IS NOT NULL AND json_typeof(extra::json -> %s) = 'number'"
                    " THEN (extra::json ->> %s)::double precision END"
                )
                expression = f"coalesce({value}, {from_extra})"
                for run_id in query.run_ids:
                    where = self._where(table, query, run_id)
                    if where is None:
                        continue
                    n, t, lo, hi = conn.execute(
                        f"SELECT count(v), coalesce(sum(v), 0), min(v), max(v) FROM"
                        f" (SELECT {expression} AS v FROM {table.name} WHERE {where[0]}) AS t"
                        " WHERE v <> 'NaN'::double precision",
                        [key, key, *where[1]],
                    ).fetchone()
                    count += n
                    total += t
                    if lo is not None:
                        low = lo if low is None else min(low, lo)
                        high = hi if high is None else max(high, hi)
        return _finish_aggregate(function, count, total, low, high)

    @_reconnecting
    def keys(self, run_ids: Iterable[str]) -> list[str]:
        with self._translate("listing keys"):
            cursor = self._conn().execute(
                "SELECT key FROM summary WHERE run_id = ANY(%s) GROUP BY key ORDER BY min(ord)", (list(run_ids),)
            )
            return [r[0] for r in cursor]

    @_reconnecting
    def summary(self, run_id: str) -> dict[str, KeySummary]:
        with self._translate(f"reading the summary of run {run_id!r}"):
            cursor = self._conn().execute(
                "SELECT key, last, last_step, min, max, count FROM summary WHERE run_id = %s ORDER BY ord",
                (run_id,),
            )
            return {r[0]: KeySummary(V.loads(r[1]), r[2], r[3], r[4], r[5]) for r in cursor}

    def max_seq(self, run_id: str) -> int:
        return max(self.max_seq_by_scope(run_id).values(), default=-1)

    @_reconnecting
    def summaries(self, run_ids: Iterable[str]) -> dict[str, dict[str, KeySummary]]:
        out: dict[str, dict[str, KeySummary]] = {run_id: {} for run_id in run_ids}
        if not out:
            return out
        with self._translate("reading run summaries"):
            cursor = self._conn().execute(
                "SELECT run_id, key, last, last_step, min, max, count FROM summary WHERE run_id = ANY(%s) ORDER BY ord",
                (list(out),),
            )
            for run_id, key, last, last_step, low, high, count in cursor:
                out[run_id][key] = KeySummary(V.loads(last), last_step, low, high, count)
        return out

    @_reconnecting
    def last_values(self, run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {run_id: {} for run_id in run_ids}
        if not out:
            return out
        with self._translate("reading run summaries"):
            cursor = self._conn().execute(
                "SELECT run_id, key, last FROM summary WHERE run_id = ANY(%s) ORDER BY ord", (list(out),)
            )
            for run_id, key, last in cursor:
                out[run_id][key] = V.loads(last)
        return out

    @_reconnecting
    def delete_runs(self, run_ids: Sequence[str], *, dry_run: bool = False) -> Removed:
        """Delete the runs with their scopes, records and summaries in one transaction (see Backend)."""
        ids = list(run_ids)
        removed = Removed()
        with self._translate("deleting runs"):
            conn = self._conn()
            try:
                with conn.transaction():
                    tables = [r[0] for r in conn.execute("SELECT name FROM record_tables ORDER BY name")]
                    removed.rows["records"] = sum(
                        conn.execute(
                            f"DELETE FROM {name} WHERE scope_id IN (SELECT id FROM scopes WHERE run_id = ANY(%s))",
                            (ids,),
                        ).rowcount
                        for name in tables
                    )
                    for kind, table, column in _RUN_OWNED:
                        count = conn.execute(f"DELETE FROM {table} WHERE {column} = ANY(%s)", (ids,)).rowcount
                        removed.rows[kind] = removed.rows.get(kind, 0) + count
                    removed.rows["runs"] = conn.execute("DELETE FROM runs WHERE id = ANY(%s)", (ids,)).rowcount
                    if dry_run:
                        raise _DryRun
            except _DryRun:
                pass  # the transaction was rolled back: the counts say what would be deleted
        return removed

    @_reconnecting
    def max_seq_by_scope(self, run_id: str) -> dict[int, int]:
        """Highest record sequence number per scope of a run (scopes without records are absent)."""
        found: dict[int, int] = {}
        with self._translate(f"reading run {run_id!r}"):
            conn = self._conn()
            for table in self._tables_for_read():
                for scope_id, value in conn.execute(
                    f"SELECT scope_id, max(seq) FROM {table.name}"
                    " WHERE scope_id IN (SELECT id FROM scopes WHERE run_id = %s) GROUP BY scope_id",
                    (run_id,),
                ):
                    found[scope_id] = max(found.get(scope_id, -1), value)
        return found

    # --- events, files, links ----------------------------------------------------------------
    @_reconnecting
    def events(self, run_ids: Iterable[str] | None, prefix: str | None = None) -> list[EventRow]:
        where, params = _runs_clause(run_ids, "run_id")
        if prefix is not None:
            # Literal (no LIKE: % and _ are plain characters), in byte order whatever the database's collation.
            where += ' AND (name = %s OR (name COLLATE "C" >= %s AND name COLLATE "C" < %s))'
            params.extend([prefix, prefix + "/", prefix + "0"])
        with self._translate("reading events"):
            cursor = self._conn().execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE {where} ORDER BY seq",
                params,
            )
            return [event_row(r) for r in cursor]

    @_reconnecting
    def files(self, run_ids: Iterable[str] | None) -> list[FileRow]:
        where, params = _runs_clause(run_ids, "run_id")
        with self._translate("reading files"):
            cursor = self._conn().execute(
                f"SELECT {FILE_COLUMNS} FROM files WHERE {where} ORDER BY seq",
                params,
            )
            return [file_row(r) for r in cursor]

    @_reconnecting
    def referenced_blobs(self) -> set[str] | None:
        # As in SQLite: removed rows count too (only checkpoints are removed, and they are not blobs).
        with self._translate("reading the file index"):
            cursor = self._conn().execute(
                "SELECT DISTINCT sha256 FROM files WHERE kind = 'attachment' AND sha256 IS NOT NULL"
            )
            return {r[0] for r in cursor}

    @_reconnecting
    def links(self, run_id: str) -> list[LinkRow]:
        with self._translate(f"reading the links of run {run_id!r}"):
            cursor = self._conn().execute(
                f"SELECT {LINK_COLUMNS} FROM links"
                " WHERE source_id = %s OR target_id = %s ORDER BY seq",
                (run_id, run_id),
            )
            return [link_row(r) for r in cursor]

    def drop_schema(self) -> None:
        """Delete the store's schema and everything in it (tests and ``recordkit`` admin use)."""
        if self.schema == "public":
            raise StoreError("refusing to drop the public schema; drop its tables by hand if you mean it")
        with self._translate(f"dropping schema {self.schema!r}"):
            self._conn().execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


_ADD_EVENT = "INSERT INTO events (run_id, name, time, step, duration, data) VALUES (%s, %s, %s, %s, %s, %s)"
_ADD_FILE = (
    "INSERT INTO files (run_id, name, kind, time, step, size, sha256, path, mtime, meta)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_REMOVE_FILE = "UPDATE files SET removed = %s WHERE run_id = %s AND path = %s AND removed IS NULL"
_ADD_LINK = "INSERT INTO links (source_id, target_id, relation, time, data) VALUES (%s, %s, %s, %s, %s)"


def _runs_clause(run_ids: Iterable[str] | None, column: str) -> tuple[str, list[Any]]:
    if run_ids is None:
        return "true", []
    return f"{column} = ANY(%s)", [list(run_ids)]


def _next_number(conn: _Conn, collection_id: int, parent_id: str | None) -> int:
    top, statuses = conn.execute(
        "SELECT number, array_agg(status) FROM runs WHERE collection_id = %s AND parent_id IS NOT DISTINCT FROM %s"
        " GROUP BY number ORDER BY number DESC LIMIT 1",
        (collection_id, parent_id),
    ).fetchone() or (0, [])
    if top == 0:
        return 1
    # Retry a number only while every run holding it ended with an error.
    return int(top) if all(s in ERROR_STATUSES for s in statuses) else int(top) + 1


_INT_TYPES = {int}
_NO_FIT = object()


def _kind_of(value: Any) -> str | None:
    kind = V.kind_of(value)
    return INT if kind == NUM and type(value) is int else kind


def _first_kind(value: Any) -> str | None:
    if V.needs_materialize(value):
        value = V.materialize(value)
    return _kind_of(value)


def _to_column(value: Any, value_kind: str | None, kind: str | None) -> Any:
    """The value as column ``kind`` holds it, or ``_NO_FIT``."""
    if kind == NUM and value_kind in (NUM, INT):
        if value != value or (value_kind == INT and abs(value) >= 2**53):
            return _NO_FIT  # NaN, or an int a double cannot hold exactly
        return float(value)
    if kind == INT and value_kind == INT:
        return value if _INT64[0] <= value <= _INT64[1] else _NO_FIT
    if kind is None or kind != value_kind or kind in (NUM, INT):
        return _NO_FIT
    if kind == V.BOOL:
        return bool(value)
    return V.to_column(value, kind)





def _materialized(items: Sequence[WriteItem]) -> list[Any]:
    """Items with tensors and arrays converted, so the spool holds only plain Python."""
    out: list[Any] = []
    for item in items:
        if type(item) is tuple:
            run_id, scope_id, seq, step, when, values = item
            if type(values) is not dict or any(V.needs_materialize(v) for v in values.values()):
                values = {k: V.materialize(v) if V.needs_materialize(v) else v for k, v in values.items()}
            out.append((run_id, scope_id, seq, step, when, values))
        elif type(item) is AddEvent:  # data may hold tensors: the spool keeps what would be stored
            out.append(AddEvent(item.run_id, item.name, item.time, item.step, item.duration,
                                V.loads(V.dumps(item.data))))
        else:
            out.append(item)
    return out


class _DryRun(Exception):
    """Raised inside a transaction to roll it back on purpose."""


def _cut(conn: Any) -> None:
    """Shut the connection's socket down from another thread: the blocked call fails at once."""
    import socket

    with contextlib.suppress(Exception):
        sock = socket.socket(fileno=os.dup(conn.fileno()))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


def _spooled_error(url: str) -> StorageError:
    error = StorageError(f"the PostgreSQL server at {url!r} is still unreachable (batches are waiting in the spool)")
    error._recordkit_connection = True  # type: ignore[attr-defined]
    return error


def _new_batch_id() -> str:
    return uuid.uuid4().hex


def _files_folder(files: str | os.PathLike[str]) -> str:
    """The run-folder root as an absolute local path; a ``file://`` URL is accepted."""
    text = os.fspath(files)
    if "://" in text:
        scheme, rest = text.split("://", 1)
        if scheme.lower() != "file":
            raise StoreError(
                f"files={text!r}: run folders need a filesystem path (or file://); mount {scheme}:// storage "
                "(s3fs, gcsfuse, NFS…) and give the mount point"
            )
        text = rest
    return str(Path(text).expanduser().resolve())


def _secrets_of(url: str) -> list[str]:
    """Passwords in a URL (userinfo or ``password=``), to scrub from engine messages."""
    parts = urlsplit(url)
    found = []
    if parts.password:
        found.append(parts.password)
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() == "password" and value:
            found.append(value)
    env = os.environ.get("PGPASSWORD")
    if env:
        found.append(env)
    return found


def _warn(message: str) -> None:
    with contextlib.suppress(Exception):
        warnings.warn(message, RecordkitWarning, stacklevel=3)
