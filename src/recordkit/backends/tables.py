"""The records tables of a store: records are grouped by key set, one table per set, one column per key.

Each ``records_<n>`` table has ``scope_id, seq, step, time``, one column per key (``c0``, ``c1``…,
named through the ``record_columns`` registry so any key text and case is safe) and an ``extra``
JSON column for values a column cannot hold exactly. A column's kind is fixed by its first
non-null value. :class:`RecordTables` mirrors the registry in memory, picks the table for a key set
and creates tables and kinds inside the write transaction, after re-reading the registry under the
schema lock, so concurrent writers never race into "duplicate table/column" errors.

A store holds at most :data:`MAX_TABLES` tables of their own key sets. Past that (a run logging
thousands of distinct key sets), a new key set goes into a *shared* table — one made past the cap —
that already holds most of its keys, widened for the rest (SQLite makes it with spare columns,
PostgreSQL adds them with one ``ALTER TABLE``), up to :data:`MAX_COLUMNS`: reads, counts and
``store.sql`` then cost a few tables, not thousands. Every
change of the registry advances the ``registry`` counter of ``sequences``, so a writer re-reads the
registry only when another one changed it (re-reading it for every new key set made 5,000 key sets
in one batch take 44 s).
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
# Tables of their own key set a store may hold; later key sets share (and widen) tables made past it.
MAX_TABLES = 256


class Table:
    """A records table: its key → column registry, mirrored from ``record_columns``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.number = int(name.rsplit("_", 1)[-1])
        #: Columns the table has in the database (None: not known; more than ``order`` if made with spares).
        self.width: int | None = None
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


def _first_kind(dialect: Dialect, value: Any) -> str | None:
    # A tensor's kind is known once converted (in writing.convert_column): leave it open until then.
    return None if V.needs_materialize(value) else dialect.kind_of(value)


def _version(conn: Any, dialect: Dialect) -> int:
    """The ``registry`` counter: how many changes the records-table registry has seen (0 before any)."""
    found = conn.execute(dialect.sql("SELECT value FROM sequences WHERE name = ?"), ("registry",)).fetchone()
    return 0 if found is None else int(found[0])


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
        self.version: int | None = None  # the ``registry`` counter when the registry was last read
        # Within one write transaction: whether it holds the schema lock (then nobody else can change
        # the registry) and whether it advanced the counter already (once is enough for the others).
        self.locked = self.counted = False

    def begin(self) -> None:
        """A new write transaction starts: it holds no lock yet."""
        self.locked = self.counted = False

    def forget(self) -> None:
        """Drop what is cached (tables made in a rolled-back transaction are gone)."""
        self.plans = {}
        self.tables = {}
        self.version = None
        self.locked = self.counted = False

    def lock(self, conn: Any) -> None:
        """Take the schema lock for the rest of the transaction, and read what changed before it."""
        if not self.locked:
            self.dialect.lock_schema(conn)
            self.locked = True
            self.refresh(conn)  # re-read under the lock: the winner of a race made it already

    def refresh(self, conn: Any) -> None:
        """Re-read the registry if another writer changed it since it was last read."""
        if self.version is None or _version(conn, self.dialect) != self.version:
            self.load(conn)

    def load(self, conn: Any) -> None:
        """Re-read the registry: another process may have added tables or fixed kinds since."""
        sql = self.dialect.sql
        self.version = _version(conn, self.dialect)
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
        if best is None and not self.locked:
            self.refresh(conn)  # another process may have made one since we last looked
            best = self.best(wanted)
            if best is None:
                self.lock(conn)
                best = self.best(wanted)
        if best is None:
            best = self.place(conn, [k for k in keys if k in wanted], values)
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

    def place(self, conn: Any, keys: list[str], values: dict[str, Any]) -> Table:
        """The table for a key set no table holds: a new one, or past :data:`MAX_TABLES` a shared one."""
        if len(self.tables) < MAX_TABLES:
            return self.create(conn, keys, values)
        last_own = sorted(t.number for t in self.tables.values())[MAX_TABLES - 1]
        wanted = set(keys)
        shared = [t for t in self.tables.values()
                  if t.number > last_own and len(t.cols.keys() | wanted) <= MAX_COLUMNS]
        if not shared:
            return self.create(conn, keys, values, spare=MAX_COLUMNS - len(keys))
        table = max(shared, key=lambda t: (len(t.cols.keys() & wanted), -t.number))
        self.widen(conn, table, [k for k in keys if k not in table.cols], values)
        return table

    def create(self, conn: Any, keys: list[str], values: dict[str, Any], spare: int = 0) -> Table:
        """A new table for ``keys`` (the caller holds the schema lock); a shared one is made with ``spare``
        columns where the engine's columns take any kind (SQLite), so widening it needs no DDL."""
        dialect = self.dialect
        sql = dialect.sql
        name = f"records_{next_value(conn, dialect, 'table', 1)}"
        table = Table(name)
        for i, key in enumerate(keys):
            table.add(key, f"c{i}", _first_kind(dialect, values[key]))
        spare = spare if dialect.untyped_columns else 0
        table.width = len(keys) + spare
        conn.execute(sql(dialect.create_table(table, spare)))
        conn.execute(sql("INSERT INTO record_tables VALUES (?, ?)"), (name, time.time()))
        self._register(conn, table, table.order)
        self.tables[name] = table
        return table

    def widen(self, conn: Any, table: Table, keys: list[str], values: dict[str, Any]) -> None:
        """Add columns for ``keys`` to a shared table (the caller holds the schema lock)."""
        if not keys:
            return
        start = len(table.order)
        for i, key in enumerate(keys, start):
            table.add(key, f"c{i}", _first_kind(self.dialect, values[key]))
        self.dialect.add_columns(conn, table, keys)
        self._register(conn, table, table.order[start:])
        # Plans laid rows out for the narrower table: rows of the key sets it holds are built anew.
        self.plans = {k: p for k, p in self.plans.items() if p[0] is not table}

    def _register(self, conn: Any, table: Table, keys: list[str]) -> None:
        """Record ``keys``' columns in ``record_columns`` and advance the registry's version."""
        dialect = self.dialect
        if dialect.column_positions:
            rows: list[tuple[Any, ...]] = [
                (table.name, k, table.cols[k], table.kinds[k], table.order_index[k]) for k in keys
            ]
            dialect.executemany(conn, "INSERT INTO record_columns VALUES (?, ?, ?, ?, ?)", rows)
        else:
            rows = [(table.name, k, table.cols[k], table.kinds[k]) for k in keys]
            dialect.executemany(conn, "INSERT INTO record_columns VALUES (?, ?, ?, ?)", rows)
        if self.counted:  # the others re-read the registry after this transaction anyway
            return
        known = self.version
        self.version = next_value(conn, dialect, "registry", 1)
        self.counted = True
        if known is None or self.version != known + 1:  # another writer changed it too: read it all next time
            self.version = None

    def set_kind(self, conn: Any, table: Table, key: str, kind: str | None) -> str | None:
        """Fix the kind of a column made before any value was seen; the kind stored wins a race."""
        dialect = self.dialect
        sql = dialect.sql
        self.lock(conn)
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
