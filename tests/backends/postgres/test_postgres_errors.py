"""Every psycopg error the shared store maps, at its one boundary (backends/postgres/errors.py).

The errors come from the real server (a deadlock, a serialisation failure, a lock held elsewhere, a
terminated connection, a cancelled statement, a bad statement, missing rights), raised inside the
backend's ``_errors`` boundary. A full disk or a failing server cannot be made here: those cases
raise psycopg's own exception classes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from tests.conftest import pg_base_url

import recordkit as rk
from recordkit.backends.postgres import PostgresBackend

pytestmark = pytest.mark.postgres


@pytest.fixture
def backend(pg_url: str) -> Iterator[PostgresBackend]:
    store = rk.open(pg_url)
    assert isinstance(store.backend, PostgresBackend)
    store.backend.ensure_collection("c")
    yield store.backend
    store.close()


def _other(backend: PostgresBackend) -> object:
    import psycopg

    conn = psycopg.connect(backend._conninfo, autocommit=True)
    conn.execute(f'SET search_path TO "{backend.schema}"')
    return conn


def test_a_serialisation_failure_is_a_conflict(backend: PostgresBackend) -> None:
    import psycopg

    other = _other(backend)
    conn = backend._conn()
    conflict = pytest.raises(rk.StorageConflictError, match="concurrent writer")
    with conflict as caught, backend._errors("writing"), conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conn.execute("SELECT created FROM collections WHERE name = 'c'").fetchone()  # the snapshot is taken
        other.execute("UPDATE collections SET created = created + 1 WHERE name = 'c'")  # type: ignore[attr-defined]
        conn.execute("UPDATE collections SET created = 0 WHERE name = 'c'")
    assert isinstance(caught.value.__cause__, psycopg.errors.SerializationFailure)
    other.close()  # type: ignore[attr-defined]


def test_a_lock_held_elsewhere_is_a_conflict(backend: PostgresBackend) -> None:
    import psycopg

    other = _other(backend)
    conn = backend._conn()
    with other.transaction():  # type: ignore[attr-defined]
        other.execute("SELECT 1 FROM collections WHERE name = 'c' FOR UPDATE")  # type: ignore[attr-defined]
        with pytest.raises(rk.StorageConflictError) as caught, backend._errors("ending a run"):
            conn.execute("SELECT 1 FROM collections WHERE name = 'c' FOR UPDATE NOWAIT")
    assert isinstance(caught.value.__cause__, psycopg.errors.LockNotAvailable)
    other.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("DiskFull", "out of resources", id="disk-full"),
        pytest.param("OutOfMemory", "out of resources", id="out-of-memory"),
        pytest.param("IoError", "the server failed", id="io-error"),
        pytest.param("InternalError_", "the server failed", id="internal-error"),
    ],
)
def test_a_server_failure_is_a_storage_error_not_a_lost_connection(
    backend: PostgresBackend, name: str, message: str
) -> None:
    import psycopg

    conn = backend._conn()
    failure = getattr(psycopg.errors, name)("could not extend file: No space left on device")
    with pytest.raises(rk.StorageError, match=message) as caught, backend._errors("writing a batch"):
        raise failure
    assert type(caught.value) is rk.StorageError and caught.value.__cause__ is failure  # kept and retried
    assert backend._conn() is conn  # the connection is fine: kept


def test_a_terminated_connection_is_unavailable_and_dropped(backend: PostgresBackend) -> None:
    import psycopg

    conn = backend._conn()
    other = _other(backend)
    other.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))  # type: ignore[attr-defined]
    other.close()  # type: ignore[attr-defined]
    with pytest.raises(rk.StorageUnavailableError, match="lost the PostgreSQL server") as caught, backend._errors("x"):
        conn.execute("SELECT 1")
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)
    assert backend._conn() is not conn  # dropped: the next call connects afresh
    assert backend.collections() == ["c"]


def test_a_read_on_a_connection_that_died_idle_reconnects_once(backend: PostgresBackend) -> None:
    conn = backend._conn()
    other = _other(backend)
    other.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))  # type: ignore[attr-defined]
    other.close()  # type: ignore[attr-defined]
    assert backend.collections() == ["c"]  # the first try fails, the second runs on a new connection


def test_an_unreachable_server_is_unavailable_and_its_password_never_shown() -> None:
    url = "postgresql://postgres:Pw-never-shown@127.0.0.1:1/test"
    with pytest.raises(rk.StorageUnavailableError) as caught:
        rk.open(url)
    assert "Pw-never-shown" not in str(caught.value) and "127.0.0.1:1" in str(caught.value)


def test_a_cancelled_statement_is_a_store_error_not_a_lost_connection(backend: PostgresBackend) -> None:
    import psycopg

    conn = backend._conn()
    conn.execute("SET statement_timeout = 20")
    try:
        with pytest.raises(rk.StoreError, match="statement timeout") as caught, backend._errors("reading"):
            conn.execute("SELECT pg_sleep(5)")
        assert not isinstance(caught.value, rk.StorageError)
        assert isinstance(caught.value.__cause__, psycopg.errors.QueryCanceled)
    finally:
        conn.execute("SET statement_timeout = 0")
    assert backend._conn() is conn


def test_a_bad_statement_is_a_store_error(backend: PostgresBackend) -> None:
    with pytest.raises(rk.StoreError, match=r"reading: .*no_such_table") as caught, backend._errors("reading"):
        backend._conn().execute("SELECT * FROM no_such_table")
    assert not isinstance(caught.value, rk.StorageError)


def test_missing_rights_ask_for_a_grant(pg_url: str) -> None:
    import psycopg

    role = f"rk_reader_{os.getpid()}_{threading.get_ident() % 1000}"
    base = pg_base_url()
    rk.open(pg_url).close()
    schema = dict(p.split("=") for p in urlsplit(pg_url).query.split("&"))["schema"]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
    try:
        parts = urlsplit(pg_url)
        store = rk.open(parts._replace(netloc=f"{role}@{parts.netloc.rsplit('@', 1)[-1]}").geturl())
        with pytest.raises(rk.StoreError, match="grant it rights") as caught:
            store.backend.ensure_collection("new")  # may read, may not insert
        assert not isinstance(caught.value, rk.StorageError)
        assert isinstance(caught.value.__cause__, psycopg.errors.InsufficientPrivilege)
        store.close()
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_a_socket_error_passes_through_and_drops_the_connection(backend: PostgresBackend) -> None:
    conn = backend._conn()
    with pytest.raises(OSError, match="cut"), backend._errors("writing a batch"):
        raise OSError("cut by the write watchdog")
    assert backend._conn() is not conn


def test_a_missing_schema_opened_without_create_is_not_found(pg_url: str) -> None:
    with pytest.raises(rk.StoreNotFoundError, match="no recordkit store in schema"):
        rk.open(pg_url, create=False)
    with rk.open(pg_url) as store:  # created
        store.backend.ensure_collection("c")
    with rk.open(pg_url, create=False) as again:
        assert [c.name for c in again.collections()] == ["c"]
