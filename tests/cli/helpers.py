"""Running the command line in tests: in-process (click's runner) or as a real ``python -m recordkit``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from recordkit.cli import main


def invoke(*args: str, store: Path | None = None) -> Result:
    argv = [*args, "--store", str(store)] if store is not None else list(args)
    return CliRunner().invoke(main, argv, catch_exceptions=False)


def ok(*args: str, store: Path | None = None) -> str:
    result = invoke(*args, store=store)
    assert result.exit_code == 0, result.output
    return result.stdout


def fails_cleanly(result: Result, *fragments: str) -> str:
    """Exit status 1, stdout empty, exactly one line on stderr starting with Error:, no traceback."""
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def strict_json(text: str) -> Any:
    """json.loads that refuses NaN, Infinity and -Infinity (what strict JSON parsers do)."""

    def reject(constant: str) -> None:
        raise AssertionError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=reject)


def python_m(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RECORDKIT_STORE"}
    return subprocess.run(
        [sys.executable, "-m", "recordkit", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def names_in(store: Path) -> list[str]:
    return [row["name"] for row in strict_json(ok("ls", "-f", "json", store=store))]
