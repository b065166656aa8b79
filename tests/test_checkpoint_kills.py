"""Checkpoints against SIGKILL: retention never leaves a listed checkpoint without its file, and the
temporary files of killed saves (and seals) are removed by gc. Real child processes, really killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import recordkit as rk

pytest.importorskip("torch")

SAVER = """
import sys
import torch
import recordkit as rk

store = rk.open(sys.argv[1])
run = store.collection("c").start_run(capture=False)
model = torch.nn.Linear(64, 64)
step = 0
while True:
    step += 1
    run.save_model(model, "m", step=step, retention=rk.Retention(keep_last=1))
    if step == 3:
        print("saving", flush=True)
"""

STALLED = """
import sys, time
import torch
import recordkit as rk

class Stall:  # pickled by torch.save half-way through the checkpoint: the save hangs there
    def __reduce__(self):
        print("stalled", flush=True)
        time.sleep(3600)

store = rk.open(sys.argv[1])
run = store.collection("c").start_run(capture=False)
run.save_model(torch.nn.Linear(256, 256), "m", step=1, extra=Stall())
"""


def _child(script: str, store_path: Path, tmp_path: Path, ready: str) -> subprocess.Popen[str]:
    path = tmp_path / "child.py"
    path.write_text(script)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, str(path), str(store_path)], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    if line != ready:
        child.kill()
        raise AssertionError(f"the child did not get going: {line!r} {child.communicate()[1]}")
    return child


def _kill(child: subprocess.Popen[str]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=60) == -signal.SIGKILL


def test_after_a_kill_during_retention_every_listed_checkpoint_is_on_disk(store_path: Path, tmp_path: Path) -> None:
    for delay in (0.0, 0.15, 0.3, 0.45, 0.6, 0.9):  # kills land at different points of save and retention
        child = _child(SAVER, store_path, tmp_path, "saving")
        time.sleep(delay)
        _kill(child)
    store = rk.open(store_path)
    runs = store.collection("c").runs()
    assert len(runs) == 6
    for run in runs:
        listed = run.checkpoints("m")
        assert listed, f"run {run.id} lost every checkpoint it saved"
        missing = [c.path for c in listed if not c.path.is_file()]
        assert not missing, f"run {run.id} lists checkpoints whose files are gone: {missing}"
        assert run.load_checkpoint("m").info.step == listed[-1].step  # the latest one loads
    # What a kill left unlisted (a file saved whose row never landed, a removed one not yet deleted) is gc's
    # once older than the grace; every listed checkpoint stays.
    old = time.time() - 3600
    for path in store_path.rglob("*"):
        os.utime(path, (old, old))
    store.gc()
    for run in runs:
        on_disk = sorted(p.name for p in (run.folder / "checkpoints" / "m").iterdir())
        assert on_disk == [c.path.name for c in run.checkpoints("m")]
    store.close()


def test_gc_removes_the_temp_files_of_killed_saves_and_seals(store_path: Path, tmp_path: Path) -> None:
    child = _child(STALLED, store_path, tmp_path, "stalled")
    _kill(child)
    store = rk.open(store_path)
    (run,) = store.collection("c").runs()
    folder = run.folder / "checkpoints" / "m"
    (save_temp,) = folder.glob(".step-1.pt.*.tmp")  # what the killed save left
    # A seal and a meta.json rewrite killed the same way leave temp files named for the dead pid.
    seal_temp = run.folder / f".records.parquet.{child.pid}.140213.tmp"
    meta_temp = run.folder / f".meta.json.{child.pid}.140213.tmp"
    live_temp = run.folder / f".records.parquet.{os.getpid()}.1.tmp"  # ours: being written right now
    for temp in (seal_temp, meta_temp, live_temp):
        temp.write_bytes(b"partial")
    young = store.gc(dry_run=True)
    assert young.stray_files == []  # younger than the grace: a writer on another host may own them
    old = time.time() - 3600
    for temp in (save_temp, seal_temp, meta_temp, live_temp):
        os.utime(temp, (old, old))
    dry = store.gc(dry_run=True)
    expected = sorted(str(p.resolve()) for p in (save_temp, seal_temp, meta_temp))
    assert sorted(dry.stray_files) == expected and save_temp.exists()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "recordkit", "gc", "--store", str(store_path)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "stray temp files" in done.stdout
    assert not any(p.exists() for p in (save_temp, seal_temp, meta_temp))
    assert live_temp.exists()  # its writer is alive
    assert (run.folder / "meta.json").is_file()  # nothing recorded is touched
    store.close()
