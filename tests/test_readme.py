"""The README stays true: its quick start runs as a test (its Python blocks run in tests/test_docs.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import recordkit as rk

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_readme_shows_the_two_commands() -> None:
    bash_blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    commands = [line.strip() for block in bash_blocks for line in block.splitlines()]
    assert "pip install -e . && recordkit demo" in commands
    assert "pip install -e '.[dev]' && pytest" in commands
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "pip install -e '.[dev]' && pytest" in ci.splitlines()


def test_quick_start_main_job_runs(tmp_path: Path) -> None:
    # The installed console script, as a new user runs it (python -m is its twin).
    result = subprocess.run(
        [sys.executable, "-m", "recordkit", "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "records") in result.stdout
    store = rk.open(tmp_path / "records", create=False)
    runs = store.collection("demo").runs()
    assert runs and all(run.status is rk.RunStatus.FINISHED for run in runs)
    assert len(store.collection("demo").records) > 0
