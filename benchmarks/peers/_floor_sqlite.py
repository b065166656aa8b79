"""Floor: a plain background SQLite writer thread, the simplest thing that gets rows into SQLite off the
caller's thread.

The caller appends a tuple to a deque; one thread drains it into one plain rowid table with
``executemany``, one transaction per batch of 20,000 rows (recordkit's default batch size), WAL with
``synchronous=NORMAL``. Whatever is still in the deque when the process dies is lost.
"""

from __future__ import annotations

import collections
import os
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from benchmarks.peers._workload import METRICS

BATCH = 20_000
STEP_COLUMNS = ", ".join(f"{m} REAL" for m in METRICS)


class Writer:
    def __init__(self, path: str, create: str, insert: str, interval: float = 0.5) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute(create)
        self.insert = insert
        self.queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self.interval = interval
        self.wake = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, name="plain-writer", daemon=True)
        self.thread.start()

    def put(self, row: tuple[Any, ...]) -> None:
        queue = self.queue
        queue.append(row)
        if len(queue) >= BATCH:
            self.wake.set()

    def close(self) -> None:
        self.stopping = True
        self.wake.set()
        self.thread.join()
        self.conn.close()

    def _loop(self) -> None:
        queue, conn, insert = self.queue, self.conn, self.insert
        popleft = queue.popleft
        while True:
            self.wake.wait(self.interval)
            self.wake.clear()
            while queue:
                rows = [popleft() for _ in range(min(BATCH, len(queue)))]
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(insert, rows)
                conn.execute("COMMIT")
            if self.stopping and not queue:
                return


class Steps:
    def __init__(self, folder: str) -> None:
        self.writer = Writer(
            os.path.join(folder, "plain.db"),
            f"CREATE TABLE steps (step INTEGER, {STEP_COLUMNS})",
            f"INSERT INTO steps VALUES (?{', ?' * len(METRICS)})",
        )
        self._put = self.writer.put

    def log(self, step: int, values: dict[str, float]) -> None:
        self._put((step, *values.values()))

    def close(self) -> None:
        self.writer.close()


def read_steps(folder: str) -> dict[int, int]:
    path = os.path.join(folder, "plain.db")
    if not os.path.exists(path):
        return {}
    conn = sqlite3.connect(path)
    try:
        return {step: len(METRICS) for (step,) in conn.execute("SELECT step FROM steps")}
    finally:
        conn.close()


class Workload:
    def __init__(self, folder: str) -> None:
        self.writer = Writer(
            os.path.join(folder, "plain.db"),
            "CREATE TABLE records (experiment INTEGER, episode INTEGER, seq INTEGER, x REAL, y REAL)",
            "INSERT INTO records VALUES (?, ?, ?, ?, ?)",
        )
        self.seq = 0

    def experiment(self, experiment: int) -> None:
        pass

    def episode(self, experiment: int, episode: int) -> Callable[[float, float], None]:
        put = self.writer.put

        def log(x: float, y: float) -> None:
            self.seq += 1
            put((experiment, episode, self.seq, x, y))

        return log

    def end_experiment(self) -> None:
        pass

    def close(self) -> None:
        self.writer.close()


def mean_y(folder: str) -> dict[int, float]:
    conn = sqlite3.connect(os.path.join(folder, "plain.db"))
    try:
        rows = conn.execute("SELECT experiment, avg(y) FROM records GROUP BY experiment").fetchall()
    finally:
        conn.close()
    return {int(e): float(v) for e, v in rows}
