"""The rigorous-recorder workload end to end: 3 experiments × 10 episodes × 100,000 records of {x, y}.

Each experiment is a run, each episode a scope (``episode=<n>``) of it, and every record is one
``scope.log({"x": ..., "y": ...})``. Timed from the first run's start until the last run's
``finish()`` returned (everything committed). Each side runs in a fresh child interpreter, so its
peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is its own, measured against the child's
RSS before the workload started.

The floor is a plain background SQLite writer doing the same job with nothing else
(``bench_ingest.PlainWriter``: a deque drained by one thread into one plain table, one transaction
per 20,000 rows, WAL with ``synchronous=NORMAL``), run in the same way. Disk is the database file
after ``PRAGMA wal_checkpoint(TRUNCATE)``.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time

from benchmarks._util import Result, checkpoint, say, temp_dir

TARGET_SECONDS = 10.0
TARGET_RSS_RATIO = 2.0
TARGET_DISK_RATIO = 1.2


def _sizes(quick: bool) -> tuple[int, int, int]:
    return (3, 10, 20_000) if quick else (3, 10, 100_000)


def _values(per_episode: int) -> tuple[list[float], list[float]]:
    rng = random.Random(3)
    return [rng.random() for _ in range(per_episode)], [rng.gauss(0.0, 1.0) for _ in range(per_episode)]


def _rss_kib() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _current_rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def _recordkit_side(folder: str, quick: bool) -> dict[str, float]:
    import recordkit as rk

    experiments, episodes, per_episode = _sizes(quick)
    xs, ys = _values(per_episode)
    before = _current_rss_kib()
    t0 = time.perf_counter()
    store = rk.open(folder, seal=False)  # sealing is bench_export's subject, not this one's
    col = store.collection("workload")
    for e in range(experiments):
        run = col.start_run(config={"experiment": e}, capture=False)
        for episode in range(episodes):
            scope = run.scope(episode=episode)
            log = scope.log
            for i in range(per_episode):
                log({"x": xs[i], "y": ys[i]})
        run.finish()
    elapsed = time.perf_counter() - t0
    count = len(col.records)
    store.close()
    return {"seconds": elapsed, "rss_kib": _rss_kib() - before, "peak_kib": _rss_kib(),
            "disk": checkpoint(os.path.join(folder, "recordkit.db")), "count": count}


def _floor_side(folder: str, quick: bool) -> dict[str, float]:
    from benchmarks.bench_ingest import PlainWriter

    experiments, episodes, per_episode = _sizes(quick)
    xs, ys = _values(per_episode)
    before = _current_rss_kib()
    path = os.path.join(folder, "plain.db")
    t0 = time.perf_counter()
    writer = PlainWriter(path)
    put = writer.put
    now = time.time
    seq = 0
    for e in range(experiments):
        for episode in range(episodes):
            scope_id = e * episodes + episode
            for i in range(per_episode):
                put((scope_id, seq, i, now(), xs[i], ys[i]))
                seq += 1
        writer.flush()
    elapsed = time.perf_counter() - t0
    writer.close()
    return {"seconds": elapsed, "rss_kib": _rss_kib() - before, "peak_kib": _rss_kib(), "disk": checkpoint(path),
            "count": seq}


def child(side: str, quick: bool) -> None:
    """``python -m benchmarks.bench_workload SIDE [--quick]``: one side in this interpreter, JSON on stdout."""
    with temp_dir(f"workload-{side}") as folder:
        result = (_recordkit_side if side == "recordkit" else _floor_side)(folder, quick)
    print(json.dumps(result))


def _in_child(side: str, quick: bool) -> dict[str, float]:
    cmd = [sys.executable, "-m", "benchmarks.bench_workload", side] + (["--quick"] if quick else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def run(quick: bool) -> list[Result]:
    experiments, episodes, per_episode = _sizes(quick)
    n = experiments * episodes * per_episode
    rounds = 2
    floors, mine = [], []
    for r in range(rounds):
        floors.append(_in_child("floor", quick))
        say(f"round {r + 1}: floor {floors[-1]['seconds']:.2f} s, {floors[-1]['rss_kib'] / 1024:.0f} MiB")
        mine.append(_in_child("recordkit", quick))
        say(f"round {r + 1}: recordkit {mine[-1]['seconds']:.2f} s, {mine[-1]['rss_kib'] / 1024:.0f} MiB")
    floor = min(floors, key=lambda d: d["seconds"])
    best = min(mine, key=lambda d: d["seconds"])
    size = f"{experiments} × {episodes} × {per_episode:,} = {n:,} records"
    times = ", ".join(f"{d['seconds']:.2f}" for d in mine)
    note = f"{size}, best of {rounds} rounds (recordkit {times} s)"
    if best["count"] != n:
        note += f"; STORED {best['count']:,} OF {n:,} RECORDS"
    floor_label = "plain background SQLite writer"
    return [
        Result("workload", "3×10 episodes of {x, y}, end to end", best["seconds"], "s", floor["seconds"],
               floor_label, f"≤ {TARGET_SECONDS:g} s" if not quick else "", best["seconds"] <= TARGET_SECONDS
               if not quick else None, note),
        Result("workload", "peak RSS growth", best["rss_kib"] / 1024, "MiB", floor["rss_kib"] / 1024, floor_label,
               f"≤ {TARGET_RSS_RATIO:g}× floor", best["rss_kib"] <= TARGET_RSS_RATIO * floor["rss_kib"],
               f"peak RSS {best['peak_kib'] / 1024:.0f} MiB (floor {floor['peak_kib'] / 1024:.0f} MiB)"),
        Result("workload", "disk after checkpoint", best["disk"] / 1e6, "MB", floor["disk"] / 1e6, "plain table",
               f"≤ {TARGET_DISK_RATIO:g}× floor", best["disk"] <= TARGET_DISK_RATIO * floor["disk"]),
    ]


if __name__ == "__main__":
    child(sys.argv[1], "--quick" in sys.argv[2:])
