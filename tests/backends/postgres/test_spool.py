"""The local spool on its own: order, durability on disk, adoption of orphans, backoff."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recordkit.backends.postgres.spool import Spool, default_spool_root


def _drain(spool: Spool) -> list[tuple[str, list[object]]]:
    sent = []
    for batch_id, items, done in spool.entries():
        sent.append((batch_id, items))
        done()
    return sent


def test_batches_come_back_in_order_and_leave_when_done(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s")
    for i in range(12):  # more than 9, so the order is numeric, not by name length
        spool.append(f"b{i}", [("run", 1, i, i, 0.0, {"x": float(i)})])
    assert spool.pending() == 12
    sent = _drain(spool)
    assert [b for b, _ in sent] == [f"b{i}" for i in range(12)]
    assert sent[3][1] == [("run", 1, 3, 3, 0.0, {"x": 3.0})]
    assert spool.pending() == 0 and not list((tmp_path / "s").rglob("*.batch"))


def test_a_batch_not_marked_done_stays(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s")
    spool.append("a", [1])
    spool.append("b", [2])
    for batch_id, _, done in spool.entries():
        if batch_id == "a":
            done()
        break  # the sender failed on the second: it stays for the next attempt
    assert spool.pending() == 1
    assert [b for b, _ in _drain(spool)] == ["b"]


def test_an_orphaned_spool_is_adopted_but_a_live_one_is_not(tmp_path: Path) -> None:
    root = tmp_path / "s"
    script = textwrap.dedent("""
        import sys, time
        from pathlib import Path
        from recordkit.backends.postgres.spool import Spool
        spool = Spool(Path(sys.argv[1]))
        spool.append("from-" + sys.argv[2], ["item"])
        if sys.argv[2] == "live":
            print("ready", flush=True)
            sys.stdin.readline()          # holds the lock until the parent is done looking
    """)
    env_path = {"PYTHONPATH": ":".join(sys.path)}
    dead = subprocess.run([sys.executable, "-c", script, str(root), "dead"], env=env_path, timeout=60)
    assert dead.returncode == 0
    live = subprocess.Popen([sys.executable, "-c", script, str(root), "live"], env=env_path, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert live.stdout is not None and live.stdout.readline().strip() == "ready"
        spool = Spool(root)
        assert spool.adopt_orphans() == 1  # the dead process's batch, not the live one's
        assert [b for b, _ in _drain(spool)] == ["from-dead"]
        spool.release()
    finally:
        assert live.stdin is not None
        live.stdin.write("\n")
        live.stdin.flush()
        live.wait(timeout=60)
    later = Spool(root)
    assert later.adopt_orphans() == 1 and [b for b, _ in _drain(later)] == ["from-live"]


def test_release_removes_an_empty_folder_and_keeps_a_full_one(tmp_path: Path) -> None:
    empty = Spool(tmp_path / "e")
    empty.append("a", [])
    _drain(empty)
    empty.release()
    assert not any((tmp_path / "e").iterdir())
    full = Spool(tmp_path / "f")
    full.append("a", [])
    full.release()
    assert len(list((tmp_path / "f").rglob("*.batch"))) == 1


def test_backoff_grows_and_resets(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s")
    assert spool.due()
    spool.failed()
    assert not spool.due()
    spool.succeeded()
    assert spool.due()


def test_default_root_names_no_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECORDKIT_SPOOL", str(tmp_path))
    root = default_spool_root("postgresql://bob@db/x?schema=s")
    assert root.parent == tmp_path and "bob" not in str(root)
    assert root != default_spool_root("postgresql://bob@db/x?schema=other")
