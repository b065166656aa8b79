"""Printing: long tables without rich keep the very same text; progress goes to a terminal's stderr only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.cli.helpers import ok, python_m, strict_json

# --- long tables ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["ls"], id="ls"),
        pytest.param(["ls", "--columns", "name,status,config.opt.name"], id="ls-left-last"),
        pytest.param(["records", "--collection", "study"], id="records"),
    ],
)
def test_long_tables_keep_the_layout(tiny_store: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    """Past RICH_ROW_LIMIT rows a table is laid out without rich: the very same text."""
    with_rich = ok(*args, store=tiny_store)
    monkeypatch.setattr("recordkit.cli.output.RICH_ROW_LIMIT", 0)
    assert ok(*args, store=tiny_store) == with_rich


# --- progress on a terminal ----------------------------------------------------------------------


def run_with_terminal_stderr(*args: str) -> tuple[int, str, str]:
    """``python -m recordkit ARGS`` with stdout to a pipe and stderr to a pseudo-terminal."""
    import pty

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "RECORDKIT_STORE"}
    env.update(TERM="xterm", COLUMNS="100")
    child = subprocess.Popen(
        [sys.executable, "-m", "recordkit", *args], stdout=subprocess.PIPE, stderr=follower, env=env, text=True
    )
    os.close(follower)
    seen = bytearray()
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen.extend(chunk)
    stdout = child.stdout.read() if child.stdout else ""
    os.close(leader)
    return child.wait(timeout=120), stdout, seen.decode(errors="replace")


def test_progress_goes_to_a_terminal_stderr_only(small_store: Path) -> None:
    status, out, terminal = run_with_terminal_stderr("records", "-f", "csv", "--store", str(small_store))
    assert status == 0
    assert "Writing records" in terminal
    assert "Writing records" not in out and len(out.splitlines()) == 1 + 9
    status, out, terminal = run_with_terminal_stderr("gc", "-f", "json", "--store", str(small_store))
    assert status == 0
    assert "Collecting garbage" in terminal
    assert strict_json(out)["dry_run"] is False
    done = python_m("records", "-f", "csv", "--store", str(small_store))  # no terminal: no progress at all
    assert done.stderr == ""
