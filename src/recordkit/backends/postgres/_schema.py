"""The shared store's tables, as numbered migrations (see ``backends/migrations.py``).

Version 1: runs, collections, scopes, the records-table registry, the per-run summary and the ids of
committed batches. Version 2: events, files and links (issue 4). A new or older store is brought up
to date under the store's schema lock (so many processes opening it at once never race); opening a
current store runs no DDL at all (even ``CREATE INDEX IF NOT EXISTS`` locks tables that live writers
use, and deadlocked with them here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recordkit.backends.migrations import Migration, pending

MIGRATIONS = (
    Migration(1, "runs, scopes, records, summary, batches", """
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
"""),
    Migration(2, "events, files, links", """
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
"""),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def version(conn: Any, schema: str) -> int | None:
    """The schema version of the store in ``schema``; None when the schema holds no store yet."""
    (exists,) = conn.execute("SELECT to_regclass(%s)", (f'"{schema}".meta',)).fetchone()
    if exists is None:
        return None
    found = conn.execute(f'SELECT value FROM "{schema}".meta WHERE key = \'schema_version\'').fetchone()
    return None if found is None else int(found[0])


def upgrade(conn: Any, schema: str, url: str, lock: Callable[[Any], None]) -> int:
    """Create or upgrade the store in ``schema`` in one transaction under ``lock``; its version after."""
    with conn.transaction():
        lock(conn)
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        conn.execute(f'SET LOCAL search_path TO "{schema}"')
        # Re-read under the lock: another process may have created or upgraded the store meanwhile.
        for step in pending(version(conn, schema), MIGRATIONS, url):
            conn.execute(step.script)  # no parameters: psycopg sends the statements in one go
        # Only ever raised: a newer recordkit's version stays (and pending() refused it above).
        conn.execute(
            "INSERT INTO meta VALUES ('schema_version', %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            " WHERE CAST(meta.value AS INTEGER) < CAST(excluded.value AS INTEGER)",
            (str(SCHEMA_VERSION),),
        )
        (found,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(found)
