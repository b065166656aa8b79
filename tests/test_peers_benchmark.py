"""``python -m benchmarks.peers``: the harness end to end for recordkit and the floors (no peer is installed
in tests), and a subject that cannot install or run reported in its row without stopping the others."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.peers import _venvs
from benchmarks.peers._report import render
from benchmarks.peers._runner import Sizes, measure
from benchmarks.peers._subjects import Subject

ROOT = Path(__file__).resolve().parents[1]


def _quiet(message: str) -> None:
    pass


@pytest.mark.slow
def test_quick_run_measures_recordkit_and_the_floors_on_the_same_records(tmp_path: Path) -> None:
    results, raw = tmp_path / "results.md", tmp_path / "raw.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    command = [sys.executable, "-m", "benchmarks.peers", "--quick", "--only", "recordkit", "--only", "floors"]
    proc = subprocess.run(
        [*command, "--results", str(results), "--json", str(raw), "--venvs", str(tmp_path / "venvs")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = {row["key"]: row for row in json.loads(raw.read_text(encoding="utf-8"))}
    assert list(rows) == ["recordkit", "sqlite-floor", "file-floor"]
    assert not (tmp_path / "venvs").exists(), "no venv is made for recordkit or the floors"
    for row in rows.values():
        assert row["errors"] == {}, row["errors"]
        assert row["hot"]["n"] == 2_000 and 0 < row["hot"]["median_us"] <= row["hot"]["p99_us"]
        assert 0 <= row["kill"]["kept"] <= row["kill"]["n"] == 2_000
        assert row["work"]["records"] == 60_000 and row["work"]["scale"] == 1
        assert row["work"]["disk"] > 0 and row["work"]["peak_rss"] > 0
    # One unbuffered write() per step: every step a SIGKILL follows is in the file, and its reader finds it.
    assert rows["file-floor"]["kill"]["kept"] == 2_000
    # Every subject logged the same records, so every reader gives the same answer.
    expected = rows["sqlite-floor"]["query"]["answer"]
    assert list(expected) == ["0", "1", "2"]
    assert [round(v) for v in expected.values()] == [0, 1, 2]  # y = experiment + uniform [0, 1)
    for row in rows.values():
        assert row["query"]["answer"] == pytest.approx(expected, rel=1e-12)
    report = results.read_text(encoding="utf-8")
    assert "python -m benchmarks.peers --quick --only recordkit --only floors" in report
    for line in ("| recordkit | ", "| floor: SQLite writer thread | ", "| recordkit ÷ floor: file append | "):
        assert line in report
    assert report in proc.stdout


def test_a_subject_that_cannot_run_is_reported_in_its_row(tmp_path: Path) -> None:
    broken = Subject("broken", "Broken peer", "benchmarks.peers._no_such_module", "peer", how="imports nothing")
    row = measure(broken, sys.executable, tmp_path, Sizes(steps=50, per_episode=10), 120, _quiet)
    assert set(row.errors) == {"hot", "kill", "workload"}
    assert all("No module named 'benchmarks.peers._no_such_module'" in e for e in row.errors.values())
    report = render([row], ["header"])
    assert "| Broken peer | – | failed | failed | failed |" in report
    assert "- **Broken peer**: hot: exit status 1: ModuleNotFoundError" in report


@pytest.mark.slow
def test_a_peer_that_fails_to_install_gets_a_one_line_reason(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-project"
    python, why = _venvs.ensure(tmp_path / "venvs", "broken", [str(missing)], tmp_path / "broken.log")
    assert python is None
    assert why.startswith("install failed: ") and str(tmp_path / "broken.log") in why
    assert "\n" not in why
    assert not (tmp_path / "venvs" / "broken" / _venvs.MARKER).exists()
