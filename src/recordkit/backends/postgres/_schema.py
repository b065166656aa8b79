"""The shared store's tables (``backends/schema.py``), as numbered migrations (``backends/migrations.py``).

Version 1: runs, collections, scopes, the records-table registry, the per-run summary and the ids of
committed batches. Version 2: events, files and links (issue 4). Version 3: run notes (issue 14).
Version 4: series labels (issue 14). Version 5: journal marks (issue 12).
A new or older store is brought up to date under the store's schema lock (so many processes opening
it at once never race); opening a current store runs no DDL at all (even ``CREATE INDEX IF NOT
EXISTS`` locks tables that live writers use, and deadlocked with them here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recordkit.backends.migrations import Migration, pending
from recordkit.backends.schema import VERSION_1, VERSION_2, VERSION_3, VERSION_4, VERSION_5, Types

TYPES = Types(
    int="BIGINT",
    real="DOUBLE PRECISION",
    serial="BIGSERIAL",
    ord="ord BIGSERIAL, ",  # no rowid: this column keeps runs and summary rows in the order they came
    position=", position INTEGER NOT NULL",
    name_in_byte_order='name COLLATE "C"',  # byte order whatever the database's collation
)
# The ids of committed batches: a batch replayed after a lost commit acknowledgement lands once.
_BATCHES = "CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, time DOUBLE PRECISION NOT NULL);\n"
MIGRATIONS = (
    Migration(1, "runs, scopes, records, summary, batches", VERSION_1.format(**TYPES._asdict()) + _BATCHES),
    Migration(2, "events, files, links", VERSION_2.format(**TYPES._asdict())),
    Migration(3, "run notes", VERSION_3),
    Migration(4, "series labels of scopes and summary rows", VERSION_4),
    Migration(5, "journal marks", VERSION_5.format(**TYPES._asdict())),
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
