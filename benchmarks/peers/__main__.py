"""``python -m benchmarks.peers [--quick] [--only KEY] [--scale KEY=FRACTION]``: recordkit beside its peers.

Creates (or reuses) one virtual environment per peer under ``benchmarks/.peer-venvs``, then runs the same
harness (``benchmarks.peers._child``) for every subject, each phase in its own process, and prints one
Markdown report, also written to ``--results``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks._util import say
from benchmarks.peers import _venvs
from benchmarks.peers._report import render, scale_label
from benchmarks.peers._runner import Row, Sizes, measure
from benchmarks.peers._subjects import BY_KEY, GROUPS, SUBJECTS, Subject
from benchmarks.peers._workload import FULL_PER_EPISODE

FULL = Sizes(steps=10_000, per_episode=FULL_PER_EPISODE)
QUICK = Sizes(steps=2_000, per_episode=2_000)
DEFAULT_RESULTS = Path(__file__).resolve().parent / "results.md"


def _pick(only: list[str] | None) -> list[Subject]:
    if not only:
        return list(SUBJECTS)
    keys: set[str] = set()
    for name in only:
        keys.update(GROUPS.get(name, (name,)))
    return [s for s in SUBJECTS if s.key in keys]


def _scales(pairs: list[str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            fraction = float(value)
        except ValueError:
            fraction = -1.0
        if key not in BY_KEY or not 0 < fraction <= 1:
            raise SystemExit(
                f"--scale {pair!r}: expected KEY=FRACTION with KEY one of {', '.join(BY_KEY)}, 0 < FRACTION <= 1"
            )
        found[key] = fraction
    return found


def _header(argv: list[str], sizes: Sizes, quick: bool) -> list[str]:
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    command = "python -m benchmarks.peers" + ("" if not argv else " " + shlex.join(argv))
    return [
        f"_`{command}` on {date}: Python {platform.python_version()}, {os.cpu_count()} CPUs (usable: {usable}, "
        f"load average at start {load}), {platform.system()} {platform.machine()}. "
        f"{sizes.steps:,} steps of 10 floats for the hot path and for SIGKILL; the workload is 3 experiments × 10 "
        f"episodes × {sizes.per_episode:,} records of {{x, y}} at full scale"
        + (" (--quick: smaller than the real 100,000 per episode)" if quick else "")
        + "._",
    ]


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK.steps:,} steps, {QUICK.per_episode:,} records per episode"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=[*BY_KEY, *GROUPS],
        metavar="KEY",
        help=f"measure only this subject (repeatable): {', '.join([*BY_KEY, *GROUPS])}",
    )
    parser.add_argument(
        "--scale",
        action="append",
        default=[],
        metavar="KEY=FRACTION",
        help="log this fraction of the workload's records",
    )
    parser.add_argument("--venvs", type=Path, default=_venvs.default_cache(), help="where the peers' venvs live")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="where the Markdown report goes")
    parser.add_argument("--json", type=Path, help="also write the raw figures as JSON here")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one phase of one subject may take")
    args = parser.parse_args(args_list)

    sizes = QUICK if args.quick else FULL
    scales = _scales(args.scale)
    subjects = [dataclasses.replace(s, scale=scales.get(s.key, s.scale)) for s in _pick(args.only)]
    header = _header(args_list, sizes, args.quick)
    print(header[0], flush=True)
    rows: list[Row] = []
    scratch_root = Path(tempfile.mkdtemp(prefix="recordkit-peers-"))
    try:
        for subject in subjects:
            python = sys.executable
            version = ""
            if subject.requirements:
                say(f"{subject.key}: venv ({', '.join(subject.requirements)})")
                found, why = _venvs.ensure(
                    args.venvs, subject.key, list(subject.requirements), args.venvs / f"{subject.key}.log"
                )
                if found is None:
                    rows.append(Row(subject.key, subject.name, subject.kind, failed=why))
                    say(f"{subject.key}: {why}")
                    continue
                python = str(found)
                version = _venvs.versions(found, [subject.distribution]).get(subject.distribution, "")
            else:
                import importlib.metadata

                version = (
                    importlib.metadata.version("recordkit") + " (this checkout)" if subject.kind == "recordkit" else ""
                )
            say(f"{subject.key}: measuring at scale {scale_label(subject.scale)}")
            try:
                row = measure(subject, python, scratch_root / subject.key, sizes, args.timeout, say)
            except Exception as exc:  # a harness bug with one subject must not lose the others' figures
                row = Row(subject.key, subject.name, subject.kind, failed=f"harness error: {exc!r}"[:240])
            row.version = version
            rows.append(row)
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)

    report = render(rows, header)
    print()
    print(report)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(report, encoding="utf-8")
    print(f"written to {args.results}")
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
