"""What two SQL engines spell differently, in one small object the SQL core asks.

The core (``core.py``, ``writing.py``, ``tables.py``) writes every statement once, with ``?``
placeholders, and never names an engine: where SQLite and PostgreSQL differ, it asks its
:class:`Dialect` — placeholders, ``IN`` lists, null-safe equality, row locks, column kinds and types,
bulk inserts, the summary upsert, JSON in the ``extra`` column, transactions. Each engine's
subpackage (``sqlite/dialect.py``, ``postgres/dialect.py``) fills these in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from recordkit import _values as V

if TYPE_CHECKING:
    from recordkit.backends.tables import Table

#: A value a column of some kind cannot hold exactly: it goes to the record's ``extra`` column.
NO_FIT: Any = object()

#: PostgreSQL keeps ints in ``bigint`` columns of their own kind; SQLite has no such kind.
INT = "int"


class Dialect(ABC):
    """The SQL spellings and engine hooks of one engine; the attributes below are SQLite's defaults.

    The abstract methods are what every engine must spell itself (an engine lacking one cannot be made).
    """

    #: The engine's name, for messages.
    engine = "SQL"
    #: Null-safe equality: ``parent_id IS ?`` matches NULL too.
    same = "IS"
    #: Appended to a SELECT of rows the transaction then changes (a row lock where the engine needs one).
    for_update = ""
    #: The column keeping insertion order in ``runs`` and ``summary``.
    insert_order = "rowid"
    #: ORDER BY for ``record_columns`` that gives a table's column order.
    column_order = "CAST(substr(col, 2) AS INT)"
    #: Whether ``record_columns`` has a ``position`` column to fill.
    column_positions = False
    #: Column kinds whose stored values read back as they are (no ``V.from_column``).
    plain_kinds: frozenset[str | None] = frozenset({V.NUM, V.STR, None})
    #: Whether a number column keeps an int as an int (an untyped SQLite column does; a double does not).
    ints_stay_ints = True
    #: Whether a column takes a value of any kind (SQLite's untyped columns), so spare ones can be made ahead.
    untyped_columns = True
    #: Whether summary rows are written sorted by (run, key): one lock order for writers sharing a run.
    summary_in_key_order = False
    #: The expression for the smaller / larger of two nullable numbers, ``{0}`` and ``{1}``.
    smaller = "coalesce(min({0}, {1}), {0}, {1})"
    larger = "coalesce(max({0}, {1}), {0}, {1})"
    #: The larger of two numbers known not to be NULL (each placeholder once).
    greatest = "max({0}, {1})"
    #: The table expression that reads events by name (an index hint where the engine takes one).
    events_by_name = "events"
    #: The expression of the ``name`` column that compares in byte order.
    name_in_byte_order = "name"

    # --- statements --------------------------------------------------------------------------
    def sql(self, statement: str) -> str:
        """``statement`` (written with ``?`` placeholders) as the driver wants it."""
        return statement

    def is_in(self, column: str) -> str:
        """``column`` is one of the values of a single parameter made by :meth:`listed`."""
        return f"{column} IN (SELECT value FROM json_each(?))"

    def listed(self, values: Iterable[Any]) -> Any:
        """The parameter for :meth:`is_in`."""
        import json

        return json.dumps(list(values))

    @abstractmethod
    def transaction(self, conn: Any, *, commit: bool = True) -> AbstractContextManager[Any]:
        """A write transaction on ``conn``; with ``commit`` False it is rolled back at the end (a dry run)."""

    def lock_schema(self, conn: Any) -> None:
        """Serialise changes to the records-table registry with other writers, inside the transaction."""
        return  # SQLite: BEGIN IMMEDIATE already holds the one write lock

    def executemany(self, conn: Any, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement for many parameter rows, in one round trip where the driver allows it."""
        conn.executemany(self.sql(statement), rows)

    # --- records tables ----------------------------------------------------------------------
    def kind_of(self, value: Any) -> str | None:
        """The column kind a plain value asks for (``V.kind_of``, plus any kind of the engine's own)."""
        return V.kind_of(value)

    def to_column(self, value: Any, value_kind: str | None, kind: str | None) -> Any:
        """``value`` (of ``value_kind``) as a column of ``kind`` holds it, or :data:`NO_FIT`."""
        if kind is None or kind != value_kind or (kind == V.NUM and value != value):
            return NO_FIT  # NaN, or another kind than the column's
        return V.to_column(value, kind)

    def column_type(self, kind: str | None) -> str:
        """The SQL type of a records column of ``kind`` (empty: untyped)."""
        return ""

    @abstractmethod
    def create_table(self, table: Table, spare: int = 0) -> str:
        """The CREATE TABLE statement of a new records table (columns ``scope_id, seq, step, time``,
        one per key, ``spare`` more named on from there, ``extra``; primary key ``(scope_id, seq)``)."""

    @abstractmethod
    def add_columns(self, conn: Any, table: Table, keys: Sequence[str]) -> None:
        """Give the database table the columns of ``keys`` (already in ``table``), if it lacks them."""

    def retype(self, conn: Any, table: Table, key: str, kind: str) -> None:
        """Give an empty column made before its first value (kind unknown) the type of ``kind``."""
        return  # SQLite: columns are untyped, any value fits

    @abstractmethod
    def insert_rows(self, conn: Any, table: Table, rows: list[Any], *, journal_order: bool = False) -> None:
        """Insert converted record rows: ``scope_id, seq, step, time``, the columns, ``extra``; or with
        ``journal_order``, ``time``, the columns, ``scope_id, seq, step`` (no ``extra``: none is needed)."""

    # --- the extra column (JSON text of the values no column holds) ------------------------------
    @abstractmethod
    def extra_has(self, key: str) -> tuple[str, list[Any]]:
        """A condition: the record's ``extra`` holds ``key``."""

    @abstractmethod
    def extra_equals(self, key: str, value: Any) -> tuple[str, list[Any]]:
        """A condition: the record's ``extra`` holds ``key`` with this value."""

    @abstractmethod
    def aggregate(self, table: Table, key: str, where: str) -> tuple[str, list[Any]]:
        """A query of ``count, sum, min, max`` of the numbers of ``key`` (own values only, NaN skipped)
        in the rows of ``table`` matching ``where``, and the parameters that go before ``where``'s."""
