"""``python -m benchmarks.peers``: the harness end to end for recordkit and the floors (no peer is installed
in tests), and a subject that cannot install or run reported in its row without stopping the others."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from benchmarks.peers import _venvs, _wandb_file
from benchmarks.peers._report import render, scale_label
from benchmarks.peers._runner import Row, Sizes, measure
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
    # recordkit's journal: every log() that returned survives the SIGKILL and is replayed on the next open.
    assert rows["recordkit"]["kill"] == {**rows["recordkit"]["kill"], "kept": 2_000, "partial": 0}
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


def _wandb_framed(records: list[bytes]) -> bytes:
    """Frames records as wandb's writer does (LevelDB log: 32 KiB blocks, full/first/middle/last pieces)."""
    out = bytearray(_wandb_file.FILE_HEADER)
    for record in records:
        rest, first = record, True
        while True:
            left = _wandb_file.BLOCK - len(out) % _wandb_file.BLOCK
            if left < _wandb_file.RECORD_HEADER:
                out += b"\0" * left
                continue
            piece, rest = rest[: left - _wandb_file.RECORD_HEADER], rest[left - _wandb_file.RECORD_HEADER :]
            kind = (
                (_wandb_file.FULL if not rest else _wandb_file.FIRST)
                if first
                else (_wandb_file.LAST if not rest else _wandb_file.MIDDLE)
            )
            crc = zlib.crc32(piece, zlib.crc32(bytes([kind])))
            out += struct.pack("<IHB", crc, len(piece), kind) + piece
            first = False
            if not rest:
                break
    return bytes(out)


def test_the_wandb_file_reader_reassembles_records_across_blocks_and_stops_at_a_torn_tail() -> None:
    records = [b"a" * 10, b"b" * 70_000, b"c" * 5, b"d" * 40_000]  # the second spans three blocks
    data = _wandb_framed(records)
    assert list(_wandb_file.chunks(data)) == records
    # Cut inside the last record: the intact prefix is kept, the torn record is not returned.
    assert list(_wandb_file.chunks(data[: len(data) - 100])) == records[:3]
    # A flipped byte fails the checksum: the scan ends before the damaged record.
    damaged = bytearray(data)
    damaged[len(_wandb_file.FILE_HEADER) + 7 + 3] ^= 0xFF
    assert list(_wandb_file.chunks(bytes(damaged))) == []
    with pytest.raises(ValueError, match="not a wandb run file"):
        list(_wandb_file.chunks(b"garbage"))


def test_a_scaled_down_subject_is_extrapolated_and_labelled() -> None:
    full = 3 * 10 * 100_000

    def row(key: str, kind: str, records: int, seconds: float) -> Row:
        return Row(
            key,
            key,
            kind,
            hot={"median_us": 1.0, "p99_us": 2.0, "n": 100},
            kill={"kept": 100, "partial": 0, "n": 100},
            work={
                "records": records,
                "scale": records / full,
                "durable_s": seconds,
                "peak_rss": 100 * 2**20,
                "tree_peak_rss": 300 * 2**20,
                "disk": records * 50,
            },
            query={"query_s": 0.5, "answer": {"0": 0.5, "1": 1.5, "2": 2.5}},
        )

    report = render([row("recordkit", "recordkit", full, 10.0), row("slowpeer", "peer", full // 100, 2.0)], ["h"])
    assert "| 30,000 (1/100) | 2.00 s → 200 s* | 100 MiB (300 MiB with its helper processes)† |" in report
    # Per record: 2 s / 30,000 against 10 s / 3,000,000 is 20 times slower.
    assert "| slowpeer ÷ recordkit | 1.00× | 1.00× | 20.0×* | 1.00×† (at 1/100) | 1.00×* | 100×* |" in report
    assert scale_label(0.001) == "1/1000" and scale_label(1.0) == "full"


def test_the_readme_documents_the_command_and_shows_a_measured_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python -m benchmarks.peers" in readme
    section = readme.split("### Beside other trackers", 1)[1].split("\n## ", 1)[0]
    for subject in ("recordkit", "floor: SQLite writer thread", "floor: file append", "tensorboardX", "Aim"):
        assert f"\n| {subject} | " in section
    assert "_`python -m benchmarks.peers" in section and " UTC: Python " in section
