"""The SQLite backend's schema: a store made by the previous schema opens, migrates and keeps its data."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import fast_run

import recordkit as rk
from recordkit.backends.sqlite._schema import SCHEMA_VERSION


def _downgrade_to_version_1(store_path: Path) -> None:
    """Make the store exactly what schema version 1 wrote: no events, files or links tables, no notes."""
    conn = sqlite3.connect(store_path / "recordkit.db", isolation_level=None)
    try:
        for table in ("events", "files", "links", "journal_marks"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("ALTER TABLE runs DROP COLUMN notes")
        conn.execute("ALTER TABLE scopes DROP COLUMN label")
        conn.execute("ALTER TABLE summary DROP COLUMN name")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    finally:
        conn.close()


def _version(store_path: Path) -> str:
    conn = sqlite3.connect(store_path / "recordkit.db")
    try:
        return str(conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])
    finally:
        conn.close()


def test_a_version_1_store_opens_and_gains_events_files_and_links(store_path: Path) -> None:
    with rk.open(store_path) as store, fast_run(store.collection("study"), config={"lr": 0.1}) as old:
        old.log(loss=0.5)
    _downgrade_to_version_1(store_path)
    assert _version(store_path) == "1"
    with rk.open(store_path) as store:
        assert _version(store_path) == str(SCHEMA_VERSION) == "5"
        col = store.collection("study")
        run = col.run(1)
        assert run.records[0]["loss"] == 0.5 and dict(run.config) == {"lr": 0.1}
        assert run.events.names() == [] and run.files == [] and run.links() == []
        resumed = col.resume_run(1)
        resumed.attach(b"after the upgrade", name="note.txt")
        resumed.event("upgraded")
        resumed.finish()
        assert resumed.open_file("note.txt").read() == b"after the upgrade"
        assert resumed.events.names() == ["resumed", "attached", "upgraded", "finished"]
        assert resumed.notes is None
        resumed.notes = "after the upgrade"
        assert store.run(resumed.id).notes == "after the upgrade"


def test_a_newer_store_is_refused(store_path: Path) -> None:
    rk.open(store_path).close()
    conn = sqlite3.connect(store_path / "recordkit.db", isolation_level=None)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(rk.StoreError, match="upgrade recordkit"):
        rk.open(store_path)


def test_event_prefixes_match_literally(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        for name in ("a%/x", "ab/x", "a_/y", "a%"):
            run.event(name)
    backend = collection.store.backend
    assert [e.name for e in backend.events([run.id], "a%")] == ["a%/x", "a%"]
    assert [e.name for e in backend.events([run.id], "a_")] == ["a_/y"]
    assert backend.events([], None) == []


def test_reopening_is_atomic(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        pass
    backend = collection.store.backend
    row = backend.reopen_run(run.id, "host-a", 1, 100.0)
    assert (row.status, row.host, row.pid, row.end_time) == ("running", "host-a", 1, None)
    with pytest.raises(rk.RunStateError, match="resumed it first"):
        backend.reopen_run(run.id, "host-b", 2, 101.0)  # a second resumer loses, and changes nothing
    assert backend.get_run(run.id).host == "host-a"  # type: ignore[union-attr]
    backend.end_run(run.id, "finished", 102.0, None)


def test_an_unknown_write_item_is_an_error_not_dropped(fresh_store: rk.Store) -> None:
    run = fast_run(fresh_store.collection("c"))
    run.flush()
    backend = fresh_store.backend
    with pytest.raises(rk.StoreError, match="cannot write a object item"):
        backend.write_batch([(run.id, run.scope_id, 5, 0, 1.0, {"x": 1.0}), object()])  # type: ignore[list-item]
    assert len(run.records) == 0  # the whole batch was refused, not half of it
    run.finish()


OPENER = """\
import sys, time
import recordkit as rk
go = float(sys.argv[2])
while time.time() < go:
    pass
store = rk.open(sys.argv[1])
run = store.collection("c").start_run(capture=False)
run.log(x=1.0)
run.finish()
"""


def test_processes_creating_one_new_store_at_once_all_open_it(tmp_path: Path) -> None:
    """Switching a new file to WAL can answer "locked" without waiting; every opener retries it."""
    script = tmp_path / "opener.py"
    script.write_text(OPENER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for trial in range(10):  # before the retry, about 3 openers in 100 failed
        store = tmp_path / f"store{trial}"
        go = time.time() + 1.5  # every interpreter is up by then: they open the store together
        openers = [subprocess.Popen([sys.executable, str(script), str(store), str(go)], stderr=subprocess.PIPE,
                                    text=True, env=env) for _ in range(4)]
        for opener in openers:
            _, err = opener.communicate(timeout=120)
            assert opener.returncode == 0, err
        assert len(rk.open(store).collection("c").runs()) == 4
