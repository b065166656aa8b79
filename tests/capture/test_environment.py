"""recordkit.capture.environment: the whole environment document, part selection, and what it imports."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
from tests.capture.conftest import needs_git

import recordkit as rk
from recordkit._exceptions import ConfigError
from recordkit.capture import PARTS, capture_environment


@needs_git
def test_full_capture_has_every_part_and_is_json(clean_repo: pathlib.Path) -> None:
    env, _ = capture_environment(cwd=str(clean_repo))
    assert list(env) == list(PARTS)
    assert all("error" not in env[part] for part in PARTS if isinstance(env[part], dict))
    json.dumps(env, allow_nan=False)
    assert env["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert env["process"]["pid"] == os.getpid()
    assert env["hardware"]["disk_path"] == str(clean_repo)


@pytest.mark.parametrize(
    "parts",
    [
        pytest.param([], id="none"),
        pytest.param(["python"], id="python"),
        pytest.param(["system", "process"], id="system-process"),
        pytest.param(["env_vars", "packages"], id="env-packages"),
    ],
)
def test_parts_switched_off_are_absent(parts: list[str], no_repo: pathlib.Path) -> None:
    env, files = capture_environment(parts=parts, cwd=str(no_repo))
    assert set(env) == set(parts)
    assert files == {}


def test_unknown_part_is_an_error() -> None:
    with pytest.raises(ConfigError, match="'gpus'"):
        capture_environment(parts=["gpus"])


def test_a_str_is_not_a_list_of_parts() -> None:
    with pytest.raises(TypeError, match="collection"):
        capture_environment(parts="git")


def run_in_a_fresh_interpreter(code: str) -> None:
    """Run ``code`` in a new Python (this one has numpy and maybe torch loaded already); fail if it fails."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_capture_does_not_import_heavy_libraries() -> None:
    # Run in a fresh interpreter: this one has numpy and maybe torch loaded already.
    code = (
        "import sys, recordkit.capture as c\n"
        "before = set(sys.modules)\n"
        "c.capture_environment()\n"
        "new = set(sys.modules) - before\n"
        "heavy = {'numpy', 'torch', 'tensorflow', 'jax', 'pandas', 'psutil', 'importlib.metadata'}\n"
        "assert not heavy & (new | {m.split('.')[0] for m in new}), sorted(new)\n"
    )
    run_in_a_fresh_interpreter(code)


def test_importing_capture_loads_nothing_slow() -> None:
    # The core imports recordkit.capture for config_hash alone: git, platform details, NVML and package
    # metadata are loaded only by the parts that need them.
    code = (
        "import sys, recordkit\n"
        "before = set(sys.modules)\n"
        "import recordkit.capture\n"
        "slow = {'subprocess', 'platform', 'importlib.metadata', 'pynvml', 'hashlib', 'numpy', 'torch'}\n"
        "assert not slow & (set(sys.modules) - before), sorted(slow & set(sys.modules))\n"
    )
    run_in_a_fresh_interpreter(code)


# ---------------------------------------------------------------------------------------------------------
# The environment of a run
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.backends("sqlite", "postgres")
def test_environment_is_captured_and_written_to_meta(collection: rk.Collection) -> None:
    with collection.start_run() as run:
        pass
    for part in ("system", "python", "hardware", "packages", "env_vars", "process"):
        assert part in run.env
    meta = json.loads((run.folder / "meta.json").read_text())
    assert meta["env"]["python"]["version"] == run.env["python"]["version"]


@pytest.mark.backends("sqlite", "postgres")
def test_capture_parts_can_be_switched_off(collection: rk.Collection) -> None:
    with collection.start_run(capture=["python"]) as run:
        pass
    assert set(run.env) == {"python"}
