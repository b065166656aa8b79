"""``run.log`` latency in the caller's thread, for a dict of 10 floats.

Every call is timed on its own with a ``perf_counter_ns()`` pair; the median cost of an empty pair,
measured the same way in the same run, is subtracted from every sample. The floor is a plain
``list.append`` of the same dict, timed exactly the same way. Samples are taken in interleaved rounds
(timer, floor, run.log) so that a noisy neighbour hurts all three alike. The background writer runs as
it would in training (default flush interval, batches committed while the loop logs); the buffer is
made large enough that ``run.log`` never blocks on a full buffer.
"""

from __future__ import annotations

import gc
import random
import time

from benchmarks._util import Result, median, percentile, say, temp_dir, timer_overhead_ns

TARGET_MEDIAN_US = 2.0
TARGET_P99_US = 20.0


def _timed_calls(call: object, arg: object, samples: int) -> list[int]:
    pc = time.perf_counter_ns
    fn = call
    out = [0] * samples
    for i in range(samples):
        t0 = pc()
        fn(arg)  # type: ignore[operator]
        t1 = pc()
        out[i] = t1 - t0
    return out


def _batched_mean_ns(call: object, arg: object, calls: int, batch: int = 1000) -> float:
    """Mean cost per call with one timer pair per ``batch`` calls (no per-call timer overhead)."""
    pc = time.perf_counter_ns
    fn = call
    inner = range(batch)
    total = 0
    done = 0
    while done < calls:
        t0 = pc()
        for _ in inner:
            fn(arg)  # type: ignore[operator]
        total += pc() - t0
        done += batch
    return total / done


def _stats_us(raw: list[int], overhead_ns: float) -> dict[str, float]:
    values = sorted(max(0.0, v - overhead_ns) / 1000 for v in raw)
    return {
        "median": percentile(values, 50),
        "p99": percentile(values, 99),
        "p99.9": percentile(values, 99.9),
        "max": values[-1],
    }


def run(quick: bool) -> list[Result]:
    import recordkit as rk

    total = 50_000 if quick else 200_000
    rounds = 10
    per_round = total // rounds
    rng = random.Random(1)
    values = {f"metric_{i}": rng.random() for i in range(10)}

    with temp_dir("log") as folder:
        store = rk.open(folder, buffer_size=50_000_000, on_full="block")
        run_ = store.collection("bench_log").start_run(config={"bench": "log"}, capture=False)
        log = run_.log
        for _ in range(5_000):  # warm up: table creation, key-set cache, first batch
            log(values)
        run_.flush()

        overhead: list[int] = []
        floor: list[int] = []
        logged: list[int] = []
        say(f"run.log: {rounds} interleaved rounds of {per_round:,} timed calls each")
        for _ in range(rounds):
            sink: list[object] = []
            overhead += timer_overhead_ns(per_round)
            floor += _timed_calls(sink.append, values, per_round)
            logged += _timed_calls(log, values, per_round)
        overhead_ns = median(overhead)

        # Mean cost per call with one timer pair per 1,000 calls (no timer overhead to subtract).
        sink = []
        batched_floor_ns = _batched_mean_ns(sink.append, values, per_round)
        batched_log_ns = _batched_mean_ns(log, values, per_round)

        t0 = time.perf_counter()
        run_.flush()
        drain_s = time.perf_counter() - t0
        stored = len(run_.records)
        run_.finish()
        store.close()
    gc.collect()

    expected = 5_000 + total + per_round
    lo = _stats_us(logged, overhead_ns)
    fl = _stats_us(floor, overhead_ns)
    note = f"{total:,} calls; timer overhead {overhead_ns:.0f} ns/call subtracted"
    if stored != expected:
        note += f"; STORED {stored:,} OF {expected:,} RECORDS"
    results = [
        Result(
            "log",
            "run.log(10 floats) median",
            lo["median"],
            "µs",
            fl["median"],
            "list.append",
            f"≤ {TARGET_MEDIAN_US:g} µs",
            lo["median"] <= TARGET_MEDIAN_US,
            note,
        ),
        Result(
            "log",
            "run.log(10 floats) p99",
            lo["p99"],
            "µs",
            fl["p99"],
            "list.append",
            f"≤ {TARGET_P99_US:g} µs",
            lo["p99"] <= TARGET_P99_US,
        ),
        Result(
            "log",
            "run.log(10 floats) p99.9",
            lo["p99.9"],
            "µs",
            fl["p99.9"],
            "list.append",
            note=f"max {lo['max']:,.0f} µs (floor max {fl['max']:,.0f} µs)",
        ),
        Result(
            "log",
            "run.log(10 floats) mean, batched timing",
            batched_log_ns / 1000,
            "µs",
            batched_floor_ns / 1000,
            "list.append",
            note=f"one timer pair per 1,000 calls; then flush drained the backlog in {drain_s:.2f} s",
        ),
    ]
    return results
