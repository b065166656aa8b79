"""The folder store: SQLite (``<folder>/recordkit.db``) plus run folders beside it.

The tables are those of every SQL engine (``backends/core.py``, measured in docs/storage.md); what is
SQLite's own lives here: opening the folder, connections (WAL mode, ``synchronous=NORMAL``, a long
busy timeout), garbage collection (``VACUUM``) and the read-only SQL views of ``store.sql()``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from recordkit._exceptions import StoreError, StoreNotFoundError
from recordkit.backends.base import Removed
from recordkit.backends.core import RUN_OWNED_TABLES, SQLBackend
from recordkit.backends.sqlite import _schema
from recordkit.backends.sqlite.dialect import SQLiteDialect
from recordkit.backends.sqlite.errors import translate

DB_NAME = "recordkit.db"
JOURNAL_FOLDER = ".journal"  # a leading dot: no collection can have this name


class SQLiteBackend(SQLBackend):
    """SQLite in WAL mode with ``synchronous=NORMAL``: a commit survives the process being killed."""

    def __init__(self, folder: str | os.PathLike[str], *, create: bool = True, busy_timeout: float = 60.0):
        self.folder = Path(folder)
        if not self.folder.exists():
            if not create:
                raise StoreNotFoundError(f"no store at {str(self.folder)!r}; create it with rk.open(path)")
            self.folder.mkdir(parents=True, exist_ok=True)
        elif not self.folder.is_dir():
            raise StoreError(f"store path {str(self.folder)!r} is a file; give a folder path")
        self.path = self.folder / DB_NAME
        if not create and not self.path.exists():
            raise StoreNotFoundError(f"{str(self.folder)!r} holds no recordkit store ({DB_NAME} is missing)")
        super().__init__(SQLiteDialect())
        self.url = str(self.folder)
        # Absolute, fixed at open: every path the store hands out (run folders, files, plots) is absolute,
        # and stays right if the process changes directory later.
        self.files_root = os.path.abspath(self.folder)
        self.journal_folder = str(self.folder / JOURNAL_FOLDER)
        self._busy_ms = int(busy_timeout * 1000)
        with translate(f"opening the store {self.url!r}"):
            # Concurrent openers of a new store serialise on the write lock (and the busy timeout).
            _schema.upgrade(self._conn(), self.url, self.dialect.transaction)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
        conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        _wal(conn, self._busy_ms / 1000)
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _errors(self, action: str) -> contextlib.AbstractContextManager[None]:
        return translate(action)

    # --- collecting garbage ------------------------------------------------------------------
    def size(self) -> int:
        """Bytes the database takes on disk: the file plus its write-ahead log."""
        return sum(_file_size(Path(f"{self.path}{suffix}")) for suffix in ("", "-wal"))

    def collect_garbage(self, *, dry_run: bool = False) -> Removed:
        with translate("collecting garbage"):
            conn = self._conn()
            before = self.size()
            if dry_run:
                return self._collect_on_copy(conn, before)
            with self.dialect.transaction(conn):
                rows = _delete_orphans(conn)
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
                with self.dialect.transaction(copy):
                    rows = _delete_orphans(copy)
                copy.execute("VACUUM")
            finally:
                copy.close()
            return Removed(rows, before, _file_size(scratch))
        finally:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{scratch}{suffix}").unlink(missing_ok=True)

    # --- analytics ---------------------------------------------------------------------------
    def sql(
        self, query: str, params: Sequence[Any] | Mapping[str, Any], *, timeout: float = 30.0
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        from recordkit.backends.sqlite.views import sqlite_query

        return sqlite_query(self.path, query, params, timeout)


def _delete_orphans(conn: sqlite3.Connection) -> dict[str, int]:
    """Delete rows whose run (or, for records, whose scope) is gone; counts by kind."""
    tables = [r[0] for r in conn.execute("SELECT name FROM record_tables")]
    rows: dict[str, int] = {}
    for kind, table, column in RUN_OWNED_TABLES:
        count = conn.execute(f"DELETE FROM {table} WHERE {column} NOT IN (SELECT id FROM runs)").rowcount
        rows[kind] = rows.get(kind, 0) + count
    rows["records"] = sum(
        conn.execute(f"DELETE FROM {name} WHERE scope_id NOT IN (SELECT id FROM scopes)").rowcount for name in tables
    )
    return rows


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _wal(conn: sqlite3.Connection, patience: float) -> None:
    """Put the database in WAL mode. Switching a new file's journal mode can answer "database is locked"
    at once, without the busy handler, while another process creates the same store (measured: 3 of 100
    processes opening a new store four at a time): such an answer is retried for the busy timeout."""
    deadline = time.monotonic() + patience
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
