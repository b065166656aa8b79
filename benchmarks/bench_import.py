"""``import recordkit`` time over a bare interpreter, and the heavy modules it must not import.

``python -c "import recordkit"`` and ``python -c "pass"`` are started alternately (the interpreter and
venv are the ones running the benchmark) and each is timed from spawn to exit; the figure is the
difference of the medians. A separate child lists which heavy libraries ``import recordkit`` pulled into
``sys.modules``, and ``-X importtime`` names the slowest modules recordkit imports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from benchmarks._util import Result, median, say

TARGET_MS = 60.0
# What users get: bytecode cached after the first import. An environment that sets
# PYTHONDONTWRITEBYTECODE (some CI images and sandboxes do) would time compiling every module instead.
_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
HEAVY = ("numpy", "pandas", "polars", "pyarrow", "torch", "duckdb", "psycopg", "click", "rich")
MUST_NOT = ("numpy", "pandas", "polars", "pyarrow", "torch")


def _spawn_ms(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=_ENV)
    return (time.perf_counter() - t0) * 1000


def _heavy_modules() -> list[str]:
    code = f"import sys, json, recordkit; print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=_ENV).stdout
    return list(json.loads(out.strip().splitlines()[-1]))


def _slowest_imports(top: int = 5) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(module, µs) of the slowest imports under ``import recordkit`` from -X importtime: by self time,
    and by cumulative time (recordkit itself left out)."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import recordkit"],
        check=True,
        capture_output=True,
        text=True,
        env=_ENV,
    ).stderr
    own: list[tuple[str, int]] = []
    cumulative: list[tuple[str, int]] = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = (part.strip() for part in line[len("import time:") :].split("|"))
        own.append((name, int(self_us)))
        if name != "recordkit":
            cumulative.append((name, int(cumulative_us)))
    return sorted(own, key=lambda r: -r[1])[:top], sorted(cumulative, key=lambda r: -r[1])[:top]


def run(quick: bool) -> list[Result]:
    repeats = 7 if quick else 15
    _spawn_ms("pass")  # warm the page cache for both
    _spawn_ms("import recordkit")
    bare: list[float] = []
    loaded: list[float] = []
    say(f"import: {repeats} alternating spawns of each")
    for _ in range(repeats):
        bare.append(_spawn_ms("pass"))
        loaded.append(_spawn_ms("import recordkit"))
    bare_ms, loaded_ms = median(bare), median(loaded)
    extra = loaded_ms - bare_ms

    heavy = _heavy_modules()
    bad = [m for m in heavy if m in MUST_NOT]
    by_self, by_cumulative = _slowest_imports()
    self_text = ", ".join(f"{name} {us / 1000:.1f}" for name, us in by_self)
    cumulative_text = ", ".join(f"{name} {us / 1000:.1f}" for name, us in by_cumulative)
    return [
        Result(
            "import",
            "import recordkit, over bare interpreter",
            extra,
            "ms",
            bare_ms,
            "bare `python -c pass`",
            f"≤ {TARGET_MS:g} ms",
            extra <= TARGET_MS,
            f"median of {repeats} spawns each: {loaded_ms:.1f} ms with the import, {bare_ms:.1f} ms bare "
            f"(ratio = import cost ÷ bare start-up); -X importtime, slowest by self time (ms): "
            f"{self_text}; by cumulative time (ms): {cumulative_text}",
        ),
        Result(
            "import",
            "heavy modules loaded by import recordkit",
            float(len(bad)),
            "",
            None,
            "",
            "none of " + "/".join(MUST_NOT),
            not bad,
            display=", ".join(bad) or "none",
            note=f"of {', '.join(HEAVY)} in sys.modules after import: {', '.join(heavy) if heavy else 'none'}",
        ),
    ]
