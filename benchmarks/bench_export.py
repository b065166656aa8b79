"""Parquet: sealing a finished run, exporting the dataset, and the bytes per sealed record.

One run logs ``n`` two-float records ``{x, y}`` in 10 episode scopes (the rigorous-recorder shape),
with sealing off so it can be timed here:

* ``seal``: ``store.seal(run)``, SQLite → ``records.parquet`` (flat: step, time, x, y, episode, run
  fields, scope_id, seq; zstd). Floor: the least an exporter can do, a raw ``SELECT`` of the record
  table's columns joined to the episode field, fetched into pyarrow arrays and written with zstd.
* ``export``: ``store.export_parquet(out)`` from the sealed file (hive layout, one schema). Floor:
  pyarrow reading the sealed file and writing it again.
* disk: the sealed file's size per record (target ≤ 30 B, DESIGN.md §5), beside the live SQLite
  size per record after a checkpoint.
* ``store.sql("select avg(x) from records where episode = ?", [2])`` over the same store (median of
  5), beside ``col.records.where(episode=2).mean("x")``; the two answers must agree.

Best of a few rounds for each timing; rates are records per second.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

from benchmarks._util import Result, checkpoint, say, temp_dir

TARGET_BYTES = 30.0
EPISODES = 10


def _build(folder: str, n: int) -> tuple[Any, Any]:
    import recordkit as rk

    store = rk.open(folder, buffer_size=max(2 * n, 1_000_000), seal=False)
    run = store.collection("bench_export").start_run(config={"bench": "export"}, capture=False)
    rng = random.Random(3)
    per = n // EPISODES
    for episode in range(EPISODES):
        log = run.scope(episode=episode).log
        for i in range(per):
            log({"x": rng.random(), "y": rng.gauss(0.0, 1.0)}, step=i)
    run.finish()
    return store, run


def _floor_seal(db: str, out: Path) -> float:
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    conn = sqlite3.connect(db)
    ((table,),) = conn.execute("SELECT name FROM record_tables").fetchall()
    rows = conn.execute(
        f"SELECT t.step, t.time, t.c0, t.c1, json_extract(s.fields, '$.episode'), t.scope_id, t.seq"
        f" FROM {table} t JOIN scopes s ON s.id = t.scope_id ORDER BY t.seq"
    ).fetchall()
    conn.close()
    columns = list(zip(*rows, strict=True))
    names = ["step", "time", "x", "y", "episode", "scope_id", "seq"]
    arrow = pa.table({name: pa.array(col) for name, col in zip(names, columns, strict=True)})
    pq.write_table(arrow, out, compression="zstd")
    return time.perf_counter() - t0


def _floor_copy(src: Path, out: Path) -> float:
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    pq.write_table(pq.read_table(src), out, compression="zstd")
    return time.perf_counter() - t0


def run(quick: bool) -> list[Result]:
    n = 200_000 if quick else 1_000_000
    rounds = 2 if quick else 3
    with temp_dir("export") as folder:
        say(f"logging {n:,} records")
        store, run_ = _build(folder, n)
        db = os.path.join(folder, "recordkit.db")
        live_bytes = checkpoint(db) / n
        col = store.collection("bench_export")
        sql_times, mean_times = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            via_sql = store.sql("select avg(x) from records where episode = ?", [2]).scalar()
            sql_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            via_records = col.records.where(episode=2).mean("x")
            mean_times.append(time.perf_counter() - t0)
        assert abs(via_sql - via_records) < 1e-9, (via_sql, via_records)
        seal_times, floor_seal_times, export_times, floor_copy_times = [], [], [], []
        sealed = Path()
        for r in range(rounds):
            floor_seal_times.append(_floor_seal(db, Path(folder) / "floor.parquet"))
            (Path(run_.folder) / "records.parquet").unlink(missing_ok=True)
            t0 = time.perf_counter()
            sealed = store.seal(run_)
            seal_times.append(time.perf_counter() - t0)
            floor_copy_times.append(_floor_copy(sealed, Path(folder) / "copy.parquet"))
            t0 = time.perf_counter()
            written = store.export_parquet(Path(folder) / "dataset")
            export_times.append(time.perf_counter() - t0)
            say(f"round {r + 1}: seal {n / seal_times[-1]:,.0f} rec/s, export {n / export_times[-1]:,.0f} rec/s")
        sealed_bytes = sealed.stat().st_size / n
        floor_bytes = (Path(folder) / "floor.parquet").stat().st_size / n
        exported_bytes = sum(p.stat().st_size for p in written) / n
        import pyarrow.parquet as pq

        assert pq.read_metadata(sealed).num_rows == n
        store.close()
    seal_rate, floor_seal_rate = n / min(seal_times), n / min(floor_seal_times)
    export_rate, floor_copy_rate = n / min(export_times), n / min(floor_copy_times)
    sql_ms, mean_ms = 1000 * sorted(sql_times)[2], 1000 * sorted(mean_times)[2]
    return [
        Result(
            "export",
            "store.sql avg(x) where episode = 2",
            sql_ms,
            "ms",
            mean_ms,
            "col.records.where(episode=2).mean",
            note=f"{n:,} records in {EPISODES} episode scopes; median of 5; answers agree",
        ),
        Result(
            "export",
            "seal a finished run into Parquet (SQLite → zstd file)",
            seal_rate,
            "rec/s",
            floor_seal_rate,
            "raw SELECT + pyarrow write",
            note=f"{n:,} two-float records in {EPISODES} scopes, best of {rounds}",
        ),
        Result(
            "export",
            "export_parquet, hive dataset from sealed files",
            export_rate,
            "rec/s",
            floor_copy_rate,
            "pyarrow read + write of the file",
            note=f"dataset {exported_bytes:.1f} B/record",
        ),
        Result(
            "export",
            "disk per 2-float record, sealed Parquet",
            sealed_bytes,
            "B",
            floor_bytes,
            "raw columns, zstd",
            f"≤ {TARGET_BYTES:g} B",
            sealed_bytes <= TARGET_BYTES,
            f"live SQLite after checkpoint: {live_bytes:.1f} B/record",
        ),
    ]
