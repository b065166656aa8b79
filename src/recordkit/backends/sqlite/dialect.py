"""How SQLite spells what the SQL core asks (see ``backends/dialect.py``): ``?`` placeholders,
``IN (SELECT value FROM json_each(?))`` lists, untyped record columns (SQLite keeps each value as
given), ``executemany`` inserts, and ``BEGIN IMMEDIATE``, whose write lock also serialises schema
changes and run numbering between processes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
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

    def insert_rows(self, conn: Any, table: Table, rows: list[Any]) -> None:
        # Columns named: another writer may have widened a shared table since this one read the registry.
        names = ["scope_id", "seq", "step", "time", *(table.cols[k] for k in table.order), "extra"]
        if list not in set(map(type, rows)):  # tuples never hold an extra value: leave the column out
            # (measured: binding the NULL costs about a quarter of executemany's time)
            names.pop()
            rows = map(_WITHOUT_EXTRA, rows)  # type: ignore[assignment]
        conn.executemany(f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({','.join('?' * len(names))})", rows)

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


def _json_path(key: str) -> str:
    """The JSON path of a top-level key in the overflow column (quoted: keys may hold dots)."""
    return '$."' + key.replace('"', '\\"') + '"'
