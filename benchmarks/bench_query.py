"""The rigorous-recorder query: an average over millions of records, filtered on a scope field.

Three experiments (three runs in one collection) × 10 episodes (``run.scope(episode=e)``) × 100,000
records ``{x, y}`` (x uniform in [0, 1)) are logged through the real API and flushed. Then
``col.records.where(episode=2).mean("x")`` is timed (median of 5, after one untimed call).

Floors, in a separate SQLite file in the same folder, holding the same rows built with ``executemany``:

* ``plain``: one rowid table ``(experiment, episode, x, y)`` in log order, no index, queried with
  ``select avg(x) from plain where episode = 2``: a full scan, the honest floor for an engine that keeps
  the scope fields apart from the records;
* ``clustered``: the same rows in a WITHOUT ROWID table keyed by ``(episode, experiment, seq)``, so
  the filter reads only the matching rows: the best a single SQLite table can do.

Both answers must agree with recordkit's to 1e-9.
"""

from __future__ import annotations

import gc
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator

from benchmarks._util import Result, file_size, median, say, temp_dir

TARGET_MS = 50.0
EXPERIMENTS = 3
EPISODES = 10
EPISODE = 2


def _episode_values(experiment: int, episode: int, n: int) -> Iterator[tuple[float, float]]:
    rng = random.Random(experiment * 1000 + episode)
    for _ in range(n):
        yield rng.random(), rng.random()


def _build_recordkit(folder: str, n: int) -> tuple[object, float]:
    import recordkit as rk

    # Not sealed into Parquet here: the background sealing of 3M records would run during the timed queries.
    store = rk.open(folder, buffer_size=50_000_000, seal=False)
    col = store.collection("rigorous")
    t0 = time.perf_counter()
    for experiment in range(EXPERIMENTS):
        run = col.start_run(config={"experiment": experiment}, capture=False)
        for episode in range(EPISODES):
            log = run.scope(episode=episode).log
            for x, y in _episode_values(experiment, episode, n):
                log({"x": x, "y": y})
        run.finish()  # drains the run's records
    return store, time.perf_counter() - t0


def _build_floor(path: str, n: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE plain (experiment INTEGER, episode INTEGER, x REAL, y REAL)")
    conn.execute(
        "CREATE TABLE clustered (episode INTEGER, experiment INTEGER, seq INTEGER, x REAL, y REAL,"
        " PRIMARY KEY (episode, experiment, seq)) WITHOUT ROWID"
    )
    t0 = time.perf_counter()
    for experiment in range(EXPERIMENTS):
        for episode in range(EPISODES):
            rows = [(experiment, episode, x, y) for x, y in _episode_values(experiment, episode, n)]
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO plain VALUES (?, ?, ?, ?)", rows)
            conn.executemany(
                "INSERT INTO clustered VALUES (?, ?, ?, ?, ?)",
                ((episode, experiment, i, x, y) for i, (_, _, x, y) in enumerate(rows)),
            )
            conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return elapsed


def _timed(fn: Callable[[], float | None]) -> tuple[float, float | None]:
    t0 = time.perf_counter()
    value = fn()
    return (time.perf_counter() - t0) * 1000, value


def run(quick: bool) -> list[Result]:
    n = 10_000 if quick else 100_000
    total = EXPERIMENTS * EPISODES * n
    repeats = 5
    with temp_dir("query") as folder:
        say(f"query: logging {total:,} records via the API ({EXPERIMENTS} runs × {EPISODES} scopes × {n:,})")
        store, build_s = _build_recordkit(os.path.join(folder, "records"), n)
        say(f"query: logged and flushed in {build_s:.1f} s ({total / build_s:,.0f} rec/s); building the floor")
        floor_path = os.path.join(folder, "plain.db")
        _build_floor(floor_path, n)
        gc.collect()

        col = store.collection("rigorous")  # type: ignore[attr-defined]
        floor = sqlite3.connect(floor_path)

        def recordkit_mean() -> float | None:
            return col.records.where(episode=EPISODE).mean("x")  # type: ignore[no-any-return]

        def plain_mean() -> float | None:
            return floor.execute("SELECT avg(x) FROM plain WHERE episode = ?", (EPISODE,)).fetchone()[0]

        def clustered_mean() -> float | None:
            return floor.execute("SELECT avg(x) FROM clustered WHERE episode = ?", (EPISODE,)).fetchone()[0]

        cases = {"recordkit": recordkit_mean, "plain": plain_mean, "clustered": clustered_mean}
        first = {name: _timed(fn) for name, fn in cases.items()}  # warm caches; answers checked below
        times: dict[str, list[float]] = {name: [] for name in cases}
        answers: dict[str, list[float | None]] = {name: [first[name][1]] for name in cases}
        say(f"query: {repeats} interleaved repeats of each query")
        for _ in range(repeats):
            for name, fn in cases.items():
                ms, value = _timed(fn)
                times[name].append(ms)
                answers[name].append(value)
        db_bytes = file_size(os.path.join(folder, "records", "recordkit.db")) + file_size(
            os.path.join(folder, "records", "recordkit.db-wal")
        )
        floor.close()
        store.close()  # type: ignore[attr-defined]

    every = [v for values in answers.values() for v in values]
    rk_value, plain_value, clustered_value = (answers[name][0] for name in cases)
    agree = all(v is not None for v in every) and max(every) - min(every) <= 1e-9  # type: ignore[operator]
    rk_ms, plain_ms, clustered_ms = (median(times[name]) for name in cases)
    agreement = (
        f"answers agree to 1e-9 ({rk_value!r})"
        if agree
        else f"ANSWERS DISAGREE: recordkit {rk_value!r}, plain {plain_value!r}, clustered {clustered_value!r}"
    )
    note = (
        f"{total:,} records; median of {repeats} (first call {first['recordkit'][0]:.1f} ms); {agreement}; "
        f"building through the API took {build_s:.1f} s ({total / build_s:,.0f} rec/s, "
        f"store {db_bytes / total:.0f} B/record before checkpoint)"
    )
    return [
        Result(
            "query",
            f"avg(x) where episode={EPISODE}, {total / 1e6:g}M records",
            rk_ms,
            "ms",
            plain_ms,
            "raw SQLite full scan",
            f"≤ {TARGET_MS:g} ms" if not quick else f"≤ {TARGET_MS:g} ms at 3M (not judged with --quick)",
            (rk_ms <= TARGET_MS and agree) if not quick else (None if agree else False),
            note,
        ),
        Result(
            "query",
            f"avg(x) where episode={EPISODE}, vs clustered floor",
            rk_ms,
            "ms",
            clustered_ms,
            "raw SQLite, clustered by episode",
            note=f"clustered floor median of {repeats}; plain floor {plain_ms:.1f} ms",
        ),
    ]
