"""The folder store's tables, as numbered migrations (see ``backends/migrations.py``).

Version 1: runs, collections, scopes, the records-table registry and the per-run summary.
Version 2: events, files and links (issue 4); a version-1 store gains them when it is opened.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from recordkit.backends.migrations import Migration, pending

MIGRATIONS = (
    Migration(1, "runs, scopes, records, summary", """
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
"""),
    Migration(2, "events, files, links", """
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
"""),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def version(conn: Any) -> int | None:
    """The store's schema version; None for a new (empty) database."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is None:
        return None
    found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return None if found is None else int(found[0])


def upgrade(conn: Any, url: str, write: Callable[[Any], AbstractContextManager[Any]]) -> None:
    """Create or upgrade the tables of the store on ``conn``; refuse a store newer than this recordkit.

    ``write`` opens the write transaction (``BEGIN IMMEDIATE``): processes opening one store at once
    take turns, and each re-reads the version under the lock, so every step runs exactly once.
    """
    if not pending(version(conn), MIGRATIONS, url):
        return  # the common case: nothing to do, and no write lock taken
    with write(conn):
        for step in pending(version(conn), MIGRATIONS, url):
            for statement in step.statements():  # not executescript: it would commit the transaction
                conn.execute(statement)
        conn.execute(
            "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )
