"""``python -m benchmarks [--quick] [--only NAME]``: run the benchmarks and print the results.

Each benchmark runs in a fresh child interpreter (``python -m benchmarks --child NAME``) that writes its
results as JSON to a file; this parent prints the table and the Markdown table for the README.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import BENCHMARKS
from benchmarks._util import Result, fmt_met, fmt_ratio, fmt_value

DESCRIPTIONS = {
    "log": "run.log latency in the caller's thread (10 floats) vs list.append",
    "ingest": "sustained durable ingest of (x, y) records vs a minimal background SQLite writer",
    "workload": "3 experiments × 10 episodes × 100,000 {x, y} records end to end (time, peak RSS, disk) vs a plain "
    "background SQLite writer",
    "import": "`import recordkit` time over a bare interpreter; heavy modules not imported",
    "start": "start_run with full capture in a dirty git repository vs one `git status` spawn",
    "query": "avg(x) where episode=2 over 3 runs × 10 episodes vs raw SQLite on a plain table",
    "ls": "`recordkit ls` over 10,000 runs, end to end and as a library call, vs bare start-up and raw SELECT",
    "harvest": "run.collect of `_record_these` objects, caller's thread, vs logging the same values by hand",
    "export": "sealing a run into Parquet and exporting the dataset (rec/s), bytes per sealed record",
    "postgres": "ingest into PostgreSQL with 1 and 4 writer processes vs raw binary COPY, beside the folder store",
    "files": "run.event latency in the caller's thread; attach and save_model throughput vs copy/torch.save",
    "ui": "the web page in headless Chromium: runs table of 10,000 runs, a 1,000,000-point series, vs a bare page",
    "training": "examples/digits.py's training step (PyTorch MLP) with the loss logged each step vs no recordkit",
    "media": "run.log of rk.Image and rk.Histogram in the caller's thread, and the writer's time per image",
}


def _module(name: str):  # type: ignore[no-untyped-def]
    import importlib

    return importlib.import_module(f"benchmarks.bench_{name}")


def _child(name: str, quick: bool, out_path: str) -> int:
    results = _module(name).run(quick)
    Path(out_path).write_text(json.dumps([r.to_json() for r in results]), encoding="utf-8")
    return 0


def _run_child(name: str, quick: bool) -> tuple[list[Result], float, str | None]:
    with tempfile.TemporaryDirectory(prefix="recordkit-bench-results-") as tmp:
        out = os.path.join(tmp, "results.json")
        cmd = [sys.executable, "-m", "benchmarks", "--child", name, "--out", out]
        if quick:
            cmd.append("--quick")
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=_repo_root(), check=False)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0 or not os.path.exists(out):
            error = f"benchmark {name!r} failed (exit status {proc.returncode}); see its output above"
            return [], elapsed, error
        data = json.loads(Path(out).read_text(encoding="utf-8"))
    return [Result.from_json(d) for d in data], elapsed, None


def _repo_root() -> str:
    return str(Path(__file__).resolve().parent.parent)


def _environment() -> list[tuple[str, str]]:
    try:
        import recordkit

        version = recordkit.__version__
    except Exception as exc:  # the report still says why
        version = f"(import failed: {exc!r})"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    return [
        ("date", datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("python", f"{platform.python_version()} ({platform.python_implementation()}, {sys.executable})"),
        ("sqlite", sqlite3.sqlite_version),
        ("recordkit", version),
        ("platform", platform.platform()),
        ("cpus", f"{os.cpu_count()} (usable: {usable})"),
        ("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"),
    ]


def _print_table(results: list[Result]) -> None:
    header = ("benchmark", "metric", "recordkit", "floor", "ratio", "target", "met")
    rows = [
        (
            r.bench,
            r.metric,
            r.display or fmt_value(r.value, r.unit),
            f"{fmt_value(r.floor, r.unit)} ({r.floor_label})" if r.floor is not None else "–",
            fmt_ratio(r.ratio),
            r.target or "–",
            fmt_met(r.met),
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    notes = [(r.metric, r.note) for r in results if r.note]
    if notes:
        print()
        for metric, note in notes:
            print(f"  * {metric}: {note}")


def _markdown(results: list[Result], env: list[tuple[str, str]], quick: bool) -> str:
    lines = [
        "| benchmark | recordkit | floor (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        floor = f"{fmt_value(r.floor, r.unit)} ({r.floor_label})" if r.floor is not None else "–"
        lines.append(
            f"| {r.metric} | {r.display or fmt_value(r.value, r.unit)} | {floor} | {fmt_ratio(r.ratio)} "
            f"| {r.target or '–'} | {fmt_met(r.met) or '–'} |"
        )
    env_map = dict(env)
    lines.append("")
    lines.append(
        f"_`python -m benchmarks{' --quick' if quick else ''}` on {env_map['date']}: Python "
        f"{platform.python_version()}, SQLite {env_map['sqlite']}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.machine()}. Ratios are recordkit ÷ floor, both measured in the same "
        "run._"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a minute or so)")
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument("--child", choices=BENCHMARKS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        return _child(args.child, args.quick, args.out)

    names = args.only or list(BENCHMARKS)
    env = _environment()
    print(f"recordkit benchmarks{' (--quick)' if args.quick else ''}")
    for key, value in env:
        print(f"  {key:<13} {value}")
    print()

    results: list[Result] = []
    failures: list[str] = []
    for name in names:
        print(f"== {name}: {DESCRIPTIONS[name]}", flush=True)
        found, elapsed, error = _run_child(name, args.quick)
        if error:
            failures.append(error)
            print(f"   {error}", flush=True)
        else:
            print(f"   done in {elapsed:.1f} s", flush=True)
        results.extend(found)

    print()
    print("Results (ratio = recordkit ÷ floor, floor measured in the same run; for a rate, < 1 is slower)")
    print()
    _print_table(results)
    print()
    print("Markdown for the README:")
    print()
    print(_markdown(results, env, args.quick))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"environment": dict(env), "quick": args.quick, "results": [r.to_json() for r in results]}, indent=2
            ),
            encoding="utf-8",
        )
    for failure in failures:
        print(f"\nFAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
