"""Attachments stored once by content hash, references to outside files, names that never escape."""

from __future__ import annotations

import hashlib
import io
import os
import time
from pathlib import Path

import pytest
from tests.conftest import fast_run

import recordkit as rk

# Behaviour tests run on both engines; those that need a folder store (file system, subprocess) stay SQLite-only.
pytestmark = pytest.mark.backends("sqlite", "postgres")


def _blobs(store_path: Path) -> list[Path]:
    return [p for p in (store_path / "blobs").rglob("*") if p.is_file() and p.parent.name != "tmp"]


def test_attach_a_path_records_name_size_hash_and_step(collection: rk.Collection, tmp_path: Path) -> None:
    source = tmp_path / "plot.png"
    source.write_bytes(b"\x89PNG fake image" * 1000)
    with fast_run(collection) as run:
        run.next_step(7)
        info = run.attach(source)
    source.unlink()  # the content lives in the store now
    [stored] = run.files
    assert (stored.name, stored.kind, stored.step, stored.size) == ("plot.png", "attachment", 7, 15000)
    assert stored.sha256 == hashlib.sha256(b"\x89PNG fake image" * 1000).hexdigest() == info.sha256
    with run.open_file("plot.png") as f:
        assert f.read() == b"\x89PNG fake image" * 1000
    assert run.events.named("attached")[0].data["sha256"] == stored.sha256


def test_identical_content_is_stored_once(collection: rk.Collection, store_path: Path, tmp_path: Path) -> None:
    payload = os.urandom(200_000)
    (tmp_path / "a.bin").write_bytes(payload)
    with fast_run(collection) as first:
        first.attach(tmp_path / "a.bin")
        first.attach(payload, name="copy.bin")
    with fast_run(collection) as second:
        second.attach(io.BytesIO(payload), name="again.bin")
        second.attach(b"other", name="other.bin")
    blobs = _blobs(store_path)
    assert len(blobs) == 2  # three attachments of one content, plus one other
    assert sum(p.stat().st_size for p in blobs) == len(payload) + len(b"other")
    assert {f.path for f in first.files} == {f.path for f in second.files if f.name == "again.bin"}
    assert not list((store_path / "blobs" / "tmp").iterdir())  # no temporary file left behind


def test_attach_bytes_and_file_objects(collection: rk.Collection, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with fast_run(collection) as run:
        run.attach(b"raw", name="data/raw.bin")
        with (tmp_path / "notes.txt").open("rb") as f:
            run.attach(f)  # named after the file
    assert [f.name for f in run.files] == ["data/raw.bin", "notes.txt"]
    assert run.open_file("data/raw.bin").read() == b"raw"
    assert run.open_file("notes.txt").read() == b"hello"


def test_later_attachment_of_a_name_wins(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.attach(b"v1", name="model.txt")
        run.attach(b"v2", name="model.txt")
    assert run.open_file("model.txt").read() == b"v2"
    assert len(run.files) == 2  # both recorded


@pytest.mark.parametrize(
    "name",
    ["../escape.txt", "a/../../b", "/etc/passwd", "..", ".", "a\\b", "C:\\x", "a//b", "", ".hidden", "a/\x00b"],
)
def test_path_traversal_is_rejected(collection: rk.Collection, store_path: Path, name: str) -> None:
    with fast_run(collection) as run:
        with pytest.raises(rk.InvalidNameError):
            run.attach(b"x", name=name)
        with pytest.raises(rk.InvalidNameError):
            run.open_file(name)
        with pytest.raises(rk.InvalidNameError):
            run.save_model(object(), name) if "/" not in name and name else run.save_model(object(), "../x")
    assert run.files == []
    assert not (store_path.parent / "escape.txt").exists()


@pytest.mark.parametrize(
    ("kind", "name"), [("..", "x"), ("squeeze", ".."), ("a/b", "x"), ("squeeze", "../../x"), ("", "x")]
)
def test_sub_run_names_never_escape(collection: rk.Collection, kind: str, name: str) -> None:
    with fast_run(collection) as run, pytest.raises(rk.InvalidNameError):
        run.sub_run(kind, name=name, capture=False)


def test_attach_needs_a_name_for_bytes(collection: rk.Collection) -> None:
    with fast_run(collection) as run, pytest.raises(rk.InvalidNameError, match="name="):
        run.attach(b"x")


def test_attach_rejects_text_mode_and_missing_files(collection: rk.Collection, tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("text")
    with fast_run(collection) as run:
        with pytest.raises(TypeError, match="binary"), (tmp_path / "t.txt").open() as f:
            run.attach(f)
        with pytest.raises(FileNotFoundError):
            run.attach(tmp_path / "missing.txt")
        with pytest.raises(TypeError):
            run.attach(42)  # type: ignore[arg-type]
    assert run.files == []


def test_open_file_unknown_name(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.attach(b"x", name="a.txt")
    with pytest.raises(rk.RunFileNotFoundError, match=r"a\.txt"):
        run.open_file("b.txt")


def test_attaching_to_an_ended_run_is_refused(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        pass
    with pytest.raises(rk.RunStateError):
        run.attach(b"x", name="late.txt")


def test_reference_records_without_copying(collection: rk.Collection, store_path: Path, tmp_path: Path) -> None:
    data = tmp_path / "dataset.csv"
    data.write_bytes(b"a,b\n1,2\n")
    with fast_run(collection) as run:
        plain = run.reference(data)
        hashed = run.reference(data, hash=True, name="dataset-hashed.csv")
        folder = run.reference(tmp_path)
    assert plain.kind == "reference" and plain.sha256 is None and plain.size == 8
    assert plain.path == data.resolve() and plain.mtime == data.stat().st_mtime
    assert hashed.sha256 == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert folder.size is None
    assert not (store_path / "blobs").exists()  # nothing was copied
    assert [f.name for f in run.files] == ["dataset.csv", "dataset-hashed.csv", tmp_path.name]
    assert run.open_file("dataset.csv").read() == b"a,b\n1,2\n"


def test_reference_warns_when_the_file_changed(collection: rk.Collection, tmp_path: Path) -> None:
    data = tmp_path / "d.txt"
    data.write_text("one")
    with fast_run(collection) as run:
        run.reference(data)
    data.write_text("changed!")
    with pytest.warns(rk.RecordkitWarning, match="changed"):
        run.open_file("d.txt").close()
    data.unlink()
    with pytest.raises(rk.RunFileNotFoundError, match="no longer exists"):
        run.open_file("d.txt")


def test_reference_to_a_missing_path(collection: rk.Collection, tmp_path: Path) -> None:
    with fast_run(collection) as run, pytest.raises(FileNotFoundError):
        run.reference(tmp_path / "nope")


def test_unreferenced_blobs(fresh_store: rk.Store, store_path: Path) -> None:
    col = fresh_store.collection("study")
    with fast_run(col) as run:
        run.attach(b"kept", name="k.txt")
    orphan = store_path / "blobs" / "ab" / ("ab" + "0" * 62)
    orphan.parent.mkdir()
    orphan.write_bytes(b"left by a process killed between the copy and its file row")
    stray = store_path / "blobs" / "tmp" / "999999999-dead.tmp"
    stray.write_bytes(b"partial")
    assert fresh_store.unreferenced_blobs() == []  # younger than gc's grace: perhaps still being recorded
    old = time.time() - 3600
    for path in (orphan, stray):
        os.utime(path, (old, old))
    assert sorted(fresh_store.unreferenced_blobs()) == sorted([orphan, stray])


def test_blobs_is_not_a_collection_name(fresh_store: rk.Store) -> None:
    with pytest.raises(rk.InvalidNameError, match="blobs"):
        fresh_store.collection("blobs")


def test_attachments_are_readable_in_the_run_folder(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        first = run.attach(b"v1", name="plots/loss.txt")
        run.attach(b"v2", name="plots/loss.txt")
    view = run.folder / "files" / "plots" / "loss.txt"
    assert view.read_bytes() == b"v2"  # the latest attachment of the name
    assert first.path is not None and first.path.read_bytes() == b"v1"  # the earlier content is kept
    [second] = [f for f in run.files if f.read_bytes() == b"v2"]
    assert second.path is not None and os.path.samefile(view, second.path)  # a hard link: no extra space


@pytest.mark.parametrize("kind", ["files", "checkpoints"])
def test_sub_run_kinds_cannot_take_a_runs_own_folders(collection: rk.Collection, kind: str) -> None:
    with fast_run(collection) as run, pytest.raises(rk.InvalidNameError, match="own folder"):
        run.sub_run(kind, capture=False)


@pytest.mark.parametrize(
    ("first", "second", "shared"), [("p", "p/q", "p"), ("p/q", "p", "p"), ("a/b", "a/b/c/d", "a/b")]
)
def test_a_name_cannot_be_both_a_file_and_a_folder(
    collection: rk.Collection, store_path: Path, tmp_path: Path, first: str, second: str, shared: str
) -> None:
    run = fast_run(collection)
    run.attach(b"first", name=first)
    blobs = _blobs(store_path)
    with pytest.raises(rk.InvalidNameError, match=f"'{shared}' cannot be both a file and a folder of files"):
        run.attach(b"second content", name=second)
    assert _blobs(store_path) == blobs  # refused before the blob was stored: no orphan to collect
    (tmp_path / "outside.txt").write_text("x")
    with pytest.raises(rk.InvalidNameError, match=f"clashes with '{first}'"):
        run.reference(tmp_path / "outside.txt", name=second)
    run.attach(b"fine", name=f"{second}.txt" if len(second) < len(first) else "other")
    run.finish()
    assert not list((store_path / "blobs" / "tmp").iterdir())
    assert run.files[0].name == first
    assert run.open_file(first).read() == b"first"
    assert len(run.files) == 2 and run.events.named("attached")[0].data["name"] == first


def test_a_resumed_run_knows_the_names_an_earlier_process_attached(
    store_kind: str, store_url: str, store_path: Path
) -> None:
    import subprocess
    import sys

    files = f", files={str(store_path)!r}" if store_kind == "postgres" else ""
    child = (
        "import recordkit as rk\n"
        f"store = rk.open({store_url!r}{files})\n"
        "run = store.collection('study').start_run(capture=False)\n"
        "run.attach(b'weights', name='model')\n"
        "run.finish()\n"
    )
    subprocess.run([sys.executable, "-c", child], check=True, timeout=120, env={**os.environ})
    store = rk.open(store_url, files=store_path) if store_kind == "postgres" else rk.open(store_url)
    try:
        run = store.collection("study").resume_run(1)
        blobs = _blobs(store_path)
        with pytest.raises(rk.InvalidNameError, match="'model/extra' clashes with 'model'"):
            run.attach(b"more", name="model/extra")
        assert _blobs(store_path) == blobs
        run.finish()
        assert [(f.name, f.read_bytes()) for f in run.files] == [("model", b"weights")]
    finally:
        store.close()
