"""How SQLite spells what the SQL core asks (see ``backends/dialect.py``): ``?`` placeholders,
``IN (SELECT value FROM json_each(?))`` lists, untyped record columns (SQLite keeps each value as
given), multi-row ``INSERT … VALUES`` statements, and ``BEGIN IMMEDIATE``, whose write lock also serialises schema
changes and run numbering between processes."""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Iterator, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

from recordkit import _values as V
from recordkit.backends.dialect import Dialect
from recordkit.backends.tables import Table


class SQLiteDialect(Dialect):
    engine = "SQLite"
    # Few events carry a given name, many runs may be asked about: the name index reads only those.
    events_by_name = "events INDEXED BY events_by_name"

    @contextlib.contextmanager
    def transaction(self, conn: Any, *, commit: bool = True) -> Iterator[Any]:
        conn.execute("BEGIN IMMEDIATE")  # the write lock up front: a later upgrade could fail without waiting
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            if conn.in_transaction:
                conn.execute("COMMIT" if commit else "ROLLBACK")

    def create_table(self, table: Table, spare: int = 0) -> str:
        # Untyped columns: SQLite keeps each value as given (no affinity conversions). WITHOUT ROWID on
        # (scope_id, seq): records of a scope sit together, so a filter on scope fields reads only those.
        columns = "".join(f", {table.cols[k]}" for k in table.order)
        columns += "".join(f", c{i}" for i in range(len(table.order), len(table.order) + spare))
        return (
            f"CREATE TABLE {table.name} (scope_id INTEGER NOT NULL, seq INTEGER NOT NULL, step INTEGER,"
            f" time REAL{columns}, extra TEXT, PRIMARY KEY (scope_id, seq)) WITHOUT ROWID"
        )

    def add_columns(self, conn: Any, table: Table, keys: Sequence[str]) -> None:
        # A shared table is made with spare columns (ALTER TABLE costs milliseconds here, more as the
        # schema grows); one made by an older recordkit is asked once how wide it is.
        if table.width is None:
            table.width = conn.execute("SELECT count(*) - 5 FROM pragma_table_info(?)", (table.name,)).fetchone()[0]
        for key in keys:
            if table.order_index[key] >= table.width:
                conn.execute(f"ALTER TABLE {table.name} ADD COLUMN {table.cols[key]}")
                table.width += 1

    def insert_rows(self, conn: Any, table: Table, rows: list[Any], *, journal_order: bool = False) -> None:
        # Columns named: another writer may have widened a shared table since this one read the registry.
        columns = [table.cols[k] for k in table.order]
        if journal_order:  # the rows as the journal holds them, bound as they are
            names = ["time", *columns, "scope_id", "seq", "step"]
        else:
            names = ["scope_id", "seq", "step", "time", *columns, "extra"]
            if list not in set(map(type, rows)):  # tuples never hold an extra value: leave the column out
                names.pop()  # (measured: binding the NULL costs about a quarter of the insert's time)
                rows = list(map(_WITHOUT_EXTRA, rows))
        insert_many(conn, table.name, names, rows)

    def executemany(self, conn: Any, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        # Events, files, links and summary rows: multi-row INSERTs too (see many_rows), so a batch with
        # many of them does not wait for the GIL once a row beside a busy training loop.
        parts = split_values(statement) if len(rows) > 1 else None
        if parts is None:
            conn.executemany(statement, rows)
        else:
            many_rows(conn, *parts, rows)

    # JSON is parsed only for rows that have an overflow value at all (extra IS NOT NULL).
    def extra_has(self, key: str) -> tuple[str, list[Any]]:
        return "(extra IS NOT NULL AND json_extract(extra, ?) IS NOT NULL)", [_json_path(key)]

    def extra_equals(self, key: str, value: Any) -> tuple[str, list[Any]]:
        kind = V.kind_of(value)
        sql_value = None if kind is None or value != value else V.to_column(value, kind)
        return "(extra IS NOT NULL AND json_extract(extra, ?) = ?)", [_json_path(key), sql_value]

    def aggregate(self, table: Table, key: str, where: str) -> tuple[str, list[Any]]:
        head: list[Any] = []
        if table.kinds.get(key) in (V.NUM, V.BOOL):
            col = table.cols[key]
        else:
            # Here the key's values can only be in the overflow JSON (past the column limit, or
            # another kind than the column's); NaN and inf are tagged objects there, so skipped.
            col = "(CASE WHEN extra IS NOT NULL AND json_type(extra, ?) IN ('integer', 'real')"
            col += " THEN json_extract(extra, ?) END)"
            head = [_json_path(key)] * 8
        return f"SELECT count({col}), total({col}), min({col}), max({col}) FROM {table.name} WHERE {where}", head


_WITHOUT_EXTRA = itemgetter(slice(None, -1))
# Rows per INSERT statement at most: a power of two, so any count is a few statements of a few sizes.
_MOST_ROWS = 4096


def insert_many(conn: Any, table: str, names: list[str], rows: list[Any]) -> None:
    """Insert ``rows`` (sequences of ``names``' values) with multi-row ``INSERT … VALUES`` statements."""
    head = f"INSERT INTO {table} ({', '.join(names)}) VALUES "
    many_rows(conn, head, "(" + ",".join("?" * len(names)) + ")", "", rows)


def many_rows(conn: Any, head: str, row: str, tail: str, rows: Sequence[Sequence[Any]]) -> None:
    """``head`` + ``row`` repeated for as many of ``rows`` as one statement may take + ``tail``.

    Not ``executemany``: it releases the GIL around every row's step and must win it back before the
    next row, which a busy training thread holds for up to the switch interval (5 ms), so a writer
    thread beside a logging loop stored almost nothing until the loop ended (measured: 4 rows in 0.9 s
    of logging). One statement of up to 4096 rows gives the GIL back once per statement, and also
    binds faster alone (0.74 against 1.30 us a row, measured). Chunks are powers of two, so the
    sqlite3 module's statement cache holds a dozen statements per table at most.
    """
    width = row.count("?")
    most = _MOST_ROWS
    while most > 1 and most * width > _variable_limit(conn):
        most //= 2
    start, total = 0, len(rows)
    while start < total:
        left = total - start
        size = most if left >= most else 1 << (left.bit_length() - 1)
        conn.execute(_statement(head, row, tail, size), list(chain.from_iterable(rows[start : start + size])))
        start += size


@functools.lru_cache(maxsize=64)  # the same str object each time: its hash is kept, the statement cache hits
def _statement(head: str, row: str, tail: str, size: int) -> str:
    return head + ",".join([row] * size) + tail


def split_values(statement: str) -> tuple[str, str, str] | None:
    """``INSERT … VALUES (?, …) [ON CONFLICT …]`` as (head, row, tail); None for any other statement."""
    head, found, rest = statement.partition(" VALUES (")
    if not found or not head.lstrip().upper().startswith("INSERT") or ")" not in rest:
        return None
    inside, _, tail = rest.partition(")")
    if set(inside) - set("?, "):
        return None
    return head + " VALUES ", "(" + inside + ")", (" " + tail.lstrip()) if tail.strip() else ""


def _variable_limit(conn: Any) -> int:
    """The most ``?`` parameters one statement may have on this connection."""
    try:
        return int(conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    except AttributeError:  # Python 3.10 cannot ask: the smallest limit SQLite has had since 3.32
        return 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999


def _json_path(key: str) -> str:
    """The JSON path of a top-level key in the overflow column (quoted: keys may hold dots)."""
    return '$."' + key.replace('"', '\\"') + '"'
