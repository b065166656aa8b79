"""docs/integrations.md stays true: each Python example runs, as a user would run it, in a fresh folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = (Path(__file__).resolve().parents[2] / "docs" / "integrations.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", DOC, flags=re.S)


def _section(code: str) -> str:
    """The heading a block sits under (its id, and the framework it needs)."""
    position = DOC.index(code)
    found = [m for m in re.finditer(r"^## (\w+)", DOC, flags=re.M) if m.start() < position]
    return found[-1].group(1).lower() if found else "intro"


def test_every_framework_has_a_runnable_example() -> None:
    assert {_section(code) for code in BLOCKS} >= {"lightning", "transformers", "keras"}


@pytest.mark.slow
@pytest.mark.parametrize("code", [pytest.param(c, id=f"{_section(c)}{i}") for i, c in enumerate(BLOCKS)])
def test_integration_doc_examples_run(tmp_path: Path, code: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "KERAS_BACKEND": "torch", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    print(result.stdout)
