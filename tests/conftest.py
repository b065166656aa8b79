"""Shared fixtures, named for what they hand over.

The store fixtures run against every backend a module asks for with
``pytestmark = pytest.mark.backends("sqlite", "postgres")``; other modules get the folder store.
PostgreSQL tests use ``RECORDKIT_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``),
each in its own schema, dropped afterwards. Without a server they skip, except on CI (``CI=true``),
where they fail: a CI run that silently skipped the shared store would prove nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import recordkit as rk

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
_pg_problem: list[str] = []  # the reason PostgreSQL is unusable, once known


def pg_base_url() -> str:
    """The PostgreSQL server the tests use; skips (or fails on CI) when it cannot be reached."""
    url = os.environ.get("RECORDKIT_TEST_PG_URL", DEFAULT_PG_URL)
    if not _pg_problem:
        try:
            import psycopg

            with psycopg.connect(url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _pg_problem.append("")
        except Exception as exc:
            _pg_problem.append(f"{type(exc).__name__}: {str(exc).strip()[:200]}")
    if _pg_problem[0]:
        message = (
            f"PostgreSQL is not reachable at {url!r} ({_pg_problem[0]}); start a server or point "
            "RECORDKIT_TEST_PG_URL at one (e.g. postgresql://postgres@127.0.0.1:5432/test) to run these tests"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but {message}", pytrace=False)
        pytest.skip(message)
    return url


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


@pytest.fixture
def pg_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A PostgreSQL store URL with a schema of its own (dropped after the test); spools under tmp_path."""
    base = pg_base_url()
    monkeypatch.setenv("RECORDKIT_SPOOL", str(tmp_path / "spool"))
    schema = f"rk_test_{uuid.uuid4().hex[:12]}"
    yield with_schema(base, schema)
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(autouse=True)
def fresh_warnings() -> None:
    """Each test sees the writer's warn-once state fresh (the writer is one per process, shared by tests)."""
    from recordkit._writer import current_writer

    writer = current_writer()
    if writer is not None:
        writer._warned.clear()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("backends")
    if marker is not None and "store_kind" in metafunc.fixturenames:
        params = [pytest.param(name, id=name, marks=[pytest.mark.postgres] if name == "postgres" else [])
                  for name in marker.args]
        metafunc.parametrize("store_kind", params, indirect=True)


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which backend the store fixtures use: ``sqlite`` unless the module asks for more."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A path where a folder store may be created (it does not exist yet)."""
    return tmp_path / "records"


@pytest.fixture
def store_url(store_kind: str, store_path: Path, request: pytest.FixtureRequest) -> str:
    """What to give ``rk.open``: the folder path, or a PostgreSQL URL with a private schema."""
    if store_kind == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return str(store_path)


@pytest.fixture
def fresh_store(store_kind: str, store_url: str, store_path: Path, tmp_path: Path) -> Iterator[rk.Store]:
    """A new, empty store (a folder, or PostgreSQL with run folders under ``store_path``); closed after."""
    store = rk.open(store_url, files=store_path) if store_kind == "postgres" else rk.open(store_url)
    yield store
    store.close()


@pytest.fixture
def collection(fresh_store: rk.Store) -> rk.Collection:
    return fresh_store.collection("study")


def fast_run(collection: rk.Collection, **kwargs: object) -> rk.Run:
    """A run without environment capture (keeps unit tests quick)."""
    return collection.start_run(capture=False, **kwargs)  # type: ignore[arg-type]


def engine_rows(store: rk.Store, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run ``sql`` (``?`` placeholders) on a NEW connection to the store's engine, bypassing recordkit."""
    backend = store.backend
    if getattr(backend, "schema", None) is None:  # the folder store
        import sqlite3

        with sqlite3.connect(Path(str(backend.files_root)) / "recordkit.db") as conn:
            return list(conn.execute(sql, params))
    import psycopg

    with psycopg.connect(backend._conninfo, autocommit=True) as conn:  # type: ignore[attr-defined]
        conn.execute(f'SET search_path TO "{backend.schema}"')  # type: ignore[attr-defined]
        return list(conn.execute(sql.replace("?", "%s"), params or None).fetchall())


def record_count(store: rk.Store, run_id: str) -> int:
    """Records of a run, counted on a new connection straight from the record tables."""
    tables = [str(t) for (t,) in engine_rows(store, "SELECT name FROM record_tables")]
    return sum(
        int(engine_rows(store, f"SELECT count(*) FROM {t} WHERE scope_id IN (SELECT id FROM scopes WHERE run_id = ?)",
                        (run_id,))[0][0])  # type: ignore[call-overload]
        for t in tables
    )


def everything_stored(store: rk.Store) -> bytes:
    """Every byte the store holds: its files, and for PostgreSQL every row of every table as text."""
    chunks = []
    if store.path is not None:
        chunks += [p.read_bytes() for p in store.path.rglob("*") if p.is_file()]
    if getattr(store.backend, "schema", None) is not None:
        tables = engine_rows(
            store, "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        for (table,) in tables:
            chunks += [str(row[0]).encode() for row in engine_rows(store, f'SELECT t::text FROM "{table}" t')]
    return b"\n".join(chunks)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real, nearly empty 4 MB file system (tmpfs, unmounted after): fill it to test a full disk.

    Needs root (or CAP_SYS_ADMIN) to mount; skips otherwise.
    """
    import subprocess

    mount = tmp_path / "small_disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or done.returncode}); run as root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill_disk(folder: Path) -> Path:
    """Write a file in ``folder`` until its file system is full; delete the file to make room again."""
    import errno

    filler = folder / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def temp_files(folder: Path) -> list[Path]:
    """Temporary (``*.tmp``) and empty files under ``folder``: what an interrupted write may leave."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and (p.name.endswith(".tmp") or p.stat().st_size == 0)
                  and p.name != "lock")
