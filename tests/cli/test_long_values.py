"""A huge value prints as one cut line in ``ls``, ``show`` and ``records`` tables (real processes);
csv and json keep it whole."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import recordkit as rk
from recordkit.cli.formatting import fit, text_width

HUGE = "x" * 10_000_000


@pytest.fixture
def huge_store(store_path: Path) -> Path:
    with rk.open(store_path) as store, store.collection("c").start_run(
        config={"prompt": "line one\nline two " * 50}, name="big", capture=False
    ) as run:
        run.log(blob=HUGE, loss=0.5)
    return store_path


def _run(*args: str, columns: int = 100) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RECORDKIT_STORE"} | {"COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "recordkit", *args], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["ls"], id="ls"),
        pytest.param(["show", "1"], id="show"),
        pytest.param(["records", "-c", "step,blob,loss"], id="records"),
    ],
)
def test_a_10_mb_value_prints_as_one_cut_line(huge_store: Path, args: list[str]) -> None:
    done = _run(*args, "--store", str(huge_store))
    assert done.returncode == 0, done.stderr
    assert len(done.stdout) < 20_000  # was 10 MB
    lines = [line for line in done.stdout.splitlines() if "xxxxxxxx" in line]
    assert lines and all("x" * 100 not in line and "…" in line for line in lines)
    assert "line two" not in done.stdout or "↵" in done.stdout  # a multi-line config value stays on one line


def test_the_cut_follows_the_terminal_width(huge_store: Path) -> None:
    wide = _run("show", "1", "--store", str(huge_store), columns=200).stdout
    assert "x" * 190 in wide and "x" * 200 not in wide


def test_csv_and_json_keep_the_whole_value(huge_store: Path) -> None:
    done = _run("records", "-c", "blob", "-f", "csv", "--store", str(huge_store))
    assert done.stdout.splitlines()[1] == HUGE


def test_fit() -> None:
    assert fit("short", 10) == "short"
    assert fit("abcdefghij", 6) == "abcde…"
    assert fit("a\r\nb\nc", 10) == "a↵b↵c"
    assert text_width(fit("日本語日本語", 5)) <= 5
    assert fit(HUGE, 80) == "x" * 79 + "…"
