"""Every sqlite3 error the folder store maps, at its one boundary (backends/sqlite/errors.py).

Each case makes SQLite itself raise the error, on a scratch database, inside ``translate``; once as a
store method sees it and once as ``store.sql()`` does. The store's own methods meet the same
boundary: see the end-to-end tests at the bottom.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import fast_run

import recordkit as rk
from recordkit.backends.base import NewRun
from recordkit.backends.sqlite.errors import translate


def _locked(tmp_path: Path) -> Callable[[], object]:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")  # a rollback-journal database: readers wait, then give up

    def read() -> object:
        assert holder.in_transaction  # the closure keeps the holder (and its lock) alive until the read
        return sqlite3.connect(path, timeout=0).execute("SELECT * FROM t").fetchall()

    return read


def _full(tmp_path: Path) -> Callable[[], object]:
    conn = sqlite3.connect(tmp_path / "full.db", isolation_level=None)
    conn.execute("CREATE TABLE t (x)")
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages}")  # as if the disk had no room left
    return lambda: conn.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))


def _no_table(tmp_path: Path) -> Callable[[], object]:
    conn = sqlite3.connect(tmp_path / "plain.db")
    return lambda: conn.execute("SELECT * FROM nope")


def _refused(tmp_path: Path) -> Callable[[], object]:
    conn = sqlite3.connect(tmp_path / "guarded.db")
    conn.execute("CREATE TABLE t (x)")
    conn.set_authorizer(lambda action, *args: 0 if action in (20, 21) else 1)  # reads only
    return lambda: conn.execute("INSERT INTO t VALUES (1)")


def _constraint(tmp_path: Path) -> Callable[[], object]:
    conn = sqlite3.connect(tmp_path / "unique.db")
    conn.execute("CREATE TABLE t (x PRIMARY KEY)")
    conn.execute("INSERT INTO t VALUES (1)")
    return lambda: conn.execute("INSERT INTO t VALUES (1)")


def _damaged(tmp_path: Path) -> Callable[[], object]:
    path = tmp_path / "damaged.db"
    path.write_bytes(b"this is not sqlite" * 100)
    return lambda: sqlite3.connect(path).execute("SELECT * FROM sqlite_master")


def _two_statements(tmp_path: Path) -> Callable[[], object]:
    conn = sqlite3.connect(tmp_path / "plain.db")
    return lambda: conn.execute("SELECT 1; SELECT 2")


# (case, what a store method raises, its message, what store.sql() raises, its message)
CASES = [
    pytest.param(_locked, rk.StorageError, "stayed locked by another process", rk.StorageError, "stayed locked",
                 id="locked"),
    pytest.param(_full, rk.StorageError, "disk is full or failing", rk.QueryError, "could not run", id="disk-full"),
    pytest.param(_no_table, rk.StorageError, "no such table: nope", rk.QueryError, r"no such table: nope.*Views: v",
                 id="other-operational"),
    pytest.param(_refused, None, "", rk.QueryError, "only reads", id="refused"),
    pytest.param(_constraint, rk.StoreError, "recordkit bug", rk.QueryError, "UNIQUE constraint", id="integrity"),
    pytest.param(_damaged, rk.StoreError, "not a recordkit SQLite file", rk.QueryError, "not a database",
                 id="damaged"),
    pytest.param(_two_statements, rk.StoreError, r"one statement at a time.*recordkit bug", rk.QueryError,
                 "one statement", id="programming"),
]


@pytest.mark.parametrize(("case", "store_error", "store_text", "query_error", "query_text"), CASES)
def test_each_sqlite_error_is_mapped_once(
    tmp_path: Path,
    case: Callable[[Path], Callable[[], object]],
    store_error: type[Exception] | None,
    store_text: str,
    query_error: type[Exception],
    query_text: str,
) -> None:
    act = case(tmp_path)
    if store_error is not None:  # (the read-only guards exist only on store.sql()'s connections)
        with pytest.raises(store_error, match=store_text) as in_store, translate("reading runs"):
            act()
        assert type(in_store.value) is store_error  # not a subclass: SQLite never loses a connection
        assert isinstance(in_store.value.__cause__, sqlite3.Error) and "reading runs" in str(in_store.value)
    with pytest.raises(query_error, match=query_text) as in_query, translate("store.sql()", query="q", views="v"):
        act()
    assert isinstance(in_query.value.__cause__, sqlite3.Error)


# --- the same boundary, reached through the store ----------------------------------------------------
def test_a_store_locked_past_the_busy_timeout_is_a_storage_error(store_path: Path) -> None:
    rk.open(store_path).close()
    holder = sqlite3.connect(store_path / "recordkit.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        from recordkit.backends.sqlite import SQLiteBackend

        backend = SQLiteBackend(store_path, busy_timeout=0.05)
        with pytest.raises(rk.StorageError, match="stayed locked") as caught:
            backend.ensure_collection("late")
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        backend.close()
    finally:
        holder.close()


def test_a_full_disk_is_a_storage_error_and_keeps_nothing_half_written(fresh_store: rk.Store) -> None:
    run = fast_run(fresh_store.collection("c"))
    run.flush()
    backend = fresh_store.backend
    conn = backend._conn()  # type: ignore[attr-defined]
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    items = [(run.id, run.scope_id, i, i, 1.0, {"text": "x" * 1000}) for i in range(100)]
    with pytest.raises(rk.StorageError, match="disk is full"):
        backend.write_batch(items)  # type: ignore[arg-type]
    conn.execute("PRAGMA max_page_count = 1073741823")
    assert len(run.records) == 0  # the batch was one transaction: all of it or none
    run.finish()


def test_a_broken_invariant_is_reported_as_a_bug(fresh_store: rk.Store) -> None:
    backend = fresh_store.backend
    broken = NewRun("r1", "c", None, 1.0, {}, {}, [], None, None, 1, "", 1)  # type: ignore[arg-type]  # no host
    with pytest.raises(rk.StoreError, match=r"constraint failed.*recordkit bug") as caught:
        backend.create_run(broken)
    assert not isinstance(caught.value, rk.StorageError)  # not retried: it will not heal by itself
