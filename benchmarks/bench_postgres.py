"""Ingest into the shared PostgreSQL store with 1 and 4 writer processes, beside the folder store.

Each writer is a fresh interpreter that starts its own run in one shared collection and logs (x, y)
records as fast as it can, then ``run.flush()`` (everything committed). The writers start together
(they wait for a go file after importing), and the rate is all records ÷ (last flush end − first log).

Floors, measured in the same run:

* PostgreSQL rows: the simplest thing that does the same job — one loop that stamps a tuple
  ``(scope_id, seq, step, time, x, y)`` per record and sends every 20,000 with plain psycopg binary
  ``COPY`` into one plain table, one transaction each (no background thread, no schema, no summary),
  from the same number of processes.
* Folder store rows: the PostgreSQL store with the same number of writers (so the ratio reads
  "folder store ÷ PostgreSQL").

The server is ``RECORDKIT_BENCH_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``); each
run uses a private schema, dropped afterwards. The machine is shared: absolute numbers move, ratios less.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

from benchmarks._util import Result, say, temp_dir

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
BATCH = 20_000

RECORDKIT_WRITER = """
import json, os, sys, time
import recordkit as rk
url, n, go, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
store = rk.open(url)
run = store.collection("bench").start_run(capture=False)
xs = [i * 0.5 for i in range(1000)]
while not os.path.exists(go):
    time.sleep(0.001)
start = time.time()
log = run.log
for i in range(n):
    log({"x": xs[i % 1000], "y": i * 0.25})
run.flush()
end = time.time()
run.finish()
store.close()
json.dump({"start": start, "end": end, "n": n}, open(out, "w"))
"""

COPY_WRITER = """
import json, os, sys, time
import psycopg
url, schema, go, out, n, k = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
conn = psycopg.connect(url, autocommit=True)
conn.execute(f'SET search_path TO "{schema}"')
TYPES = ["bigint", "bigint", "bigint", "double precision", "double precision", "double precision"]

def write(rows):
    with conn.transaction(), conn.cursor() as cur, cur.copy(
        "COPY plain (scope_id, seq, step, time, x, y) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(TYPES)
        for row in rows:
            copy.write_row(row)

xs = [i * 0.5 for i in range(1000)]
while not os.path.exists(go):
    time.sleep(0.001)
start = time.time()
rows = []
append = rows.append
for i in range(n):   # the caller's side: one tuple per record, stamped, as a logger must
    append((k, i, i, time.time(), xs[i % 1000], i * 0.25))
    if len(rows) == 20000:
        write(rows)
        rows = []
        append = rows.append
if rows:
    write(rows)
end = time.time()
json.dump({"start": start, "end": end, "n": n}, open(out, "w"))
"""


def _with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def _launch(script: str, argv_for: list[list[str]]) -> float:
    """Run one child per argv, start them together, return records/s over the common window."""
    with tempfile.TemporaryDirectory(prefix="recordkit-bench-pg-") as tmp:
        path = Path(tmp) / "child.py"
        path.write_text(textwrap.dedent(script), encoding="utf-8")
        go = Path(tmp) / "go"
        outs = [Path(tmp) / f"out{i}.json" for i in range(len(argv_for))]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RECORDKIT_SPOOL": str(Path(tmp) / "spool")}
        procs = [
            subprocess.Popen([sys.executable, str(path), *argv[:2], str(go), str(out), *argv[2:]], env=env)
            for argv, out in zip(argv_for, outs, strict=True)
        ]
        time.sleep(3.0 if len(procs) > 1 else 1.5)  # let every child import and connect
        go.touch()
        for proc in procs:
            if proc.wait(timeout=900) != 0:
                raise RuntimeError(f"a writer failed (exit status {proc.returncode})")
        results = [json.loads(out.read_text()) for out in outs]
    total = sum(r["n"] for r in results)
    return total / (max(r["end"] for r in results) - min(r["start"] for r in results))


def _best(rounds: int, measure: object) -> float:
    return max(measure() for _ in range(rounds))  # type: ignore[operator]


def run(quick: bool) -> list[Result]:
    try:
        import psycopg
    except ImportError:
        say("psycopg is not installed (pip install 'recordkit[postgres]'): skipped")
        return []
    base = os.environ.get("RECORDKIT_BENCH_PG_URL", DEFAULT_URL)
    try:
        psycopg.connect(base, connect_timeout=3).close()
    except psycopg.Error as exc:
        say(f"no PostgreSQL server at {base!r} ({exc}); set RECORDKIT_BENCH_PG_URL: skipped")
        return []
    per_writer = 100_000 if quick else 400_000
    rounds = 1 if quick else 2
    rates: dict[str, float] = {}
    schemas: list[str] = []
    try:
        for writers in (1, 4):
            n = per_writer

            def floor(writers: int = writers, n: int = n) -> float:
                schema = f"rk_bench_{uuid.uuid4().hex[:10]}"
                schemas.append(schema)
                with psycopg.connect(base, autocommit=True) as conn:
                    conn.execute(f'CREATE SCHEMA "{schema}"')
                    conn.execute(
                        f'CREATE TABLE "{schema}".plain (scope_id BIGINT, seq BIGINT, step BIGINT,'
                        " time DOUBLE PRECISION, x DOUBLE PRECISION, y DOUBLE PRECISION)"
                    )
                return _launch(COPY_WRITER, [[base, schema, str(n), str(k)] for k in range(writers)])

            def postgres(writers: int = writers, n: int = n) -> float:
                schema = f"rk_bench_{uuid.uuid4().hex[:10]}"
                schemas.append(schema)
                url = _with_schema(base, schema)
                import recordkit as rk

                rk.open(url).close()  # create the tables once, outside the timed window
                return _launch(RECORDKIT_WRITER, [[url, str(n)] for _ in range(writers)])

            def folder(writers: int = writers, n: int = n) -> float:
                with temp_dir("pg-folder") as path:
                    import recordkit as rk

                    rk.open(path).close()
                    return _launch(RECORDKIT_WRITER, [[path, str(n)] for _ in range(writers)])

            say(f"{writers} writer(s) × {n:,} records: raw COPY floor, PostgreSQL store, folder store")
            rates[f"floor{writers}"] = _best(rounds, floor)
            rates[f"pg{writers}"] = _best(rounds, postgres)
            rates[f"folder{writers}"] = _best(rounds, folder)
            say(
                f"  floor {rates[f'floor{writers}']:,.0f}  postgres {rates[f'pg{writers}']:,.0f}"
                f"  folder {rates[f'folder{writers}']:,.0f} rec/s"
            )
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    note = f"the server, the writers and their writer threads share {cores} CPU core(s) here"
    return [
        Result("postgres", "PostgreSQL ingest, 1 writer process", rates["pg1"], "rec/s",
               floor=rates["floor1"], floor_label="plain binary COPY loop, 1 process", target="~200–400k (DESIGN §4)"),
        Result("postgres", "PostgreSQL ingest, 4 writer processes", rates["pg4"], "rec/s",
               floor=rates["floor4"], floor_label="plain binary COPY loop, 4 processes", target="~450k (DESIGN §4)",
               note=note),
        Result("postgres", "folder store ingest, 1 writer process", rates["folder1"], "rec/s",
               floor=rates["pg1"], floor_label="PostgreSQL store, 1 writer"),
        Result("postgres", "folder store ingest, 4 writer processes", rates["folder4"], "rec/s",
               floor=rates["pg4"], floor_label="PostgreSQL store, 4 writers"),
    ]
