"""``recordkit ls`` over a store of 10,000 runs (DESIGN §5: ≤ 0.5 s), end to end and as a library call.

The store is built once and cached in the temporary folder (``recordkit-bench-ls-<runs>-v<n>``): one
real run is recorded through the API with full environment capture (tens of kilobytes of packages,
variables and git), then copied 9,999 times with its own id, number, name, config (lr, batch size,
optimizer, seed), times, status (5 % failed) and a summary of five metrics, straight into the
SQLite tables in one transaction. Run folders are not made: ``ls`` never reads them.

Timed (median of several, each after one untimed warm-up):

* ``recordkit ls`` as a subprocess (``python -m recordkit ls --store S``), output to /dev/null: the
  table a person sees (past 1,000 rows it is laid out without rich), and ``--format json``, and
  ``--sort -acc --limit 10`` (sorting by a metric reads every run's summary). Byte-code caching is on,
  as for an installed package (``PYTHONDONTWRITEBYTECODE`` is dropped for these children), and the
  children's CPU time is reported beside the wall time: on a shared machine it varies less;
* the library call ``store.run_table()`` in a warm process;

Floors, measured in the same run: a bare ``python -c pass`` (the interpreter's start-up, which every
CLI pays) and a raw ``SELECT * FROM runs`` plus ``SELECT * FROM summary`` with sqlite3, decoding
nothing (what reading the same rows costs at the least).
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from benchmarks._util import Result, median, say

TARGET_MS = 500.0
RUNS = 10_000
QUICK_RUNS = 10_000  # the target is about 10,000 runs; building them takes a few seconds, once
CACHE_VERSION = 2  # 2: ids "r" + 15 hex, summary columns named
METRICS = ("loss", "acc", "val_loss", "val_acc", "epoch")


def _store_path(runs: int) -> Path:
    return Path(tempfile.gettempdir()) / f"recordkit-bench-ls-{runs}-v{CACHE_VERSION}" / "records"


def build_store(folder: Path, runs: int) -> float:
    """Record one real run, then copy it ``runs - 1`` times straight into the tables; seconds taken."""
    import recordkit as rk

    t0 = time.perf_counter()
    store = rk.open(folder)
    with store.collection("sweep").start_run(config={"lr": 0.1}, name="trial-0") as run:
        for step in range(10):
            run.log({"loss": 1 / (step + 1), "acc": step / 10, "val_loss": 1.1 / (step + 1), "val_acc": step / 11})
            run.log(epoch=step)
            run.next_step()
    store.close()
    rng = random.Random(0)
    conn = sqlite3.connect(folder / "recordkit.db", isolation_level=None)
    conn.row_factory = sqlite3.Row
    template = dict(conn.execute("SELECT * FROM runs").fetchone())
    (scope_top,) = conn.execute("SELECT value FROM sequences WHERE name = 'scope'").fetchone()
    conn.execute("BEGIN IMMEDIATE")
    start = template["start_time"] - runs * 60.0
    template_start = start
    run_rows, scope_rows, summary_rows = [], [], []
    for i in range(1, runs):
        run_id = "r" + uuid.uuid4().hex[:15]  # as runs.meta.new_run_id spells them
        scope_top += 1
        failed = rng.random() < 0.05
        started = start + i * 60.0
        config = {
            "lr": rng.choice([0.001, 0.003, 0.01, 0.03, 0.1]),
            "batch_size": rng.choice([32, 64, 128]),
            "optimizer": {"name": rng.choice(["sgd", "adam"]), "momentum": 0.9},
            "seed": i,
        }
        row = dict(template)
        row.update(
            id=run_id,
            number=i + 1,
            error_number=1 if failed else 0,
            name=f"trial-{i}",
            status="failed" if failed else "finished",
            start_time=started,
            end_time=started + rng.uniform(10, 50),
            config=json.dumps(config),
            heartbeat=started,
            folder=str(folder / "sweep" / run_id),
            root_scope=scope_top,
            error=json.dumps({"type": "RuntimeError", "message": "diverged", "traceback": ""}) if failed else None,
        )
        run_rows.append(row)
        scope_rows.append((scope_top, run_id, None, "{}"))
        for key in METRICS:
            value = float(rng.randint(0, 9)) if key == "epoch" else rng.random()
            summary_rows.append((run_id, key, repr(value), 9, value * 0.5, value * 2, 10))
    columns = list(template)
    conn.executemany(
        f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        [tuple(row[c] for c in columns) for row in run_rows],
    )
    conn.execute("UPDATE runs SET start_time = ?, number = 1 WHERE id = ?", (template_start, template["id"]))
    conn.executemany("INSERT INTO scopes (id, run_id, parent_id, fields) VALUES (?, ?, ?, ?)", scope_rows)
    conn.executemany(  # columns named: later schemas add columns (NULL here, as in an older store)
        "INSERT INTO summary (run_id, key, last, last_step, min, max, count) VALUES (?, ?, ?, ?, ?, ?, ?)",
        summary_rows,
    )
    conn.execute("UPDATE sequences SET value = ? WHERE name = 'scope'", (scope_top,))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - t0


def cached_store(runs: int) -> Path:
    """The benchmark store, built on first use (a marker file says it is complete)."""
    folder = _store_path(runs)
    marker = folder.parent / "complete"
    if not marker.exists():
        import shutil

        shutil.rmtree(folder.parent, ignore_errors=True)
        folder.parent.mkdir(parents=True)
        say(f"ls: building a store of {runs:,} runs in {folder}")
        seconds = build_store(folder, runs)
        marker.write_text(f"{runs}\n", encoding="utf-8")
        say(f"ls: built in {seconds:.1f} s (cached for later runs)")
    return folder


def _spawn(args: list[str]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one child interpreter, from spawn to exit.

    Byte-code caching is left on (as for an installed package) even when the benchmark's own
    environment turns it off: the warm-up run writes the ``.pyc`` files the timed runs use.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("RECORDKIT_STORE", "PYTHONDONTWRITEBYTECODE")}
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    wall = (time.perf_counter() - t0) * 1000
    if status != 0:
        raise RuntimeError(f"{args!r} failed with status {status}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


def _timed_ms(call: Callable[[], object], repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    return median(times)


def _raw_select(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute("SELECT * FROM runs").fetchall()
        conn.execute("SELECT * FROM summary").fetchall()
    finally:
        conn.close()


def run(quick: bool) -> list[Result]:
    import recordkit as rk

    runs = QUICK_RUNS if quick else RUNS
    repeats = 5 if quick else 9
    folder = cached_store(runs)
    db = folder / "recordkit.db"
    env_bytes = sqlite3.connect(db).execute("SELECT avg(length(env)) FROM runs").fetchone()[0]

    commands = {
        "table": ["-m", "recordkit", "ls", "--store", str(folder)],
        "json": ["-m", "recordkit", "ls", "--store", str(folder), "--format", "json"],
        "sorted": ["-m", "recordkit", "ls", "--store", str(folder), "--sort", "-acc", "--limit", "10"],
    }
    for args in [["-c", "pass"], *commands.values()]:
        _spawn(args)  # warm the page cache (and write byte code)
    say(f"ls: {repeats} alternating spawns of each command")
    spawned: dict[str, list[tuple[float, float]]] = {name: [] for name in ["bare", *commands]}
    for _ in range(repeats):
        spawned["bare"].append(_spawn(["-c", "pass"]))
        for name, args in commands.items():
            spawned[name].append(_spawn(args))
    cli = {name: median([wall for wall, _ in values]) for name, values in spawned.items()}
    cpu = {name: median([used for _, used in values]) for name, values in spawned.items()}

    store = rk.open(folder, create=False)
    assert len(store.run_table()) == runs
    library_ms = _timed_ms(store.run_table, repeats)
    library_sorted_ms = _timed_ms(lambda: store.run_table(sort="-acc", limit=10), repeats)
    store.close()
    raw_ms = _timed_ms(lambda: _raw_select(db), repeats)

    bare = cli["bare"]
    note = (
        f"{runs:,} runs, each with a captured environment of {env_bytes / 1024:.0f} kB and 5 metrics; "
        f"median of {repeats} spawns, output to /dev/null; CPU time (user + system) of the same spawns: "
        f"table {cpu['table']:.0f} ms, json {cpu['json']:.0f} ms, sorted {cpu['sorted']:.0f} ms, "
        f"bare {cpu['bare']:.0f} ms"
    )
    target = f"≤ {TARGET_MS:g} ms"
    return [
        Result(
            "ls",
            f"recordkit ls, {runs:,} runs (table)",
            cli["table"],
            "ms",
            bare,
            "bare `python -c pass`",
            target,
            cli["table"] <= TARGET_MS,
            note,
        ),
        Result(
            "ls",
            f"recordkit ls --format json, {runs:,} runs",
            cli["json"],
            "ms",
            bare,
            "bare `python -c pass`",
            target,
            cli["json"] <= TARGET_MS,
        ),
        Result(
            "ls",
            f"recordkit ls --sort -acc --limit 10, {runs:,} runs",
            cli["sorted"],
            "ms",
            bare,
            "bare `python -c pass`",
            target,
            cli["sorted"] <= TARGET_MS,
        ),
        Result(
            "ls",
            f"store.run_table(), {runs:,} runs (library, warm)",
            library_ms,
            "ms",
            raw_ms,
            "raw SELECT of runs + summary",
        ),
        Result(
            "ls",
            f"store.run_table(sort='-acc', limit=10), {runs:,} runs",
            library_sorted_ms,
            "ms",
            raw_ms,
            "raw SELECT of runs + summary",
        ),
    ]
