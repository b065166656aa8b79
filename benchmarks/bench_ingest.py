"""Sustained durable ingest: (x, y) records logged in one run, timed from the first log call until
``run.flush()`` returns (everything committed in WAL mode with ``synchronous=NORMAL``, so it survives
the process being killed).

The floor is a minimal background SQLite writer doing the same job with nothing else: the caller appends
a tuple ``(scope_id, seq, step, time, x, y)`` to a deque; one thread drains it into one plain table with
``executemany``, one transaction per batch of the same size recordkit uses, with the same journal
settings; it is timed the same way, until its flush returns. The two alternate (floor, recordkit,
floor, recordkit) and the best round of each is reported.

Disk use is the size of ``recordkit.db`` after ``PRAGMA wal_checkpoint(TRUNCATE)`` from a separate
connection, divided by the number of records (the floor's plain table is reported the same way).
"""

from __future__ import annotations

import collections
import gc
import os
import random
import sqlite3
import threading
import time
from typing import Any

from benchmarks._util import Result, checkpoint, say, temp_dir

TARGET_RATE = 250_000
TARGET_BYTES = 70.0
BATCH = 20_000  # recordkit's default batch_size


class PlainWriter:
    """The floor: a deque drained by one thread into one plain table, one transaction per batch."""

    def __init__(self, path: str, batch: int = BATCH, interval: float = 0.5) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("CREATE TABLE plain (scope_id INTEGER, seq INTEGER, step INTEGER, time REAL, x REAL, y REAL)")
        self.queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self.batch = batch
        self.interval = interval
        self.wake = threading.Event()
        self.flush_requested = threading.Event()
        self.flushed = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, name="plain-writer", daemon=True)
        self.thread.start()

    def put(self, item: tuple[Any, ...]) -> None:
        queue = self.queue
        queue.append(item)
        if len(queue) >= self.batch:
            self.wake.set()

    def flush(self) -> None:
        self.flushed.clear()
        self.flush_requested.set()
        self.wake.set()
        self.flushed.wait()

    def close(self) -> None:
        self.stopping = True
        self.wake.set()
        self.thread.join()
        self.conn.close()

    def _loop(self) -> None:
        queue, conn, batch = self.queue, self.conn, self.batch
        popleft = queue.popleft
        while True:
            self.wake.wait(self.interval)
            self.wake.clear()
            while queue:
                rows = [popleft() for _ in range(min(batch, len(queue)))]
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT INTO plain VALUES (?, ?, ?, ?, ?, ?)", rows)
                conn.execute("COMMIT")
            if self.flush_requested.is_set() and not queue:
                self.flush_requested.clear()
                self.flushed.set()
            if self.stopping and not queue:
                return


def _floor_round(folder: str, xs: list[float], ys: list[float]) -> tuple[float, float, int]:
    path = os.path.join(folder, "plain.db")
    writer = PlainWriter(path)
    put = writer.put
    now = time.time
    gc.collect()
    t0 = time.perf_counter()
    for i in range(len(xs)):
        put((1, i, i, now(), xs[i], ys[i]))
    t_logged = time.perf_counter()
    writer.flush()
    t1 = time.perf_counter()
    writer.close()
    return t1 - t0, t_logged - t0, checkpoint(path)


def _recordkit_round(folder: str, xs: list[float], ys: list[float]) -> tuple[float, float, int, int]:
    import recordkit as rk

    n = len(xs)
    # Sealing (measured in bench_export) would make close() wait for 1M records to be written to Parquet.
    store = rk.open(folder, buffer_size=max(2 * n, 1_000_000), seal=False)
    run = store.collection("bench_ingest").start_run(config={"bench": "ingest"}, capture=False)
    log = run.log
    gc.collect()
    t0 = time.perf_counter()
    for i in range(n):
        log({"x": xs[i], "y": ys[i]}, step=i)
    t_logged = time.perf_counter()
    run.flush()
    t1 = time.perf_counter()
    stored = len(run.records)
    run.finish()
    store.close()
    return t1 - t0, t_logged - t0, checkpoint(os.path.join(folder, "recordkit.db")), stored


def run(quick: bool) -> list[Result]:
    n = 200_000 if quick else 1_000_000
    rounds = 2 if quick else 3
    rng = random.Random(2)
    xs = [rng.random() for _ in range(n)]
    ys = [rng.gauss(0.0, 1.0) for _ in range(n)]

    floor_runs: list[tuple[float, float, int]] = []
    rk_runs: list[tuple[float, float, int, int]] = []
    for r in range(rounds):
        with temp_dir("ingest-floor") as folder:
            floor_runs.append(_floor_round(folder, xs, ys))
        say(f"round {r + 1}: floor {n / floor_runs[-1][0]:,.0f} rec/s")
        with temp_dir("ingest") as folder:
            rk_runs.append(_recordkit_round(folder, xs, ys))
        say(f"round {r + 1}: recordkit {n / rk_runs[-1][0]:,.0f} rec/s")

    best_floor = min(floor_runs)
    best_rk = min(rk_runs)
    rk_rate, floor_rate = n / best_rk[0], n / best_floor[0]
    rk_bytes, floor_bytes = best_rk[2] / n, best_floor[2] / n
    stored = best_rk[3]
    rates = ", ".join(f"{n / r[0]:,.0f}" for r in rk_runs)
    floor_rates = ", ".join(f"{n / r[0]:,.0f}" for r in floor_runs)
    note = (
        f"{n:,} records, best of {rounds} rounds (recordkit {rates}; floor {floor_rates}); "
        f"the logging loop alone took {best_rk[1]:.2f} s (floor {best_floor[1]:.2f} s)"
    )
    if stored != n:
        note += f"; STORED {stored:,} OF {n:,} RECORDS"
    return [
        Result(
            "ingest",
            "durable ingest, 2-float records",
            rk_rate,
            "rec/s",
            floor_rate,
            "plain SQLite writer thread",
            f"≥ {TARGET_RATE:,} rec/s",
            rk_rate >= TARGET_RATE,
            note,
        ),
        Result(
            "ingest",
            "disk per 2-float record (live, after checkpoint)",
            rk_bytes,
            "B",
            floor_bytes,
            "plain rowid table",
            f"≤ {TARGET_BYTES:g} B",
            rk_bytes <= TARGET_BYTES,
            f"recordkit.db {best_rk[2] / 1e6:.1f} MB; plain table {best_floor[2] / 1e6:.1f} MB",
        ),
    ]
