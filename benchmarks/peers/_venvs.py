"""One virtual environment per peer under a cache folder, created once and reused.

A venv is ready when its marker file holds the exact requirement list it was built for; a changed list
(or a half-finished install) builds it again from scratch. A failed install is returned as a one-line
reason for the peer's row, never raised: one peer that does not install must not stop the others.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

MARKER = "recordkit-peer-ready.txt"
INSTALL_TIMEOUT_S = 1800


def default_cache() -> Path:
    """``benchmarks/.peer-venvs`` beside this package (gitignored)."""
    return Path(__file__).resolve().parent.parent / ".peer-venvs"


def python_of(venv: Path) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / ("python.exe" if os.name == "nt" else "python")


def ensure(cache: Path, name: str, requirements: list[str], log: Path) -> tuple[Path | None, str]:
    """The venv's interpreter and ``""``, or ``None`` and why the install failed (pip's output is in ``log``)."""
    venv = cache / name
    wanted = "\n".join(requirements) + "\n"
    marker = venv / MARKER
    if marker.exists() and marker.read_text(encoding="utf-8") == wanted and python_of(venv).exists():
        return python_of(venv), ""
    shutil.rmtree(venv, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as out:
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(python_of(venv)), "-m", "pip", "install", "--quiet", *requirements],
        ]
        for step in steps:
            out.write(f"$ {' '.join(step)}\n")
            out.flush()
            try:
                proc = subprocess.run(
                    step, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S, check=False
                )
            except subprocess.TimeoutExpired:
                return None, f"install timed out after {INSTALL_TIMEOUT_S} s (see {log})"
            if proc.returncode != 0:
                return None, f"install failed: {_last_error(log)} (see {log})"
    marker.write_text(wanted, encoding="utf-8")
    return python_of(venv), ""


def versions(python: Path, distributions: list[str]) -> dict[str, str]:
    """Installed versions of ``distributions`` in the venv (missing ones are left out)."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for d in sys.argv[1:]:\n"
        "    try: out[d] = m.version(d)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([str(python), "-c", code, *distributions], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {}
    import json

    found: dict[str, str] = json.loads(proc.stdout)
    return found


def _last_error(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    text = (errors or lines or ["no output"])[-1]
    return text[:200]
