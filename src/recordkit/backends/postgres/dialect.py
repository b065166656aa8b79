"""How PostgreSQL spells what the SQL core asks (see ``backends/dialect.py``).

* ``%s`` placeholders, ``= ANY(%s)`` lists, ``IS NOT DISTINCT FROM``, ``FOR UPDATE`` row locks.
* Typed record columns: ``bigint`` for a key whose first number is an int (kind ``int``), ``double
  precision`` for one whose first number is a float (kind ``num``; later ints are stored as floats),
  ``boolean``, and ``text`` for strings, datetimes, dates and JSON.
* Records go in with binary ``COPY``; other rows with ``executemany`` (one round trip per run of
  rows).
* Schema changes serialise on a transaction-scoped advisory lock per store (schema), so writers on
  any number of hosts never race, and other stores in the same database do not wait.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from recordkit import _values as V
from recordkit.backends.dialect import INT, NO_FIT, Dialect
from recordkit.backends.tables import Table

# Advisory lock key (first half) for schema changes: the registry of record tables and columns.
SCHEMA_LOCK = 0x7265636B  # "reck"
_INT64 = (-(2**63), 2**63 - 1)
_TYPES = {INT: "bigint", V.NUM: "double precision", V.BOOL: "boolean"}


@functools.lru_cache(maxsize=4096)
def _percent(statement: str) -> str:
    if "%" in statement:  # psycopg would read it as a placeholder
        raise ValueError(f"a statement of the SQL core holds a literal %: {statement!r}")
    return statement.replace("?", "%s")


class PostgresDialect(Dialect):
    engine = "PostgreSQL"
    same = "IS NOT DISTINCT FROM"
    for_update = " FOR UPDATE"
    insert_order = "ord"
    column_order = "position"
    column_positions = True
    plain_kinds = frozenset({V.NUM, INT, V.BOOL, V.STR, None})
    ints_stay_ints = False
    untyped_columns = False
    summary_in_key_order = True
    smaller = "LEAST({0}, {1})"  # LEAST and GREATEST skip NULLs
    larger = "GREATEST({0}, {1})"
    greatest = "GREATEST({0}, {1})"
    # Byte order whatever the database's collation, as the events_by_name index is built.
    name_in_byte_order = 'name COLLATE "C"'

    def __init__(self, schema: str) -> None:
        #: The second half of the schema lock's key: one lock per store.
        self.schema_lock = int.from_bytes(hashlib.sha256(schema.encode()).digest()[:4], "big", signed=True)

    def sql(self, statement: str) -> str:
        return _percent(statement)

    def is_in(self, column: str) -> str:
        return f"{column} = ANY(?)"

    def listed(self, values: Iterable[Any]) -> Any:
        return list(values)

    def transaction(self, conn: Any, *, commit: bool = True) -> AbstractContextManager[Any]:
        return conn.transaction(force_rollback=not commit)  # type: ignore[no-any-return]

    def lock_schema(self, conn: Any) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (SCHEMA_LOCK, self.schema_lock))

    def executemany(self, conn: Any, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        with conn.cursor() as cursor:
            cursor.executemany(_percent(statement), rows)

    def kind_of(self, value: Any) -> str | None:
        kind = V.kind_of(value)
        return INT if kind == V.NUM and type(value) is int else kind

    def to_column(self, value: Any, value_kind: str | None, kind: str | None) -> Any:
        if kind == V.NUM and value_kind in (V.NUM, INT):
            if value != value or (value_kind == INT and abs(value) >= 2**53):
                return NO_FIT  # NaN, or an int a double cannot hold exactly
            return float(value)
        if kind == INT and value_kind == INT:
            return value if _INT64[0] <= value <= _INT64[1] else NO_FIT
        if kind is None or kind != value_kind or kind in (V.NUM, INT):
            return NO_FIT
        if kind == V.BOOL:
            return bool(value)
        return V.to_column(value, kind)

    def column_type(self, kind: str | None) -> str:
        return _TYPES.get(kind or "", "text")

    def create_table(self, table: Table, spare: int = 0) -> str:
        columns = "".join(f", {table.cols[k]} {self.column_type(table.kinds[k])}" for k in table.order)
        return (
            f"CREATE TABLE {table.name} (scope_id BIGINT NOT NULL, seq BIGINT NOT NULL, step BIGINT,"
            f" time DOUBLE PRECISION{columns}, extra TEXT, PRIMARY KEY (scope_id, seq))"
        )

    def add_columns(self, conn: Any, table: Table, keys: Sequence[str]) -> None:
        # One statement for the key set's new columns; adding a nullable column rewrites nothing.
        added = ", ".join(f"ADD COLUMN IF NOT EXISTS {table.cols[k]} {self.column_type(table.kinds[k])}" for k in keys)
        conn.execute(f"ALTER TABLE {table.name} {added}")

    def retype(self, conn: Any, table: Table, key: str, kind: str) -> None:
        pg_type = _TYPES.get(kind)
        if pg_type is not None:  # text stays text
            conn.execute(f"ALTER TABLE {table.name} ALTER COLUMN {table.cols[key]} TYPE {pg_type} USING NULL")

    def insert_rows(self, conn: Any, table: Table, rows: list[Any], *, journal_order: bool = False) -> None:
        columns = [table.cols[k] for k in table.order]
        column_types = [self.column_type(table.kinds[k]) for k in table.order]
        if journal_order:  # (time, *values, scope_id, seq, step), as the journal holds them
            types = ["double precision", *column_types, "bigint", "bigint", "bigint"]
            names = ", ".join(["time", *columns, "scope_id", "seq", "step"])
        else:
            types = ["bigint", "bigint", "bigint", "double precision", *column_types, "text"]
            names = ", ".join(["scope_id", "seq", "step", "time", *columns, "extra"])
        with conn.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            write_row = copy.write_row
            for row in rows:
                write_row(row)

    def extra_has(self, key: str) -> tuple[str, list[Any]]:
        return "(extra IS NOT NULL AND extra::jsonb -> ? IS NOT NULL)", [key]

    def extra_equals(self, key: str, value: Any) -> tuple[str, list[Any]]:
        return "(extra IS NOT NULL AND extra::jsonb -> ? = ?::jsonb)", [key, V.dumps(value)]

    def aggregate(self, table: Table, key: str, where: str) -> tuple[str, list[Any]]:
        kind = table.kinds.get(key)
        if kind in (V.NUM, INT):
            value = f"{table.cols[key]}::double precision"
        elif kind == V.BOOL:
            value = f"{table.cols[key]}::int::double precision"
        else:
            value = "NULL::double precision"
        # Numbers that did not fit the column's type (a float in an int column) sit in extra.
        from_extra = (
            "CASE WHEN extra IS NOT NULL AND json_typeof(extra::json -> ?) = 'number'"
            " THEN (extra::json ->> ?)::double precision END"
        )
        statement = (
            f"SELECT count(v), coalesce(sum(v), 0), min(v), max(v) FROM"
            f" (SELECT coalesce({value}, {from_extra}) AS v FROM {table.name} WHERE {where}) AS t"
            " WHERE v <> 'NaN'::double precision"
        )
        return statement, [key, key]
