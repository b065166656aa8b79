"""The shared store: PostgreSQL, with the folder store's layout (DESIGN.md §4, docs/postgres.md).

The tables and every read and write are the SQL core's (``backends/core.py``); what is PostgreSQL's
own lives here: connections that reconnect and notice a cut network, a watchdog that cuts a write
hanging past ``write_timeout``, exactly-once batches, and the local spool that keeps training going
through an outage:

* Every batch carries an id stored in ``batches`` in the same transaction: a batch whose commit was
  cut off (so the client cannot know whether it landed) is replayed from the spool exactly once.
* ``create_run`` and ``end_run`` lock the collection's row, so numbering is atomic across hosts.
* A deadlock or serialisation failure between writers is retried at once, inside the batch.

Connection settings come from the URL and the standard ``PG*`` variables (libpq reads them); the
query parameter ``schema`` (not a libpq one) picks the schema, created if missing. The password is
never kept in ``url``, in error messages, in meta.json or in any stored value.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from recordkit import _values as V
from recordkit._deps import require
from recordkit._exceptions import (
    RecordkitWarning,
    StorageConflictError,
    StorageError,
    StorageUnavailableError,
    StoreError,
    StoreNotFoundError,
)
from recordkit.backends.base import ERROR_STATUSES, LIVE_STATUSES, AddEvent, NewRun, RunRow, WriteItem
from recordkit.backends.core import SQLBackend, retried
from recordkit.backends.migrations import pending
from recordkit.backends.postgres import _schema
from recordkit.backends.postgres.dialect import PostgresDialect
from recordkit.backends.postgres.errors import Translator
from recordkit.backends.postgres.scope_ids import BLOCK as SCOPE_BLOCK
from recordkit.backends.postgres.scope_ids import ScopeIds
from recordkit.backends.postgres.spool import Spool, default_spool_root
from recordkit.backends.postgres.url import files_folder, parse_url, redact_url, secrets_of, store_identity

# Seconds one batch may take before its connection is cut (the batch is then spooled).
WRITE_TIMEOUT = 60.0
# Seconds the server counts as away after a lost connection, unless a new one gets through first.
_AWAY_FOR = 5.0
# Rows fetched per round trip when reading records.
STREAM_CHUNK = 10_000


def _psycopg() -> Any:
    return require("psycopg", "the PostgreSQL store needs psycopg 3")


class PostgresBackend(SQLBackend):
    """PostgreSQL through psycopg 3; one connection per thread; batches written with binary COPY.

    Parameters
    ----------
    url
        ``postgresql://user@host:port/database?schema=name``; anything libpq accepts (``sslmode``,
        ``options``…) may be added, and unset parts come from ``PGHOST``, ``PGUSER``, ``PGPASSWORD``…
    create
        With False, a schema that holds no store raises :class:`recordkit.StoreNotFoundError`.
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
        create: bool = True,
        files: str | os.PathLike[str] | None = None,
        spool: str | os.PathLike[str] | bool | None = None,
    ) -> None:
        self._secrets = secrets_of(url)
        self.url = redact_url(url)
        self._conninfo, self.schema, options = parse_url(url)
        super().__init__(PostgresDialect(self.schema))
        try:
            #: Seconds a batch may take before its connection is cut and the batch spooled.
            self.write_timeout = float(options.get("write_timeout", WRITE_TIMEOUT))
        except ValueError:
            raise StoreError(f"write_timeout={options['write_timeout']!r} is not a number of seconds") from None
        self.files_root = None if files is None else files_folder(files)
        self._scope_ids = ScopeIds(lambda count: SQLBackend.reserve_scope_ids(self, count), self.seems_reachable)
        self._rows: dict[str, RunRow] = {}  # last known row per live run, for end_run during an outage
        self.spool: Spool | None = None
        #: False while the store was opened offline and its schema not yet checked (see _connect).
        self._schema_ready = True
        self._lost_at: float | None = None  # when a connection was last lost (monotonic), until one gets through
        spool_option = options.get("spool")
        if spool_option is not None and spool is None:
            spool = False if spool_option.lower() in ("0", "off", "false", "no") else spool_option
        spool_root: Path | None = None
        legacy: list[Path] = []
        if spool is not False:
            if spool in (None, True):
                spool_root = default_spool_root(store_identity(self._conninfo, self.schema))
                legacy = [default_spool_root(self.url)]  # where spools were before (by the URL's text)
            else:
                spool_root = Path(os.fspath(spool))  # type: ignore[arg-type]
        try:
            with self._errors(f"opening the store {self.url!r}"):
                found = _schema.version(self._conn(), self.schema)
        except StorageUnavailableError as exc:
            # Training must start while the server is down, for a store this machine has reached before
            # (its spool folder exists; a mistyped URL still fails here): runs start and log into the spool,
            # and the schema is checked on the first connection that gets through (_connect).
            if spool_root is None or not create or not spool_root.is_dir():
                raise
            self._schema_ready = False
            _warn(f"{exc}; the store opens offline: runs start and log into the local spool and reach the "
                  "server when it is back (reading the store waits for it)")
        else:
            if found is None and not create:
                raise StoreNotFoundError(
                    f"no recordkit store in schema {self.schema!r} at {self.url!r}; create it with rk.open(url)"
                )
            if found is None or pending(found, _schema.MIGRATIONS, self.url):  # (a newer store is refused here)
                self._upgrade()
            if spool_root is not None:  # this machine knows the store now: it may open it offline later
                with contextlib.suppress(OSError):
                    spool_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.files_root is not None:
            Path(self.files_root).mkdir(parents=True, exist_ok=True)
        if spool_root is not None:
            self.spool = Spool(spool_root)
            # Beside the spool, not in it: the spool takes any folder in its root for an orphan.
            self.journal_folder = str(spool_root.parent / f"{spool_root.name}.journal")
            self.spool.adopt_orphans(also=legacy)
            if self.spool.pending() and self._schema_ready:
                self.drain_spool()

    @retried
    def _upgrade(self) -> int:
        with self._errors(f"creating the store {self.url!r}"):
            return _schema.upgrade(self._conn(), self.schema, self.url, self.dialect.lock_schema)

    # --- connections -------------------------------------------------------------------------
    def _errors(self, action: str) -> Translator:
        return Translator(action, self.url, self._secrets, self._lost)

    def _lost(self) -> None:
        """A connection was lost: drop it, and take the server for away until a new one gets through (or
        for a few seconds), so a run starting now goes offline at once instead of waiting on the network."""
        self._lost_at = time.monotonic()
        self._drop_connection()

    def _connect(self) -> Any:
        conn = _psycopg().connect(
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
        self._lost_at = None
        if not self._schema_ready:  # opened offline: the first connection that gets through checks the schema
            found = _schema.version(conn, self.schema)
            if found is None or pending(found, _schema.MIGRATIONS, self.url):
                _schema.upgrade(conn, self.schema, self.url, self.dialect.lock_schema)
                conn.execute(f'SET search_path TO "{self.schema}"')
            self._schema_ready = True
        return conn

    def _usable(self, conn: Any) -> bool:
        return not conn.closed

    def _after_fork(self) -> None:
        super()._after_fork()
        if self.spool is not None:  # the parent's spool folder and its lock stay the parent's
            self.spool = Spool(self.spool.root)

    def close(self) -> None:
        if self._closed:
            return
        self._scope_ids.stop()
        if self.spool is not None and self.spool.pending():
            self.drain_spool()
            if self.spool.pending():
                _warn(
                    f"recordkit could not reach {self.url!r} to send {self.spool.pending()} spooled batch(es); "
                    f"they stay in {str(self.spool.root)!r} and are sent the next time this store is opened"
                )
        if self.spool is not None:
            self.spool.release()
        super().close()

    def drop_schema(self) -> None:
        """Delete the store's schema and everything in it (tests and ``recordkit`` admin use)."""
        if self.schema == "public":
            raise StoreError("refusing to drop the public schema; drop its tables by hand if you mean it")
        with self._errors(f"dropping schema {self.schema!r}"):
            self._conn().execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    # --- runs: the last known row of a live run answers end_run during an outage ----------------
    def get_run(self, run_id: str) -> RunRow | None:
        row = super().get_run(run_id)
        if row is not None and row.status in LIVE_STATUSES:
            self._rows[run_id] = row
        return row

    def update_config(self, run_id: str, config: dict[str, Any]) -> None:
        super().update_config(run_id, config)
        if run_id in self._rows:
            self._rows[run_id].config = config

    def end_run(self, run_id: str, status: str, end_time: float, error: dict[str, Any] | None) -> RunRow:
        spool = self.spool
        if spool is not None and spool.pending():
            self.drain_spool()  # the run's records first, then its final status
        try:
            if spool is not None and spool.pending():
                raise StorageUnavailableError(
                    f"the PostgreSQL server at {self.url!r} is still unreachable (batches are waiting in the spool)"
                )
            self._end_run(run_id, status, end_time, error)
        except StorageUnavailableError as exc:
            known = self._rows.get(run_id)
            if spool is None or known is None:
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

    def seems_reachable(self) -> bool:
        lost = self._lost_at
        if lost is not None and time.monotonic() - lost < _AWAY_FOR:
            return False
        return self._schema_ready and not (self.spool is not None and self.spool.pending())

    def reserve_scope_ids(self, count: int) -> range:
        # From memory, never a round trip (see scope_ids.py): run.scope() keeps working through an outage.
        if count > SCOPE_BLOCK:
            return super().reserve_scope_ids(count)
        return self._scope_ids.take(count)

    def create_run(self, new: NewRun) -> RunRow:
        spool = self.spool
        if spool is not None and not self.seems_reachable():
            # The server is away (or batches wait for it): the run starts behind them, offline.
            return self._start_offline(new, "the server is unreachable or batches are waiting for it in the spool")
        try:
            return super().create_run(new)
        except StorageUnavailableError as exc:
            if spool is None:
                raise
            return self._start_offline(new, str(exc))

    def _start_offline(self, new: NewRun, why: str) -> RunRow:
        """Start a run without the server: its creation is spooled first, ahead of its records; it is
        numbered when the spool reaches the server (``number`` reads 0 until then)."""
        assert self.spool is not None
        self.spool.append(_new_batch_id(), [("create_run", new)])
        row = RunRow(
            id=new.id, collection=new.collection, number=0, error_number=0, name=new.name, status="running",
            start_time=new.start_time, end_time=None, config=new.config, env=new.env, tags=list(new.tags),
            parent_id=new.parent_id, step=0, epoch=0, error=None, host=new.host, pid=new.pid,
            heartbeat=new.start_time, folder=new.folder, root_scope=new.root_scope,
        )
        self._rows[new.id] = row
        _warn(f"run {new.id} starts offline ({why}); it is spooled in {str(self.spool.root)!r}, numbered and "
              "stored when the server is back")
        return row

    # --- writing -----------------------------------------------------------------------------
    def write_batch(self, items: Sequence[WriteItem]) -> None:
        spool = self.spool
        if spool is not None and spool.pending():
            # Keep the order: new data waits behind what is already spooled.
            try:
                spool.append(_new_batch_id(), _materialized(items))
            except StorageError:
                # The spool's disk is full: sending what waits there may let this batch go straight to the
                # server; if not, the StorageError makes the writer keep the batch in memory.
                self.drain_spool(patient=True)
                if spool.pending():
                    raise
            else:
                try:
                    self.drain_spool(patient=True)
                except StoreError as exc:  # the batch is safe in the spool: never hand it back to be spooled twice
                    _warn(f"recordkit could not send spooled batches yet ({exc}); they stay in the spool and are "
                          "retried")
                return
        batch_id = _new_batch_id()
        try:
            self._write_batch(batch_id, items)
        except StorageUnavailableError as exc:
            if spool is None:
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
                # Once more on a fresh connection: the one that saw the outage is dead even if the server is back.
                retried(PostgresBackend._replay)(self, batch_id, items)
            except StorageUnavailableError:
                spool.failed()
                return sent
            done()
            sent += 1
        spool.succeeded()
        return sent

    def _replay(self, batch_id: str, items: Sequence[Any]) -> None:
        ops = [item for item in items if type(item) is tuple and item and item[0] in ("create_run", "end_run")]
        if ops:
            for op in ops:
                if op[0] == "create_run":
                    SQLBackend.create_run(self, op[1])  # a no-op when the run already landed
                else:
                    _, run_id, status, end_time, error = op
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
            except StorageConflictError:
                if attempt == 4:
                    raise
                time.sleep(0.01 * (attempt + 1))

    def _write_batch_once(self, batch_id: str, items: Sequence[WriteItem]) -> None:
        with self._errors("writing a batch"):
            conn = self._conn()
            # A write that hangs (a network that swallows packets, a stuck middlebox) is cut after
            # write_timeout: the batch then goes to the spool instead of holding the writer forever.
            watchdog = threading.Timer(self.write_timeout, _cut, args=(conn,))
            watchdog.daemon = True
            watchdog.start()
            try:
                self._commit_batch(conn, items, batch_id)
            finally:
                watchdog.cancel()

    def _first_time(self, conn: Any, batch_id: str) -> bool:
        inserted = conn.execute(
            "INSERT INTO batches VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING 1", (batch_id, time.time())
        ).fetchone()
        return inserted is not None  # None: this batch landed before its commit was acknowledged

    # --- reading -----------------------------------------------------------------------------
    def _stream(self, name: str, statement: str, params: Sequence[Any]) -> Iterator[Sequence[Any]]:
        """Rows in chunks through a server-side cursor, so a huge run never sits in client memory."""
        conn = self._conn()
        with self._errors(f"reading {name}"):
            cursor = conn.cursor(name=f"rk_{uuid.uuid4().hex[:12]}", withhold=True)
            try:
                cursor.itersize = STREAM_CHUNK
                cursor.execute(statement, params)
                while True:
                    chunk = cursor.fetchmany(STREAM_CHUNK)
                    yield from chunk
                    if len(chunk) < STREAM_CHUNK:
                        break
            finally:
                with contextlib.suppress(Exception):
                    cursor.close()


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


def _cut(conn: Any) -> None:
    """Shut the connection's socket down from another thread: the blocked call fails at once."""
    import socket

    with contextlib.suppress(Exception):
        sock = socket.socket(fileno=os.dup(conn.fileno()))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


def _new_batch_id() -> str:
    return uuid.uuid4().hex


def _warn(message: str) -> None:
    with contextlib.suppress(Exception):
        warnings.warn(message, RecordkitWarning, stacklevel=3)
