"""The folder store's tables (``backends/schema.py``), as numbered migrations (``backends/migrations.py``).

Version 1: runs, collections, scopes, the records-table registry and the per-run summary.
Version 2: events, files and links (issue 4); a version-1 store gains them when it is opened.
Version 3: the runs' ``notes`` column (issue 14).
Version 4: series labels (issue 14): `scopes.label`, `summary.name`.
Version 5: the journal marks (issue 12).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from recordkit.backends.migrations import Migration, pending
from recordkit.backends.schema import VERSION_1, VERSION_2, VERSION_3, VERSION_4, VERSION_5, Types

# SQLite's own spellings: a plain ``INTEGER PRIMARY KEY`` is the rowid, which also keeps insertion order.
TYPES = Types(int="INTEGER", real="REAL", serial="INTEGER", ord="", position="", name_in_byte_order="name")
MIGRATIONS = (
    Migration(1, "runs, scopes, records, summary", VERSION_1.format(**TYPES._asdict())),
    Migration(2, "events, files, links", VERSION_2.format(**TYPES._asdict())),
    Migration(3, "run notes", VERSION_3),
    Migration(4, "series labels of scopes and summary rows", VERSION_4),
    Migration(5, "journal marks", VERSION_5.format(**TYPES._asdict())),
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
