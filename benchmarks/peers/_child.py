"""One phase for one subject, in a fresh interpreter: ``python -m benchmarks.peers._child PHASE MODULE FOLDER``.

The parent runs this with the subject's own interpreter (a peer's venv, or this one for recordkit and the
floors), so it imports nothing but the standard library, ``benchmarks._util`` and the subject's module.
Results go as JSON to ``--out``. The phases:

* ``hot``: ``--n`` steps of 10 floats, each call timed on its own (timer overhead subtracted), then close;
* ``kill``: ``--n`` steps, then SIGKILL to itself the moment the last call returned (nothing is written);
* ``count``: read the steps back with the subject's own reader;
* ``workload``: the hierarchical workload with ``--per-episode`` records per episode, timed from the first
  record until durable (opening the store is timed apart);
* ``query``: mean y per experiment with the subject's own reader (timed from opening the data).

A subject module offers ``Steps(folder)`` (``log(step, values)``, ``close()``), ``read_steps(folder)``,
``Workload(folder)`` (``experiment(e)``, ``episode(e, ep)`` returning ``log(x, y)``, ``end_experiment()``,
``close()``) and ``mean_y(folder)``; optionally ``prepare(folder)``, called once before anything is timed.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import resource
import signal
import sys
import time
from typing import Any

from benchmarks._util import median, percentile, timer_overhead_ns
from benchmarks.peers._workload import EPISODES, EXPERIMENTS, complete_steps, episode_values, step_values

WARMUP_STEPS = 200


def disk_bytes(folder: str) -> int:
    """Apparent size of every regular file under ``folder``."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if os.path.isfile(path) and not os.path.islink(path):
                total += os.path.getsize(path)
    return total


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def hot(module: Any, folder: str, n: int) -> dict[str, Any]:
    values = step_values(WARMUP_STEPS + n)
    steps = module.Steps(folder)
    log = steps.log
    for step in range(WARMUP_STEPS):  # first calls create tables, files, threads
        log(step, values[step])
    overhead = median(timer_overhead_ns(50_000))
    pc = time.perf_counter_ns
    raw = [0] * n
    gc.collect()
    for i in range(n):
        step = WARMUP_STEPS + i
        item = values[step]
        t0 = pc()
        log(step, item)
        raw[i] = pc() - t0
    t0 = time.perf_counter()
    steps.close()
    close_s = time.perf_counter() - t0
    us = sorted(max(0.0, v - overhead) / 1000 for v in raw)
    return {"median_us": percentile(us, 50), "p99_us": percentile(us, 99), "n": n, "close_s": close_s}


def kill(module: Any, folder: str, n: int) -> dict[str, Any]:
    values = step_values(n)
    steps = module.Steps(folder)
    log = steps.log
    for step in range(n):
        log(step, values[step])
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("SIGKILL did not stop the process")


def count(module: Any, folder: str) -> dict[str, Any]:
    found: dict[int, int] = module.read_steps(folder)
    return {"kept": complete_steps(found), "partial": sum(1 for c in found.values() if 0 < c < 10)}


def workload(module: Any, folder: str, per_episode: int) -> dict[str, Any]:
    t_open = time.perf_counter()
    work = module.Workload(folder)
    gc.collect()
    t0 = time.perf_counter()
    for experiment in range(EXPERIMENTS):
        work.experiment(experiment)
        for episode in range(EPISODES):
            log = work.episode(experiment, episode)
            for x, y in episode_values(experiment, episode, per_episode):
                log(x, y)
        work.end_experiment()
    t_logged = time.perf_counter()
    work.close()
    t1 = time.perf_counter()
    return {
        "records": EXPERIMENTS * EPISODES * per_episode,
        "open_s": t0 - t_open,
        "durable_s": t1 - t0,
        "logging_s": t_logged - t0,
        "peak_rss": peak_rss_bytes(),
        "disk": disk_bytes(folder),
    }


def query(module: Any, folder: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    answer: dict[int, float] = module.mean_y(folder)
    elapsed = time.perf_counter() - t0
    return {"query_s": elapsed, "answer": {str(k): v for k, v in sorted(answer.items())}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers._child")
    parser.add_argument("phase", choices=("hot", "kill", "count", "workload", "query"))
    parser.add_argument("module", help="a subject module, e.g. benchmarks.peers._recordkit")
    parser.add_argument("folder")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--per-episode", type=int, default=100_000)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    os.makedirs(args.folder, exist_ok=True)
    t_import = time.perf_counter()
    module = importlib.import_module(args.module)
    prepare = getattr(module, "prepare", None)
    if prepare is not None:  # a subject that must import its library with the folder known (trackio)
        prepare(args.folder)
    import_s = time.perf_counter() - t_import
    if args.phase == "hot":
        result = hot(module, args.folder, args.n)
    elif args.phase == "kill":
        result = kill(module, args.folder, args.n)
    elif args.phase == "count":
        result = count(module, args.folder)
    elif args.phase == "workload":
        result = workload(module, args.folder, args.per_episode)
    else:
        result = query(module, args.folder)
    result["import_s"] = import_s
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
