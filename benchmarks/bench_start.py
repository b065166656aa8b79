"""Starting a run with full capture (git included), as a training script's first call does.

Each sample is a fresh interpreter (the realistic case: one run per process, nothing cached yet) whose
working directory is a temporary git repository with a realistic state: 200 committed files, two
modified tracked files (so ``git diff`` runs and ``git.diff`` is stored) and a few untracked files.
The child imports recordkit and opens the store untimed, then times ``col.start_run(config, name)``
with full capture, then ``run.finish()``, and separately ``start_run(capture=False)`` in the same store.

Floors, timed in the same children: one ``git status --porcelain=v2 --branch -z`` spawn (the least a
tool that records the git state must pay) and the core of starting a run without capture (numbering
plus meta.json). Peers' figures (wandb ~0.6 s, MLflow seconds) are from DESIGN.md §5, not measured here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from benchmarks._util import Result, median, say, temp_dir

TARGET_MS = 150.0
FINISH_TARGET_MS = 100.0

_CHILD = r"""
import json, os, subprocess, sys, time
import recordkit as rk

store = rk.open(sys.argv[1])
col = store.collection("bench")
config = {"lr": 0.001, "batch": 64, "model": {"depth": 12, "width": 768}, "seed": 7}

t0 = time.perf_counter()
run = col.start_run(config=config, name="full")
t1 = time.perf_counter()
run.log(loss=0.5)
t2 = time.perf_counter()
run.finish()
t3 = time.perf_counter()

t4 = time.perf_counter()
bare = col.start_run(config=config, name="bare", capture=False)
t5 = time.perf_counter()
bare.finish()

t6 = time.perf_counter()
subprocess.run(["git", "status", "--porcelain=v2", "--branch", "-z"], check=True, capture_output=True)
t7 = time.perf_counter()
git = run.env.get("git", {})
print(json.dumps({
    "start": (t1 - t0) * 1000, "finish": (t3 - t2) * 1000, "bare": (t5 - t4) * 1000,
    "git_floor": (t7 - t6) * 1000, "dirty": git.get("dirty"), "diff": (run.folder / "git.diff").exists(),
    "parts": sorted(run.env),
}))
"""


def _make_repo(path: str) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "bench@example.com")
    git("config", "user.name", "bench")
    git("remote", "add", "origin", "https://user:secret@example.com/lab/project.git")
    for i in range(200):
        sub = os.path.join(path, "src", f"pkg{i % 10}")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"mod{i}.py"), "w", encoding="utf-8") as f:
            f.write("".join(f"def f{j}(x):\n    return x * {j}\n\n" for j in range(40)))
    git("add", "-A")
    git("commit", "-q", "-m", "initial")
    for i in (3, 17):
        with open(os.path.join(path, "src", f"pkg{i % 10}", f"mod{i}.py"), "a", encoding="utf-8") as f:
            f.write("def changed():\n    return 'work in progress'\n")
    for i in range(5):
        with open(os.path.join(path, f"notes{i}.txt"), "w", encoding="utf-8") as f:
            f.write("scratch\n")


def run(quick: bool) -> list[Result]:
    samples = 5 if quick else 11
    rows: list[dict[str, object]] = []
    with temp_dir("start") as tmp:
        repo = os.path.join(tmp, "project")
        os.makedirs(repo)
        _make_repo(repo)
        store = os.path.join(tmp, "records")
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        say(f"start: {samples} fresh interpreters, each starting a run with full capture in a dirty git repo")
        for _ in range(samples + 1):  # the first warms the page cache and creates the store
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, store], cwd=repo, env=env, check=True, capture_output=True, text=True
            ).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    rows = rows[1:]
    start = median([float(r["start"]) for r in rows])  # type: ignore[arg-type]
    bare = median([float(r["bare"]) for r in rows])  # type: ignore[arg-type]
    finish = median([float(r["finish"]) for r in rows])  # type: ignore[arg-type]
    git_floor = median([float(r["git_floor"]) for r in rows])  # type: ignore[arg-type]
    checked = all(r["dirty"] is True and r["diff"] is True for r in rows)
    parts = ", ".join(rows[0]["parts"])  # type: ignore[arg-type]
    return [
        Result(
            "start",
            "start_run with full capture (git included)",
            start,
            "ms",
            git_floor,
            "one `git status` spawn",
            f"≤ {TARGET_MS:g} ms",
            start <= TARGET_MS,
            f"median of {samples} fresh interpreters in a dirty 200-file git repository; captured parts: {parts}; "
            f"dirty flag and git.diff recorded: {'yes' if checked else 'NO'}; peers (DESIGN.md §5, not measured "
            "here): wandb ~600 ms, MLflow seconds",
        ),
        Result(
            "start",
            "start_run without capture",
            bare,
            "ms",
            None,
            "",
            "",
            None,
            "numbering, run row and meta.json only: the part of start-up capture does not add",
        ),
        Result(
            "start",
            "finish() after one record",
            finish,
            "ms",
            None,
            "",
            f"≤ {FINISH_TARGET_MS:g} ms",
            finish <= FINISH_TARGET_MS,
            "includes the last flush (one record) and the final status write",
        ),
    ]
