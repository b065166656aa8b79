"""Deleting runs and collecting garbage: exact counts, exact bytes, and a dry run that changes nothing."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from pathlib import Path

import pytest

import recordkit as rk
from recordkit._cleanup import BLOB_GRACE_SECONDS
from recordkit.backends.base import Backend, NewRun
from recordkit.backends.sqlite import SQLiteBackend

CORE = ("records", "summary", "scopes", "runs")


def core(rows: dict[str, int]) -> dict[str, int]:
    """The row counts of the kinds every store has (a store may own more: events, files, links…)."""
    return {kind: rows[kind] for kind in CORE if kind in rows}


def nothing(rows: dict[str, int]) -> bool:
    return set(CORE[:3]) <= set(rows) and not any(rows.values())


def fast(collection: rk.Collection, **kwargs: object) -> rk.Run:
    return collection.start_run(capture=False, **kwargs)  # type: ignore[arg-type]


def record(collection: rk.Collection, name: str, count: int) -> rk.Run:
    with fast(collection, name=name) as run:
        child = run.scope(phase="train")
        for i in range(count):
            child.log(loss=1 / (i + 1), i=i)
            run.next_step()
    collection.store.seal(run)  # the background seal is done before a test takes snapshots
    return run


def snapshot(store_path: Path) -> tuple[dict[str, bytes], list[str]]:
    """Every file but the database's (bytes), and the database's logical content."""
    files = {}
    for path in sorted(store_path.rglob("*")):
        if path.is_file() and not path.name.startswith("recordkit.db"):
            files[str(path.relative_to(store_path))] = path.read_bytes()
    conn = sqlite3.connect(store_path / "recordkit.db")
    try:
        dump = list(conn.iterdump())
    finally:
        conn.close()
    return files, dump


def disk_bytes(store_path: Path) -> int:
    """What the store takes on disk: every file but SQLite's shared-memory index."""
    return sum(p.stat().st_size for p in store_path.rglob("*") if p.is_file() and not p.name.endswith("-shm"))


def orphan_folder(store_path: Path, collection: str, content: bytes = b"x" * 5000) -> Path:
    folder = store_path / collection / "0123456789abcdef"
    folder.mkdir(parents=True)
    (folder / "meta.json").write_bytes(content)
    return folder


# --- delete_run ----------------------------------------------------------------------------------


def test_delete_run_removes_everything_of_that_run_only(fresh_store: rk.Store, store_path: Path) -> None:
    study = fresh_store.collection("study")
    keep = record(study, "keep", 5)
    doomed = record(study, "doomed", 7)
    folder = store_path / "study" / doomed.id
    assert (folder / "meta.json").is_file()

    report = fresh_store.delete_run(doomed.id[:10])  # a prefix works
    assert report.run_ids == [doomed.id]
    assert core(report.rows) == {"records": 7, "summary": 2, "scopes": 2, "runs": 1}
    assert report.folders == [str(folder.resolve())]
    assert report.folder_bytes > 0
    assert not folder.exists()
    assert not report.dry_run
    with pytest.raises(rk.RunNotFoundError):
        fresh_store.run(doomed.id)
    assert [run.name for run in fresh_store.runs()] == ["keep"]
    assert len(keep.records) == 5 and keep.summary()["phase=train/loss"]["count"] == 5
    assert len(study.records) == 5
    assert fresh_store.backend.summaries([doomed.id]) == {doomed.id: {}}


def test_delete_run_dry_run_changes_nothing_and_predicts(fresh_store: rk.Store, store_path: Path) -> None:
    study = fresh_store.collection("study")
    run = record(study, "a", 4)
    before = snapshot(store_path)
    planned = fresh_store.delete_run(run, dry_run=True)
    assert planned.dry_run
    assert snapshot(store_path) == before
    done = fresh_store.delete_run(run)
    assert (planned.run_ids, planned.rows, planned.folders, planned.folder_bytes) == (
        done.run_ids,
        done.rows,
        done.folders,
        done.folder_bytes,
    )


def test_a_live_run_is_refused_unless_forced(fresh_store: rk.Store, store_path: Path) -> None:
    live = fast(fresh_store.collection("study"), name="live")
    live.log(x=1)
    live.flush()
    with pytest.raises(rk.RunStateError, match=r"is running in process \d+ .*force=True"):
        fresh_store.delete_run(live)
    with pytest.raises(rk.RunStateError):
        fresh_store.delete_run(live, dry_run=True)
    assert fresh_store.run(live.id).status == "running"

    report = fresh_store.delete_run(live, force=True)
    assert report.rows["runs"] == 1 and report.rows["records"] == 1
    with pytest.raises(rk.RunNotFoundError):
        fresh_store.run(live.id)


def test_sub_runs_go_with_their_parent(fresh_store: rk.Store, store_path: Path) -> None:
    study = fresh_store.collection("study")
    parent = record(study, "parent", 2)
    backend = fresh_store.backend
    child_ids = []
    for name, parent_id in (("child", parent.id), ("grandchild", None)):
        run_id = f"{len(child_ids) + 1:016x}"
        folder = store_path / "study" / run_id
        backend.create_run(
            NewRun(
                id=run_id,
                collection="study",
                name=name,
                start_time=time.time(),
                config={},
                env={},
                tags=[],
                parent_id=parent_id if parent_id else child_ids[-1],
                host="h",
                pid=os.getpid(),
                folder=str(folder),
                root_scope=next(iter(backend.reserve_scope_ids(1))),
            )
        )
        backend.end_run(run_id, "finished", time.time(), None)
        folder.mkdir(parents=True)
        child_ids.append(run_id)
    other = record(study, "other", 1)

    assert [r.name for r in fresh_store.runs(where={"parent_id": parent.id})] == ["child"]
    report = fresh_store.delete_run(parent)
    assert sorted(report.run_ids) == sorted([parent.id, *child_ids])
    assert report.run_ids[-1] == parent.id  # children first
    assert report.rows["runs"] == 3
    assert [run.name for run in fresh_store.runs()] == ["other"]
    assert all(not (store_path / "study" / run_id).exists() for run_id in child_ids)
    assert (store_path / "study" / other.id).exists()


def test_delete_never_leaves_the_store_folder(fresh_store: rk.Store, store_path: Path, tmp_path: Path) -> None:
    run = record(fresh_store.collection("study"), "a", 1)
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "data").write_text("keep me")
    conn = sqlite3.connect(store_path / "recordkit.db")
    with conn:
        conn.execute("UPDATE runs SET folder = ? WHERE id = ?", (str(outside), run.id))
    conn.close()
    report = fresh_store.delete_run(run.id)
    assert (outside / "data").read_text() == "keep me"
    assert report.folders == [str((store_path / "study" / run.id).resolve())]


def test_deleting_an_unknown_run_is_an_error(fresh_store: rk.Store) -> None:
    record(fresh_store.collection("study"), "a", 1)
    with pytest.raises(rk.RunNotFoundError, match="no run with id 'zzzz'"):
        fresh_store.delete_run("zzzz")


# --- gc ------------------------------------------------------------------------------------------


def make_garbage(store: rk.Store, store_path: Path) -> rk.Run:
    """A force-deleted live run that goes on writing (orphaned rows), and a run folder without a run."""
    study = store.collection("study")
    record(study, "keep", 20)
    live = fast(study, name="zombie")
    for i in range(50):
        live.log(loss=float(i), note="x" * 200)
    live.flush()
    store.delete_run(live, force=True)
    scope = live.scope(phase="late")  # the process does not know: it writes on
    for i in range(300):
        scope.log(loss=float(i), note="y" * 200)
    live.log(loss=0.0)
    live.flush()
    with pytest.raises(rk.StoreError, match="vanished"):
        live.finish()
    orphan_folder(store_path, "study")
    return live


def test_gc_removes_orphans_and_reclaims_exactly_what_it_measured(fresh_store: rk.Store, store_path: Path) -> None:
    make_garbage(fresh_store, store_path)
    (store_path / "study" / "notes").mkdir()  # not named like a run: never touched
    (store_path / "study" / "notes" / "todo.txt").write_text("keep")
    (store_path / "study" / "fedcba9876543210").write_text("a file, not a folder: kept")

    before_snapshot = snapshot(store_path)
    dry = fresh_store.gc(dry_run=True)
    assert snapshot(store_path) == before_snapshot  # a dry run changes nothing
    assert dry.dry_run
    # Summary rows per series: phase=late/loss, phase=late/note and the root's loss.
    assert core(dry.rows) == {"summary": 3, "scopes": 1, "records": 301}
    assert dry.folders == [str((store_path / "study" / "0123456789abcdef").resolve())]
    assert dry.folder_bytes == 5000

    on_disk = disk_bytes(store_path)
    done = fresh_store.gc()
    reclaimed = on_disk - disk_bytes(store_path)
    assert done.bytes_reclaimed == reclaimed  # measured, not estimated
    assert reclaimed > 5000 + 301 * 200  # the folder, and the database really shrank
    assert (done.rows, done.folders, done.folder_bytes) == (dry.rows, dry.folders, dry.folder_bytes)
    assert done.bytes_reclaimed == dry.bytes_reclaimed  # what the dry run announced
    assert done.database_bytes_after == dry.database_bytes_after
    assert not (store_path / "study" / "0123456789abcdef").exists()
    assert (store_path / "study" / "notes" / "todo.txt").read_text() == "keep"
    assert (store_path / "study" / "fedcba9876543210").is_file()

    (keep,) = fresh_store.runs()
    assert len(keep.records) == 20  # nothing of a live run is garbage
    again = fresh_store.gc()
    assert nothing(again.rows)
    assert again.folders == [] and again.file_bytes == 0


def test_gc_on_a_clean_store_removes_nothing(fresh_store: rk.Store, store_path: Path) -> None:
    run = record(fresh_store.collection("study"), "a", 3)
    fresh_store.gc()
    report = fresh_store.gc(dry_run=True)
    assert nothing(report.rows)
    assert report.folders == [] and report.blobs == []
    assert report.bytes_reclaimed == 0
    assert len(fresh_store.run(run.id).records) == 3
    assert not list(store_path.glob(".gc-dry-run*"))  # the scratch copy is gone


def test_gc_keeps_live_runs_and_their_new_scopes(fresh_store: rk.Store) -> None:
    live = fast(fresh_store.collection("study"))
    live.scope(a=1).log(x=1)
    live.flush()
    assert nothing(fresh_store.gc().rows)
    live.scope(a=2).log(x=2)
    live.finish()
    assert [r["x"] for r in live.records] == [1, 2]


class NoFileIndex(SQLiteBackend):
    """An engine written before the file index: it cannot say which blobs are referenced."""

    referenced_blobs = Backend.referenced_blobs


def old_blob(store_path: Path, content: bytes) -> Path:
    """A blob as attach() stores it, made older than gc's grace."""
    sha = hashlib.sha256(content).hexdigest()
    blob = store_path / "blobs" / sha[:2] / sha
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(content)
    age(blob)
    return blob


def age(*paths: Path) -> None:
    old = time.time() - 2 * BLOB_GRACE_SECONDS
    for path in paths:
        os.utime(path, (old, old))


def unique_disk_bytes(store_path: Path) -> int:
    """What the store takes on disk, each file counted once however many hard links reach it."""
    seen = {}
    for p in store_path.rglob("*"):
        if p.is_file() and not p.name.endswith("-shm"):
            st = p.lstat()
            seen[(st.st_dev, st.st_ino)] = st.st_size
    return sum(seen.values())


def test_gc_leaves_blobs_alone_without_a_file_index(tmp_path: Path) -> None:
    with rk.open(tmp_path / "s") as plain:
        settings = plain.settings
    store = rk.Store(NoFileIndex(tmp_path / "s"), settings)
    try:
        record(store.collection("study"), "a", 1)
        blob = old_blob(tmp_path / "s", b"model weights")
        assert store.backend.referenced_blobs() is None
        assert store.gc().blobs == [] and store.unreferenced_blobs() == []
        assert blob.read_bytes() == b"model weights"
    finally:
        store.close()


def test_sqlite_lists_the_blobs_its_file_rows_refer_to(fresh_store: rk.Store) -> None:
    with fast(fresh_store.collection("study")) as run:
        info = run.attach(b"weights", name="w.bin")
        run.reference(__file__, hash=True)  # a reference's hash names no blob
    assert fresh_store.backend.referenced_blobs() == {info.sha256}


def test_gc_removes_unreferenced_blobs_older_than_the_grace(fresh_store: rk.Store, store_path: Path) -> None:
    with fast(fresh_store.collection("study")) as run:
        kept = run.attach(b"kept", name="k.txt").path
    assert kept is not None
    orphan, young = old_blob(store_path, b"orphan"), store_path / "blobs" / "ab" / ("ab" + "0" * 62)
    young.parent.mkdir(exist_ok=True)
    young.write_bytes(b"just copied, its file row not written yet")
    tmp = store_path / "blobs" / "tmp"
    dead_tmp, live_tmp = tmp / "999999999-x.tmp", tmp / f"{os.getpid()}-y.tmp"
    dead_tmp.write_bytes(b"partial")
    live_tmp.write_bytes(b"being written")
    age(kept, dead_tmp, live_tmp)
    assert sorted(fresh_store.unreferenced_blobs()) == sorted([orphan, dead_tmp])
    report = fresh_store.gc()
    assert sorted(report.blobs) == sorted([str(orphan.resolve()), str(dead_tmp.resolve())])
    assert report.blob_bytes == len(b"orphan") + len(b"partial")
    assert not orphan.exists() and not dead_tmp.exists()
    assert kept.read_bytes() == b"kept" and young.exists() and live_tmp.exists()


def test_a_shared_blob_stays_until_no_run_refers_to_it(fresh_store: rk.Store, store_path: Path) -> None:
    """Two runs attach the same content; rm one: gc keeps the blob. rm both: dry run reports it, gc takes it."""
    content = b"w" * 4096
    study = fresh_store.collection("study")
    runs = []
    for name in ("a", "b"):
        with fast(study, name=name) as run:
            blob = run.attach(content, name="model.bin").path
        runs.append(run)
    assert blob is not None
    assert (runs[0].folder / "files" / "model.bin").stat().st_ino == blob.stat().st_ino  # a hard link
    age(blob)
    first = fresh_store.delete_run(runs[0])
    assert first.rows["files"] == 1
    assert first.folder_bytes < len(content)  # the hard link freed nothing: the blob holds the bytes
    assert fresh_store.gc().blobs == []
    assert blob.read_bytes() == content
    fresh_store.delete_run(runs[1])
    before = snapshot(store_path)
    dry = fresh_store.gc(dry_run=True)
    assert snapshot(store_path) == before  # a dry run changes nothing
    assert dry.blobs == [str(blob.resolve())] and dry.blob_bytes == len(content)
    on_disk = unique_disk_bytes(store_path)
    real = fresh_store.gc()
    assert (real.blobs, real.blob_bytes, real.folder_bytes) == (dry.blobs, dry.blob_bytes, dry.folder_bytes)
    assert not blob.exists()
    assert on_disk - unique_disk_bytes(store_path) == real.bytes_reclaimed == dry.bytes_reclaimed


def test_storing_a_known_blob_again_refreshes_its_grace(fresh_store: rk.Store, store_path: Path) -> None:
    blob = old_blob(store_path, b"same bytes")
    with fast(fresh_store.collection("study")) as run:
        assert run.attach(b"same bytes", name="s.bin").path == blob
    assert time.time() - blob.stat().st_mtime < BLOB_GRACE_SECONDS


def test_cleanup_report_to_dict(fresh_store: rk.Store, store_path: Path) -> None:
    make_garbage(fresh_store, store_path)
    document = fresh_store.gc(dry_run=True).to_dict()
    assert document["bytes_reclaimed"] == document["database_bytes"] + document["file_bytes"]
    assert document["file_bytes"] == document["folder_bytes"] + document["blob_bytes"] == 5000
    assert document["dry_run"] is True


def test_listing_ignores_orphaned_rows_before_gc(fresh_store: rk.Store, store_path: Path) -> None:
    zombie = make_garbage(fresh_store, store_path)
    (row,) = fresh_store.run_table()  # the summary scan meets the zombie's rows and skips them
    assert (row["name"], row["phase=train/loss"]) == ("keep", 1 / 20)
    keep_id = row["id"]
    assert list(fresh_store.backend.last_values([keep_id])) == [keep_id]
    assert list(fresh_store.backend.summaries([keep_id])) == [keep_id]
    fresh_store.gc()
    assert fresh_store.backend.summaries([zombie.id]) == {zombie.id: {}}


def test_an_engine_without_delete_or_gc_says_so_cleanly(fresh_store: rk.Store) -> None:
    from recordkit.backends.base import Backend

    with pytest.raises(rk.StoreError, match="cannot delete runs yet"):
        Backend.delete_runs(fresh_store.backend, ["x"])
    with pytest.raises(rk.StoreError, match="cannot collect garbage yet"):
        Backend.collect_garbage(fresh_store.backend)
    assert Backend.referenced_blobs(fresh_store.backend) is None  # unknown: gc keeps every blob


def test_links_are_deleted_with_either_run_and_orphans_by_gc(fresh_store: rk.Store, store_path: Path) -> None:
    """A link belongs to both its runs: deleting either removes it, and gc removes one whose run is gone."""
    study = fresh_store.collection("study")
    a, b, c = (record(study, name, 1) for name in "abc")
    a.link(b, "compares")
    b.link(c, "fine-tunes")
    c.link(a, "reproduces")
    fresh_store.flush()
    assert fresh_store.delete_run(b, dry_run=True).rows["links"] == 2
    assert fresh_store.delete_run(b).rows["links"] == 2
    assert [link.relation for link in fresh_store.run(a.id).links()] == ["reproduces"]
    # A link written by a run's process after the run was force-deleted is an orphan for gc.
    conn = sqlite3.connect(store_path / "recordkit.db", isolation_level=None)
    conn.execute(
        "INSERT INTO links (source_id, target_id, relation, time, data) VALUES (?, ?, 'late', 0, '{}')",
        ("gone-run", c.id),
    )
    conn.close()
    assert fresh_store.gc().rows["links"] == 1
    assert [link.relation for link in fresh_store.run(c.id).links()] == ["reproduces"]
