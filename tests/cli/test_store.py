"""The commands about a whole store: demo, and gc (with rm, which leaves gc something to do)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from tests.cli.helpers import invoke, names_in, ok, python_m, strict_json

import recordkit as rk
from recordkit.cli.formatting import human_bytes

# --- demo ----------------------------------------------------------------------------------------


def test_demo_records_runs_and_says_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = ok("demo", "--runs", "2", "--epochs", "2")
    assert str((tmp_path / "records").resolve()) in out
    assert "recordkit ls\n" in out  # the default store needs no --store
    assert ".records.to_pandas()" in out
    # The table shows each run's held-out loss and accuracy (numbers, not empty cells).
    table = [line.split() for line in out.splitlines() if line.lstrip().startswith(("1 ", "2 "))]
    assert len(table) == 2 and all(len(cells) == 7 for cells in table), out
    assert all(0 < float(cells[4]) < 1 and 0 < float(cells[5]) <= 1 for cells in table), out
    rows = strict_json(ok("ls", "-f", "json"))
    assert [(row["name"], row["status"]) for row in rows] == [("lr=0.3", "finished"), ("lr=1", "finished")]
    assert len(strict_json(ok("records", "--where", "phase=eval", "-f", "json"))) == 2 * 2


def test_demo_into_a_named_store(tmp_path: Path) -> None:
    target = tmp_path / "my store"
    out = ok("demo", str(target), "--runs", "1", "--epochs", "1")
    assert f"--store '{target.resolve()}'" in out  # quoted for the shell
    assert len(strict_json(ok("ls", "-f", "json", store=target))) == 1
    ok("demo", "--runs", "1", "--epochs", "1", store=target)  # --store works too, and numbers on
    assert [row["number"] for row in strict_json(ok("ls", "-f", "json", store=target))] == [1, 2]


def test_demo_store_given_twice_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("demo", str(tmp_path / "a"), "--store", str(tmp_path / "b"))
    assert result.exit_code == 2
    assert not (tmp_path / "a").exists()


# --- gc ------------------------------------------------------------------------------------------


def test_gc_dry_run_then_gc(small_store: Path) -> None:
    ok("rm", "c/2", "--yes", store=small_store)
    orphan = small_store / "c" / "0123456789abcdef"
    orphan.mkdir()
    (orphan / "meta.json").write_text("{}" * 100)
    dry = strict_json(ok("gc", "--dry-run", "-f", "json", store=small_store))
    assert dry["dry_run"] is True and orphan.exists()
    assert dry["folders"] == [str(orphan.resolve())] and dry["folder_bytes"] == 200
    table = ok("gc", "--dry-run", store=small_store)
    assert "Dry run: nothing changed" in table and "run folders without a run" in table
    assert f"Would reclaim {human_bytes(dry['bytes_reclaimed'])} ({dry['bytes_reclaimed']:,} bytes)." in table
    done = strict_json(ok("gc", "-f", "json", store=small_store))
    assert not orphan.exists()
    assert done["bytes_reclaimed"] == dry["bytes_reclaimed"] >= 200
    assert "Reclaimed 0 B (0 bytes)." in ok("gc", store=small_store)
    assert names_in(small_store) == ["lr=0.1", "lr=0.3"]


def test_gc_and_rm_as_real_processes(store_path: Path) -> None:
    """gc --dry-run changes no byte; gc then reclaims on disk exactly what both reported."""
    small_store = store_path
    store = rk.open(store_path)
    for lr in (0.1, 0.2, 0.3):
        with store.collection("c").start_run(config={"lr": lr}, capture=False) as run:
            for i in range(2000):  # enough that deleting two runs frees whole pages
                run.log(loss=lr * i, note=f"note {i}")
    store.close()

    def files() -> dict[str, bytes]:
        return {str(p.relative_to(small_store)): p.read_bytes() for p in sorted(small_store.rglob("*")) if p.is_file()}

    def on_disk() -> int:
        return sum(len(content) for name, content in files().items() if not name.endswith("-shm"))

    done = python_m("rm", "c/1", "c/3", "--yes", "--store", str(small_store))
    assert done.returncode == 0, done.stderr
    assert "Deleted 2 runs (4,000 records" in done.stdout
    before = files()
    dry = python_m("gc", "--dry-run", "--format", "json", "--store", str(small_store))
    assert dry.returncode == 0, dry.stderr
    assert files() == before  # not one byte changed
    size = on_disk()
    real = python_m("gc", "--format", "json", "--store", str(small_store))
    assert real.returncode == 0, real.stderr
    announced, reclaimed = strict_json(dry.stdout)["bytes_reclaimed"], strict_json(real.stdout)["bytes_reclaimed"]
    assert announced == reclaimed == size - on_disk() > 0
    done = python_m("rm", "nope", "--yes", "--store", str(small_store))
    assert done.returncode == 1 and done.stderr.startswith("Error: no run with id 'nope'")


# --- gc and attachments --------------------------------------------------------------------------


def _unique_bytes(root: Path) -> int:
    """Bytes on disk under root, each file counted once however many hard links reach it (no -shm)."""
    seen = {}
    for p in root.rglob("*"):
        if p.is_file() and not p.name.endswith("-shm"):
            st = p.lstat()
            seen[(st.st_dev, st.st_ino)] = st.st_size
    return sum(seen.values())


def test_rm_and_gc_of_a_shared_attachment_as_real_processes(store_path: Path) -> None:
    """The same content attached by two runs: rm one, gc keeps the blob; rm both, gc --dry-run reports
    the blob and changes nothing; gc removes exactly that."""
    content = os.urandom(50_000)
    store = rk.open(store_path)
    for name in ("a", "b"):
        with store.collection("c").start_run(name=name, capture=False) as run:
            blob = run.attach(content, name="model.bin").path
    store.close()
    assert blob is not None
    old = time.time() - 3600  # older than gc's grace
    os.utime(blob, (old, old))

    def gc(*extra: str) -> dict[str, Any]:
        done = python_m("gc", "-f", "json", *extra, "--store", str(store_path))
        assert done.returncode == 0, done.stderr
        return dict(strict_json(done.stdout))

    removed = python_m("rm", "c/1", "--yes", "-f", "json", "--store", str(store_path))
    assert removed.returncode == 0, removed.stderr
    assert strict_json(removed.stdout)["rows"]["files"] == 1
    assert strict_json(removed.stdout)["file_bytes"] < len(content)  # its hard link freed nothing
    assert gc()["blobs"] == [] and blob.read_bytes() == content  # c/2 still refers to it
    assert python_m("rm", "c/2", "--yes", "--store", str(store_path)).returncode == 0
    before = {str(p): p.read_bytes() for p in sorted(store_path.rglob("*")) if p.is_file()}
    size = _unique_bytes(store_path)
    dry = gc("--dry-run")
    assert {str(p): p.read_bytes() for p in sorted(store_path.rglob("*")) if p.is_file()} == before
    assert dry["blobs"] == [str(blob.resolve())] and dry["blob_bytes"] == len(content)
    table = python_m("gc", "--dry-run", "--store", str(store_path))
    assert "unreferenced blobs" in table.stdout and "50.0 kB" in table.stdout
    real = gc()
    assert not blob.exists()
    assert (real["blobs"], real["blob_bytes"]) == (dry["blobs"], dry["blob_bytes"])
    assert real["bytes_reclaimed"] == dry["bytes_reclaimed"] == size - _unique_bytes(store_path)


def test_gc_removes_an_attachment_no_run_refers_to(store_path: Path) -> None:
    store = rk.open(store_path)
    with store.collection("c").start_run(capture=False) as run:
        blob = run.attach(b"x" * 3000, name="x.bin").path
    store.close()
    assert blob is not None
    old = time.time() - 3600
    os.utime(blob, (old, old))
    assert strict_json(ok("gc", "--dry-run", "-f", "json", store=store_path))["blobs"] == []  # still referenced
    out = ok("rm", "c/1", "--yes", store=store_path)
    assert "remove attachments no run refers to" in out
    dry = ok("gc", "--dry-run", store=store_path)
    assert re.search(r"unreferenced blobs\s+1\s+3\.0 kB", dry), dry
    assert blob.exists()
    done = strict_json(ok("gc", "-f", "json", store=store_path))
    assert done["blobs"] == [str(blob.resolve())] and done["blob_bytes"] == 3000 and not blob.exists()
