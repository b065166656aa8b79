"""The SQL core both engines share (backends/core.py, writing.py, tables.py, dialect.py, migrations.py):
one definition, one behaviour, and the choice of engine by address (backends/__init__.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import recordkit as rk
from recordkit.backends import core, open_backend, writing
from recordkit.backends.migrations import Migration, pending
from recordkit.backends.postgres import _schema as postgres_schema
from recordkit.backends.postgres.dialect import PostgresDialect
from recordkit.backends.sqlite import _schema as sqlite_schema
from recordkit.backends.sqlite.backend import SQLiteBackend
from recordkit.backends.sqlite.dialect import SQLiteDialect


def test_stat_folds_last_by_seq_min_max_and_count_skipping_nan() -> None:
    stats: dict[tuple[str, str], list[Any]] = {}
    writing.stat(stats, "r", "x", 3.0, step=5, seq=10)
    writing.stat(stats, "r", "x", math.nan, step=1, seq=2)  # older seq: not the last; NaN: no min/max
    writing.stat(stats, "r", "x", -1, step=6, seq=11)
    assert stats[("r", "x")] == [-1, 6, -1.0, 3.0, 3, 11]
    writing.stat(stats, "r", "s", "text", step=0, seq=0)
    assert stats[("r", "s")] == ["text", 0, None, None, 1, 0]


def test_finish_aggregate() -> None:
    assert [core.finish_aggregate(f, 4, 10.0, 1.0, 4.0) for f in ("count", "sum", "avg", "min", "max")] == [
        4, 10.0, 2.5, 1.0, 4.0
    ]
    assert core.finish_aggregate("mean", 0, 0.0, None, None) is None
    with pytest.raises(ValueError, match="unknown aggregate 'median'"):
        core.finish_aggregate("median", 1, 1.0, 1.0, 1.0)


def test_rows_decode_their_json() -> None:
    event = core.event_row((1, "r", "a/b", 2.0, 3, None, '{"k": 1}'))
    assert (event.seq, event.name, event.data) == (1, "a/b", {"k": 1})
    link = core.link_row((2, "s", "t", "rel", 1.0, "{}"))
    assert (link.source_id, link.target_id, link.data) == ("s", "t", {})
    row = core.file_row((3, "r", "n", "reference", 1.0, 0, None, None, "/p", None, '{"m": 2}', None))
    assert (row.kind, row.path, row.meta, row.removed) == ("reference", "/p", {"m": 2}, None)


def test_statements_are_written_once_and_spelled_per_engine() -> None:
    statement = "SELECT id FROM runs WHERE parent_id = ? AND number = ?"
    assert SQLiteDialect().sql(statement) == statement
    postgres = PostgresDialect("lab")
    assert postgres.sql(statement) == "SELECT id FROM runs WHERE parent_id = %s AND number = %s"
    with pytest.raises(ValueError, match="literal %"):
        postgres.sql("SELECT 1 WHERE name LIKE 'a%'")  # psycopg would take it for a placeholder
    assert SQLiteDialect().is_in("run_id") == "run_id IN (SELECT value FROM json_each(?))"
    assert (SQLiteDialect().listed(("a", "b")), postgres.listed(("a", "b"))) == ('["a", "b"]', ["a", "b"])
    assert postgres.schema_lock != PostgresDialect("other").schema_lock  # one schema lock per store


def test_postgres_keeps_ints_and_floats_apart() -> None:
    postgres, sqlite = PostgresDialect("lab"), SQLiteDialect()
    assert (postgres.kind_of(2), postgres.kind_of(2.0), sqlite.kind_of(2)) == ("int", "num", "num")
    assert postgres.to_column(2, "int", "num") == 2.0 and type(postgres.to_column(2, "int", "num")) is float
    assert postgres.to_column(2**60, "int", "num") is core.NO_FIT  # a double cannot hold it exactly
    assert postgres.to_column(0.5, "num", "int") is core.NO_FIT
    assert postgres.to_column(2**70, "int", "int") is core.NO_FIT
    assert sqlite.to_column(math.nan, "num", "num") is core.NO_FIT and sqlite.to_column(True, "bool", "bool") == 1


@pytest.mark.parametrize(
    "engine", [pytest.param(sqlite_schema, id="sqlite"), pytest.param(postgres_schema, id="postgres")]
)
def test_migrations_are_numbered_in_order(engine: Any) -> None:
    assert [step.version for step in engine.MIGRATIONS] == list(range(1, len(engine.MIGRATIONS) + 1))
    assert engine.SCHEMA_VERSION == engine.MIGRATIONS[-1].version == 5  # tests cover upgrades from 1 and 2


def test_pending_migrations_upgrade_an_older_store_and_refuse_a_newer() -> None:
    steps = (Migration(1, "a", "CREATE TABLE a (x); CREATE TABLE b (y)"), Migration(2, "c", "CREATE TABLE c (z);"))
    assert pending(None, steps, "db") == list(steps)
    assert pending(1, steps, "db") == [steps[1]] and pending(2, steps, "db") == []
    assert steps[0].statements() == ["CREATE TABLE a (x)", "CREATE TABLE b (y)"]
    with pytest.raises(rk.StoreError, match=r"schema version 3, newer than this recordkit understands \(2\)"):
        pending(3, steps, "db")


def test_open_backend_picks_the_engine_by_address(tmp_path: Path) -> None:
    backend = open_backend(f"file://{tmp_path / 'a'}", create=True)
    assert isinstance(backend, SQLiteBackend) and (tmp_path / "a" / "recordkit.db").exists()
    backend.close()
    with pytest.raises(rk.StoreError, match="unknown store scheme 'mongodb'"):
        open_backend("mongodb://localhost/x", create=True)


def test_a_missing_store_opened_without_create_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(rk.StoreNotFoundError, match="no store at"):
        rk.open(tmp_path / "nope", create=False)
    assert not (tmp_path / "nope").exists()  # nothing was created
    (tmp_path / "empty").mkdir()
    with pytest.raises(rk.StoreNotFoundError, match="holds no recordkit store"):
        rk.open(tmp_path / "empty", create=False)
    assert list((tmp_path / "empty").iterdir()) == []


def test_an_engine_must_spell_what_the_core_cannot_default() -> None:
    """Dialect's abstract methods (transactions, records tables, the extra column) have no SQLite default."""
    from recordkit.backends.dialect import Dialect

    class Half(Dialect):  # only a transaction: records tables and extra conditions are missing
        def transaction(self, conn, *, commit=True):  # type: ignore[no-untyped-def]
            raise AssertionError("never called")

    with pytest.raises(TypeError, match="create_table"):
        Half()  # type: ignore[abstract]
