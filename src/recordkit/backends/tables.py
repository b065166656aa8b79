"""The records tables of a store: records are grouped by key set, one table per set, one column per key.

Each ``records_<n>`` table has ``scope_id, seq, step, time``, one column per key (``c0``, ``c1``…,
named through the ``record_columns`` registry so any key text and case is safe) and an ``extra``
JSON column for values a column cannot hold exactly. A column's kind is fixed by its first
non-null value. :class:`RecordTables` mirrors the registry in memory, picks the table for a key set
and creates tables and kinds inside the write transaction, after re-reading the registry under the
schema lock, so concurrent writers never race into "duplicate table/column" errors.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from recordkit import _values as V
from recordkit.backends.dialect import Dialect

# Keys beyond this many in one key set go to the extra column (SQLite allows 2,000 columns,
# PostgreSQL 1,600).
MAX_COLUMNS = 1000
# A key set reuses an existing table that has at most this many columns it does not need.
REUSE_SLACK = 4


class Table:
    """A records table: its key → column registry, mirrored from ``record_columns``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cols: dict[str, str] = {}  # key -> column name
        self.kinds: dict[str, str | None] = {}
        self.order: list[str] = []  # keys in column order (c0, c1, ...)
        self.order_index: dict[str, int] = {}

    def add(self, key: str, col: str, kind: str | None) -> None:
        self.cols[key] = col
        # Interned so the writer's hot loop can compare kinds with `is`.
        self.kinds[key] = None if kind is None else sys.intern(kind)
        self.order_index[key] = len(self.order)
        self.order.append(key)

    def may_overflow(self) -> bool:
        """Whether ``extra`` may hold keys that have no column here (a key set wider than MAX_COLUMNS)."""
        return len(self.order) >= MAX_COLUMNS


def next_value(conn: Any, dialect: Dialect, name: str, count: int) -> int:
    """Advance the counter ``name`` of the ``sequences`` table by ``count`` (inside the caller's
    transaction) and return its new value."""
    sql = dialect.sql
    conn.execute(sql("INSERT INTO sequences VALUES (?, 0) ON CONFLICT DO NOTHING"), (name,))
    conn.execute(sql("UPDATE sequences SET value = value + ? WHERE name = ?"), (count, name))
    (end,) = conn.execute(sql("SELECT value FROM sequences WHERE name = ?"), (name,)).fetchone()
    return int(end)


class RecordTables:
    """The registry of a store's records tables, cached, and the table chosen for each key set."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.tables: dict[str, Table] = {}
        # key tuple -> (table, whether the keys are exactly the table's columns in order)
        self.plans: dict[tuple[str, ...], tuple[Table, bool]] = {}
        # scope id -> its series label (backends/labels.py): fixed at the scope's creation, so never stale
        self.labels: dict[int, str] = {}

    def forget(self) -> None:
        """Drop what is cached (tables made in a rolled-back transaction are gone)."""
        self.plans = {}
        self.tables = {}

    def load(self, conn: Any) -> None:
        """Re-read the registry: another process may have added tables or fixed kinds since."""
        sql = self.dialect.sql
        tables: dict[str, Table] = {}
        order = self.dialect.column_order
        for name, key, col, kind in conn.execute(
            sql(f"SELECT table_name, key, col, kind FROM record_columns ORDER BY table_name, {order}")
        ):
            tables.setdefault(name, Table(name)).add(key, col, kind)
        for (name,) in conn.execute(sql("SELECT name FROM record_tables")):
            tables.setdefault(name, Table(name))
        self.tables = tables

    def plan(self, conn: Any, values: dict[str, Any]) -> tuple[Table, bool]:
        """Pick (or create, under the schema lock) the table for a record's key set."""
        keys = tuple(values)
        wanted = set(keys[:MAX_COLUMNS])
        best = self.best(wanted)
        if best is None:
            self.load(conn)  # another process may have made one since we last looked
            best = self.best(wanted)
        if best is None:
            self.dialect.lock_schema(conn)
            self.load(conn)  # re-read under the lock: the winner of a race made it already
            best = self.best(wanted) or self.create(conn, [k for k in keys if k in wanted], values)
        plan = (best, best.order == list(keys))
        if len(keys) <= MAX_COLUMNS:
            self.plans[keys] = plan
        return plan

    def best(self, wanted: set[str]) -> Table | None:
        """The narrowest known table holding every wanted key with little to spare."""
        best: Table | None = None
        for table in self.tables.values():
            have = table.cols.keys()
            if wanted <= have and len(have) - len(wanted) <= REUSE_SLACK and (
                best is None or len(have) < len(best.cols)
            ):
                best = table
        return best

    def create(self, conn: Any, keys: list[str], values: dict[str, Any]) -> Table:
        """A new table for ``keys`` (the caller holds the schema lock)."""
        dialect = self.dialect
        sql = dialect.sql
        name = f"records_{next_value(conn, dialect, 'table', 1)}"
        table = Table(name)
        for i, key in enumerate(keys):
            # A tensor's kind is known once converted (in writing.convert_column): leave it open until then.
            value = values[key]
            table.add(key, f"c{i}", None if V.needs_materialize(value) else dialect.kind_of(value))
        conn.execute(sql(dialect.create_table(table)))
        conn.execute(sql("INSERT INTO record_tables VALUES (?, ?)"), (name, time.time()))
        if dialect.column_positions:
            rows: list[tuple[Any, ...]] = [
                (name, k, table.cols[k], table.kinds[k], i) for i, k in enumerate(table.order)
            ]
            dialect.executemany(conn, "INSERT INTO record_columns VALUES (?, ?, ?, ?, ?)", rows)
        else:
            rows = [(name, k, table.cols[k], table.kinds[k]) for k in table.order]
            dialect.executemany(conn, "INSERT INTO record_columns VALUES (?, ?, ?, ?)", rows)
        self.tables[name] = table
        return table

    def set_kind(self, conn: Any, table: Table, key: str, kind: str | None) -> str | None:
        """Fix the kind of a column made before any value was seen; the kind stored wins a race."""
        dialect = self.dialect
        sql = dialect.sql
        dialect.lock_schema(conn)
        (stored,) = conn.execute(
            sql("SELECT kind FROM record_columns WHERE table_name = ? AND key = ?"), (table.name, key)
        ).fetchone()
        if stored is None and kind is not None:
            dialect.retype(conn, table, key, kind)  # the column is empty (every value so far was NULL)
            conn.execute(
                sql("UPDATE record_columns SET kind = ? WHERE table_name = ? AND key = ?"), (kind, table.name, key)
            )
            stored = kind
        found = table.kinds[key] = None if stored is None else sys.intern(stored)
        return found
