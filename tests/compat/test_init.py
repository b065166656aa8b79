"""The compat package: a table of the seeds, none of it imported by ``import recordkit``, nothing heavy at import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import recordkit.compat

SEEDS = ("record_keeper", "rigorous_recorder", "record", "butirecorder", "mlvlogger")
HEAVY = ("torch", "tensorboard", "tensorboardX", "pandas", "polars", "pyarrow", "matplotlib", "bson")


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return set(done.stdout.split())


def test_import_recordkit_imports_no_compat_module() -> None:
    assert not {name for name in loaded_after("import recordkit") if name.startswith("recordkit.compat")}


@pytest.mark.parametrize("seed", SEEDS)
def test_each_module_imports_nothing_heavy(seed: str) -> None:
    loaded = loaded_after(f"import recordkit.compat.{seed}")
    assert not {name.split(".")[0] for name in loaded} & set(HEAVY)


def test_the_docstring_names_every_module() -> None:
    doc = recordkit.compat.__doc__ or ""
    assert all(f"recordkit.compat.{seed}" in doc for seed in SEEDS)
