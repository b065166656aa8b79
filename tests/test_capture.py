"""Tests for recordkit._capture: config conversion, secrets, environment and git capture, seeding."""

from __future__ import annotations

import argparse
import configparser
import dataclasses
import enum
import hashlib
import importlib.metadata
import json
import os
import pathlib
import random
import shutil
import subprocess
import sys
import types
from typing import Any, ClassVar

import numpy as np
import pytest

from recordkit._capture import (
    PARTS,
    REDACTED,
    capture_environment,
    capture_git,
    config_hash,
    config_to_dict,
    human_bytes,
    installed_packages,
    redact_env,
    seed_everything,
    strip_url_credentials,
)
from recordkit._exceptions import ConfigError

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git program")


# ---------------------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the user's git config out of the tests, and give commits an author."""
    empty = tmp_path_factory.mktemp("gitconfig") / "config"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.com")


def git(repo: pathlib.Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return result.stdout.strip()


@pytest.fixture
def empty_repo(tmp_path: pathlib.Path) -> pathlib.Path:
    """A git repository with no commits."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    return repo


@pytest.fixture
def clean_repo(empty_repo: pathlib.Path) -> pathlib.Path:
    """A git repository with one commit and nothing changed."""
    (empty_repo / "train.py").write_text("print('hello')\n")
    git(empty_repo, "add", "train.py")
    git(empty_repo, "commit", "-q", "-m", "first")
    return empty_repo


@pytest.fixture
def no_repo(tmp_path: pathlib.Path) -> pathlib.Path:
    """A folder that is in no git repository."""
    folder = tmp_path / "plain"
    folder.mkdir()
    if capture_git(str(folder))[0] is not None:  # pragma: no cover - depends on the machine
        pytest.skip("the temporary folder lies inside a git repository")
    return folder


# ---------------------------------------------------------------------------------------------------------
# Git
# ---------------------------------------------------------------------------------------------------------


@needs_git
def test_clean_repository(clean_repo: pathlib.Path) -> None:
    doc, files = capture_git(str(clean_repo))
    assert doc is not None
    assert doc["root"] == str(clean_repo)
    assert doc["commit"] == git(clean_repo, "rev-parse", "HEAD")
    assert doc["branch"] == "main"
    assert doc["dirty"] is False
    assert doc["diff"] is None
    assert doc["untracked"] == []
    assert files == {}


@needs_git
def test_root_found_from_a_subfolder(clean_repo: pathlib.Path) -> None:
    sub = clean_repo / "a" / "b"
    sub.mkdir(parents=True)
    doc, _ = capture_git(str(sub))
    assert doc is not None
    assert doc["root"] == str(clean_repo)


@needs_git
@pytest.mark.parametrize("staged", [pytest.param(False, id="unstaged"), pytest.param(True, id="staged")])
def test_dirty_repository_returns_the_diff(clean_repo: pathlib.Path, staged: bool) -> None:
    (clean_repo / "train.py").write_text("print('changed')\n")
    if staged:
        git(clean_repo, "add", "train.py")
    doc, files = capture_git(str(clean_repo))
    assert doc is not None
    assert doc["dirty"] is True
    diff = files["git.diff"]
    assert b"+print('changed')" in diff
    assert doc["diff"] == {
        "file": "git.diff",
        "size": len(diff),
        "sha256": hashlib.sha256(diff).hexdigest(),
        "truncated": False,
        "redacted_lines": 0,
    }


@needs_git
def test_secrets_in_the_diff_are_redacted(clean_repo: pathlib.Path) -> None:
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4"
    (clean_repo / "train.py").write_text(
        "print('hello')\n"
        'API_KEY = "abc-live-123"\n'
        "config = {'db_password': 'hunter2'}\n"
        f"headers = ['Bearer {token}']\n"
        "url = 'https://user:pw9@example.com/data'\n"
        "key_fn = get_key()\n"
        "lr = 0.1\n"
    )
    doc, files = capture_git(str(clean_repo))
    assert doc is not None
    diff = files["git.diff"]
    for secret in (b"abc-live-123", b"hunter2", token.encode(), b"pw9"):
        assert secret not in diff
    assert b'+API_KEY = "<redacted>"' in diff
    assert b"+key_fn = get_key()" in diff and b"+lr = 0.1" in diff  # code and plain values are kept
    assert doc["diff"]["redacted_lines"] == 4
    assert doc["diff"]["sha256"] == hashlib.sha256(diff).hexdigest()


@needs_git
def test_diff_is_capped_at_a_whole_line(clean_repo: pathlib.Path) -> None:
    (clean_repo / "train.py").write_text("".join(f"line {i}\n" for i in range(1000)))
    doc, files = capture_git(str(clean_repo), max_diff_bytes=300)
    assert doc is not None
    diff = files["git.diff"]
    assert doc["diff"]["truncated"] is True
    assert 0 < len(diff) <= 300
    assert diff.endswith(b"\n")
    assert doc["diff"]["size"] == len(diff)
    assert doc["diff"]["sha256"] == hashlib.sha256(diff).hexdigest()


@needs_git
def test_detached_head_has_no_branch(clean_repo: pathlib.Path) -> None:
    git(clean_repo, "checkout", "-q", "--detach")
    doc, _ = capture_git(str(clean_repo))
    assert doc is not None
    assert doc["branch"] is None
    assert doc["commit"] == git(clean_repo, "rev-parse", "HEAD")


@needs_git
def test_untracked_files_are_listed_and_capped(clean_repo: pathlib.Path) -> None:
    (clean_repo / "notes.txt").write_text("x")
    (clean_repo / "data").mkdir()
    (clean_repo / "data" / "a.csv").write_text("1")
    doc, files = capture_git(str(clean_repo))
    assert doc is not None
    assert sorted(doc["untracked"]) == ["data/", "notes.txt"]
    assert doc["dirty"] is False  # untracked files do not make the tree dirty
    assert files == {}

    capped, _ = capture_git(str(clean_repo), max_untracked=1)
    assert capped is not None
    assert len(capped["untracked"]) == 1
    assert capped["untracked_count"] == 2
    assert capped["untracked_truncated"] is True


@needs_git
@pytest.mark.skipif(sys.platform == "win32", reason="'?' is not allowed in Windows file names")
def test_rename_is_dirty_and_not_untracked(clean_repo: pathlib.Path) -> None:
    # With -z a rename's original path is a separate entry; one named "? x" would read as untracked.
    (clean_repo / "? odd.py").write_text("x = 1\n")
    git(clean_repo, "add", "? odd.py")
    git(clean_repo, "commit", "-q", "-m", "odd")
    git(clean_repo, "mv", "? odd.py", "fit.py")
    doc, files = capture_git(str(clean_repo))
    assert doc is not None
    assert doc["dirty"] is True
    assert doc["untracked"] == []
    assert "git.diff" in files


@needs_git
def test_repository_without_commits(empty_repo: pathlib.Path) -> None:
    (empty_repo / "train.py").write_text("x = 1\n")
    git(empty_repo, "add", "train.py")
    doc, files = capture_git(str(empty_repo))
    assert doc is not None
    assert doc["commit"] is None
    assert doc["branch"] == "main"
    assert doc["dirty"] is True
    assert files == {}  # no HEAD to diff against


@needs_git
def test_no_repository_means_no_git_key(no_repo: pathlib.Path) -> None:
    env, files = capture_environment(parts=["git", "python"], cwd=str(no_repo))
    assert "git" not in env
    assert "python" in env
    assert files == {}


@needs_git
def test_no_git_program_means_no_git_key(
    clean_repo: pathlib.Path, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    env, files = capture_environment(parts=["git"], cwd=str(clean_repo))
    assert env == {}
    assert files == {}


def test_broken_repository_reports_an_error(tmp_path: pathlib.Path) -> None:
    (tmp_path / ".git").mkdir()  # a .git folder git does not accept
    doc, files = capture_git(str(tmp_path))
    assert doc is not None
    assert doc["root"] == str(tmp_path)
    assert "git status failed" in doc["error"]
    assert files == {}


@needs_git
@pytest.mark.parametrize(
    ("remote", "expected", "secret"),
    [
        pytest.param(
            "https://alice:hunter2pass@example.com/org/repo.git",
            "https://example.com/org/repo.git",
            "hunter2pass",
            id="user-password",
        ),
        pytest.param(
            "https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/org/repo.git",
            "https://github.com/org/repo.git",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            id="token",
        ),
        pytest.param(
            "ssh://git:sshpass99@example.com/org/repo.git",
            "ssh://git@example.com/org/repo.git",
            "sshpass99",
            id="ssh-password",
        ),
    ],
)
def test_remote_credentials_never_reach_the_document(
    clean_repo: pathlib.Path, remote: str, expected: str, secret: str
) -> None:
    git(clean_repo, "remote", "add", "origin", remote)
    env, files = capture_environment(cwd=str(clean_repo))
    assert env["git"]["remote_url"] == expected
    assert secret not in json.dumps(env)
    assert all(secret.encode() not in data for data in files.values())


@needs_git
def test_scp_style_remote_is_kept(clean_repo: pathlib.Path) -> None:
    git(clean_repo, "remote", "add", "origin", "git@github.com:org/repo.git")
    doc, _ = capture_git(str(clean_repo))
    assert doc is not None
    assert doc["remote_url"] == "git@github.com:org/repo.git"


@needs_git
def test_remote_of_the_upstream_branch_wins(clean_repo: pathlib.Path) -> None:
    git(clean_repo, "remote", "add", "origin", "https://example.com/origin.git")
    git(clean_repo, "remote", "add", "fork", "https://example.com/fork.git")
    git(clean_repo, "update-ref", "refs/remotes/fork/main", "HEAD")
    git(clean_repo, "branch", "-q", "--set-upstream-to=fork/main")
    (clean_repo / "more.py").write_text("")
    git(clean_repo, "add", "more.py")
    git(clean_repo, "commit", "-q", "-m", "second")
    doc, _ = capture_git(str(clean_repo))
    assert doc is not None
    assert doc["upstream"] == "fork/main"
    assert (doc["ahead"], doc["behind"]) == (1, 0)
    assert doc["remote_url"] == "https://example.com/fork.git"


@needs_git
def test_linked_worktree(clean_repo: pathlib.Path, tmp_path: pathlib.Path) -> None:
    git(clean_repo, "remote", "add", "origin", "https://example.com/org/repo.git")
    worktree = tmp_path / "wt"
    git(clean_repo, "worktree", "add", "-q", "-b", "feature", str(worktree))
    doc, _ = capture_git(str(worktree))
    assert doc is not None
    assert doc["root"] == str(worktree)
    assert doc["branch"] == "feature"
    assert doc["remote_url"] == "https://example.com/org/repo.git"  # read through "commondir"


@needs_git
def test_git_hook_variables_do_not_redirect_capture(
    clean_repo: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inside a git hook GIT_DIR points at the hook's repository, not at the run's.
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", "other-branch")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    doc, _ = capture_git(str(clean_repo))
    assert doc is not None
    assert doc["branch"] == "main"
    assert doc["commit"] is not None


# ---------------------------------------------------------------------------------------------------------
# Environment document
# ---------------------------------------------------------------------------------------------------------


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


def test_hardware_sizes() -> None:
    hardware = capture_environment(parts=["hardware"])[0]["hardware"]
    assert hardware["cpu_count"] == os.cpu_count()
    assert 1 <= hardware["cpu_usable"] <= hardware["cpu_count"]
    if sys.platform.startswith("linux"):
        assert hardware["memory_total"] > 0
        assert hardware["memory_total_human"].endswith("B")
    assert hardware["disk_total"] >= hardware["disk_free"] > 0


def test_capture_does_not_import_heavy_libraries() -> None:
    # Run in a fresh interpreter: this one has numpy and maybe torch loaded already.
    code = (
        "import sys, recordkit._capture as c\n"
        "before = set(sys.modules)\n"
        "c.capture_environment()\n"
        "new = set(sys.modules) - before\n"
        "heavy = {'numpy', 'torch', 'tensorflow', 'jax', 'pandas', 'psutil', 'importlib.metadata'}\n"
        "assert not heavy & (new | {m.split('.')[0] for m in new}), sorted(new)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_imported_library_versions_come_from_sys_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_torch = types.ModuleType("torch")
    fake_torch.__version__ = "9.9.9"  # type: ignore[attr-defined]
    fake_torch.version = types.SimpleNamespace(cuda="12.1")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    libraries = capture_environment(parts=["python"])[0]["python"]["libraries"]
    assert libraries["torch"] == "9.9.9"
    assert libraries["cuda"] == "12.1"
    assert libraries["numpy"] == np.__version__
    assert "tensorflow" not in libraries


def test_gpu_without_nvml_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    gpu = capture_environment(parts=["gpu"])[0]["gpu"]
    assert gpu["devices"] == []
    assert gpu["count"] == 0
    assert gpu["visible_devices"] == "0,1"
    assert "error" not in gpu


def test_gpu_read_through_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    fake = types.ModuleType("pynvml")
    fake.nvmlInit = lambda: calls.append("init")  # type: ignore[attr-defined]
    fake.nvmlShutdown = lambda: calls.append("shutdown")  # type: ignore[attr-defined]
    fake.nvmlSystemGetDriverVersion = lambda: b"550.54.15"  # type: ignore[attr-defined]
    fake.nvmlSystemGetCudaDriverVersion = lambda: 12040  # type: ignore[attr-defined]
    fake.nvmlDeviceGetCount = lambda: 2  # type: ignore[attr-defined]
    fake.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    fake.nvmlDeviceGetName = lambda h: f"NVIDIA H100 #{h}"  # type: ignore[attr-defined]
    fake.nvmlDeviceGetUUID = lambda h: f"GPU-{h}"  # type: ignore[attr-defined]
    fake.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(total=80_000_000_000)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    gpu = capture_environment(parts=["gpu"])[0]["gpu"]
    assert gpu["driver_version"] == "550.54.15"
    assert gpu["cuda_driver_version"] == "12.4"
    assert gpu["count"] == 2
    assert gpu["devices"][1] == {
        "index": 1,
        "name": "NVIDIA H100 #1",
        "uuid": "GPU-1",
        "memory_total": 80_000_000_000,
        "memory_total_human": "80 GB",
    }
    assert calls == ["init", "shutdown"]


def test_gpu_without_driver_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("pynvml")

    def no_driver() -> None:
        raise RuntimeError("NVML Shared Library Not Found")

    fake.nvmlInit = no_driver  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    gpu = capture_environment(parts=["gpu"])[0]["gpu"]
    assert gpu["devices"] == []


def test_installed_packages_match_importlib_metadata() -> None:
    packages = installed_packages()
    for name in ("numpy", "pytest"):
        assert packages[name] == importlib.metadata.version(name)
    assert list(packages) == sorted(packages)
    packages["numpy"] = "tampered"
    assert installed_packages()["numpy"] == importlib.metadata.version("numpy")  # the cache is not shared


def test_installed_packages_reads_dist_and_egg_info(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "Foo_Bar-1.2.3.dist-info").mkdir()
    (tmp_path / "other-2.0-py3.11.egg-info").mkdir()
    (tmp_path / "Legacy.Pkg.egg-info").mkdir()
    (tmp_path / "Legacy.Pkg.egg-info" / "PKG-INFO").write_text(
        "Metadata-Version: 2.1\nName: Legacy.Pkg\nVersion: 0.4\n"
    )
    (tmp_path / "not_a_package").mkdir()
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    assert installed_packages() == {"foo-bar": "1.2.3", "legacy-pkg": "0.4", "other": "2.0"}


# ---------------------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------------------


def test_secret_environment_variables_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_API_TOKEN", "supersecret")
    monkeypatch.setenv("DB_PASSWORD", "pw-value-xyz")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "awsvalue123")
    monkeypatch.setenv("HTTP_AUTHORIZATION", "Bearer abcdefg")
    monkeypatch.setenv("INNOCENT", "ghp_" + "a1" * 18)  # a GitHub token under a harmless name
    monkeypatch.setenv("DATABASE_URL", "postgresql://bob:urlpass123@db/runs")
    monkeypatch.setenv("MY_PLAIN_SETTING", "visible-value")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ada")  # AUTHOR is not AUTH
    env, _ = capture_environment(parts=["env_vars"])
    text = json.dumps(env)
    for secret in ("supersecret", "pw-value-xyz", "awsvalue123", "abcdefg", "a1a1a1", "urlpass123"):
        assert secret not in text
    variables = env["env_vars"]
    assert variables["MY_API_TOKEN"] == REDACTED
    assert variables["DATABASE_URL"] == "postgresql://bob@db/runs"
    assert variables["MY_PLAIN_SETTING"] == "visible-value"
    assert variables["GIT_AUTHOR_NAME"] == "Ada"


def test_allow_and_deny_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE_TOKEN_LIKE", "offline")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("MY_TEAM_NAME", "vision")
    env, _ = capture_environment(parts=["env_vars"], env_allow=["wandb_mode_token_like"], env_deny=["slurm_*", "TEAM"])
    variables = env["env_vars"]
    assert variables["WANDB_MODE_TOKEN_LIKE"] == "offline"  # allowed by exact name, any case
    assert variables["SLURM_JOB_ID"] == REDACTED  # denied by glob
    assert variables["MY_TEAM_NAME"] == REDACTED  # denied by substring


def test_deny_wins_over_allow() -> None:
    out = redact_env({"A_TOKEN": "t", "HOME": "/root"}, allow=["A_TOKEN", "HOME"], deny=["A_TOK*"])
    assert out == {"A_TOKEN": REDACTED, "HOME": "/root"}


def test_allow_glob_and_empty_values() -> None:
    out = redact_env({"CI_JOB_TOKEN": "x", "OTHER_TOKEN": "y", "EMPTY_SECRET": ""}, allow=["CI_*"])
    assert out == {"CI_JOB_TOKEN": "x", "EMPTY_SECRET": "", "OTHER_TOKEN": REDACTED}


def test_allow_must_be_a_collection() -> None:
    with pytest.raises(TypeError, match=r"\['HOME'\]"):
        redact_env({}, allow="HOME")


def test_command_line_secrets_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    argv = [
        "train.py",
        "--api-key=abc123secret",
        "--token",
        "tok456secret",
        "db.password=pw789secret",
        "--data",
        "s3://u:s3pass@bucket/x",
        "--lr",
        "0.1",
    ]
    monkeypatch.setattr(sys, "argv", argv)
    env, _ = capture_environment(parts=["process"])
    assert "secret" not in json.dumps(env)
    assert "s3pass" not in json.dumps(env)
    assert env["process"]["argv"] == [
        "train.py",
        f"--api-key={REDACTED}",
        "--token",
        REDACTED,
        f"db.password={REDACTED}",
        "--data",
        "s3://u@bucket/x",
        "--lr",
        "0.1",
    ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("https://user:pass@host/x", "https://host/x", id="https-user-pass"),
        pytest.param("http://token@host:8080/x", "http://host:8080/x", id="http-token"),
        pytest.param("git+https://u:p@github.com/o/r.git", "git+https://github.com/o/r.git", id="git+https"),
        pytest.param("postgresql://user:pass@host/db", "postgresql://user@host/db", id="postgres"),
        pytest.param("postgresql://user@host/db", "postgresql://user@host/db", id="postgres-no-password"),
        pytest.param("redis://:pw@host:6379/0", "redis://host:6379/0", id="redis-password-only"),
        pytest.param("postgresql://u:p@ss@host/db", "postgresql://u@host/db", id="raw-at-in-password"),
        pytest.param("git@github.com:org/repo.git", "git@github.com:org/repo.git", id="scp-style"),
        pytest.param("ssh://git@host/repo", "ssh://git@host/repo", id="ssh-user"),
        pytest.param("https://host/p?mail=a@b.com", "https://host/p?mail=a@b.com", id="at-in-query"),
        pytest.param("a https://u:p@x/ b http://v:q@y/", "a https://x/ b http://y/", id="two-urls"),
        pytest.param("no url here", "no url here", id="plain"),
    ],
)
def test_strip_url_credentials(url: str, expected: str) -> None:
    assert strip_url_credentials(url) == expected


# ---------------------------------------------------------------------------------------------------------
# Config conversion
# ---------------------------------------------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Optim:
    lr: float = 0.1
    betas: tuple[float, float] = (0.9, 0.999)


@dataclasses.dataclass
class TrainConfig:
    epochs: int = 3
    optim: Optim = dataclasses.field(default_factory=Optim)
    out: pathlib.Path = pathlib.Path("/tmp/out")


def test_none_is_empty() -> None:
    assert config_to_dict(None) == {}


def test_argparse_namespace() -> None:
    args = argparse.Namespace(lr=0.01, epochs=10, name="baseline", resume=None)
    assert config_to_dict(args) == {"lr": 0.01, "epochs": 10, "name": "baseline", "resume": None}


def test_simple_namespace() -> None:
    assert config_to_dict(types.SimpleNamespace(a=1)) == {"a": 1}


def test_configparser_merges_defaults_into_sections() -> None:
    parser = configparser.ConfigParser()
    parser.read_string(
        "[DEFAULT]\nseed = 1\nroot = /data\n[train]\nlr = 0.1\npath = %(root)s/train\n[eval]\nseed = 2\n"
    )
    assert config_to_dict(parser) == {
        "DEFAULT": {"seed": "1", "root": "/data"},
        "train": {"lr": "0.1", "path": "/data/train", "seed": "1", "root": "/data"},
        "eval": {"seed": "2", "root": "/data"},
    }


def test_configparser_without_defaults_has_no_default_key() -> None:
    parser = configparser.ConfigParser()
    parser.read_string("[train]\nlr = 0.1\n")
    assert config_to_dict(parser) == {"train": {"lr": "0.1"}}


def test_configparser_bad_interpolation() -> None:
    parser = configparser.ConfigParser()
    parser.read_string("[train]\npath = %(missing)s/x\n")
    with pytest.raises(ConfigError, match="missing"):
        config_to_dict(parser)


def test_dataclass_nested() -> None:
    assert config_to_dict(TrainConfig()) == {
        "epochs": 3,
        "optim": {"lr": 0.1, "betas": [0.9, 0.999]},
        "out": "/tmp/out",
    }


def test_nested_dict_with_converted_values() -> None:
    config = {
        "model": {"layers": (64, 32), "color": Color.RED, "act": ["relu", {"slope": np.float32(0.5)}]},
        "steps": np.int64(7),
        "flag": np.bool_(True),
        "path": pathlib.PurePosixPath("/data/x"),
        1: "int key",
    }
    out = config_to_dict(config)
    assert out == {
        "model": {"layers": [64, 32], "color": "red", "act": ["relu", {"slope": 0.5}]},
        "steps": 7,
        "flag": True,
        "path": "/data/x",
        "1": "int key",
    }
    assert type(out["steps"]) is int
    assert type(out["flag"]) is bool
    json.dumps(out)


def test_pydantic_v2_model() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Model(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        lr: float = 0.1
        data: pathlib.Path = pathlib.Path("/data")
        color: Color = Color.RED

    assert config_to_dict(Model()) == {"lr": 0.1, "data": "/data", "color": "red"}


def test_pydantic_v1_style_model() -> None:
    # Duck typed: a v1 model has .dict() and __fields__, and no model_dump.
    class V1Model:
        __fields__: ClassVar[dict[str, None]] = {"lr": None}

        def dict(self) -> dict[str, Any]:
            return {"lr": 0.5}

    assert config_to_dict(V1Model()) == {"lr": 0.5}


def test_omegaconf_resolves_interpolations() -> None:
    omegaconf = pytest.importorskip("omegaconf")
    cfg = omegaconf.OmegaConf.create({"root": "/data", "train": {"path": "${root}/train", "sizes": [1, 2]}})
    assert config_to_dict(cfg) == {"root": "/data", "train": {"path": "/data/train", "sizes": [1, 2]}}
    # Nested inside a plain dict too.
    assert config_to_dict({"cfg": cfg.train}) == {"cfg": {"path": "/data/train", "sizes": [1, 2]}}


@pytest.mark.parametrize(
    ("config", "key"),
    [
        pytest.param({"optim": {"sched": object()}}, "'optim.sched'", id="nested"),
        pytest.param({"layers": [1, {"act": {1, 2}}]}, r"'layers\[1\].act'", id="in-list"),
        pytest.param({"when": __import__("datetime").date(2024, 1, 1)}, "'when'", id="date"),
    ],
)
def test_bad_value_names_its_key(config: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        config_to_dict(config)


def test_bad_value_message_says_what_to_do() -> None:
    with pytest.raises(ConfigError, match=r"sorted list") as info:
        config_to_dict({"tags": {"a"}})
    assert "{'a'}" in str(info.value)  # the bad value, shown with repr


def test_bad_top_level_object() -> None:
    with pytest.raises(ConfigError, match="'int'"):
        config_to_dict(42)


def test_colliding_keys() -> None:
    with pytest.raises(ConfigError, match="rename"):
        config_to_dict({1: "a", "1": "b"})


def test_bad_key_type() -> None:
    with pytest.raises(ConfigError, match=r"\(1, 2\)"):
        config_to_dict({(1, 2): "x"})


def test_self_containing_config() -> None:
    config: dict[str, Any] = {"a": {}}
    config["a"]["loop"] = config
    with pytest.raises(ConfigError, match="contains itself"):
        config_to_dict(config)


def test_shared_value_is_not_a_cycle() -> None:
    shared = [1, 2]
    assert config_to_dict({"a": shared, "b": shared}) == {"a": [1, 2], "b": [1, 2]}


# ---------------------------------------------------------------------------------------------------------
# Config hash
# ---------------------------------------------------------------------------------------------------------


def test_config_hash_ignores_key_order() -> None:
    a = {"lr": 0.1, "model": {"depth": 3, "width": 64}}
    b = {"model": {"width": 64, "depth": 3}, "lr": 0.1}
    assert config_hash(a) == config_hash(b)


def test_config_hash_is_canonical_json() -> None:
    # Pinned: the hash of stored configs must not change between versions.
    expected = hashlib.sha256(b'{"a":1,"b":[1,2.5,null,true,"x"]}').hexdigest()[:16]
    assert config_hash({"b": (1, 2.5, None, True, "x"), "a": 1}) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param({"lr": 0.1}, {"lr": 0.2}, id="value"),
        pytest.param({"lr": 1}, {"lr": 1.0}, id="int-float"),
        pytest.param({"x": 1}, {"x": True}, id="int-bool"),
        pytest.param({"x": [1, 2]}, {"x": [2, 1]}, id="list-order"),
        pytest.param({"x": {"y": 1}}, {"x.y": 1}, id="nesting"),
    ],
)
def test_config_hash_differs(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert config_hash(a) != config_hash(b)


def test_config_hash_equal_values() -> None:
    assert config_hash({"x": -0.0}) == config_hash({"x": 0.0})
    assert config_hash({"x": (1, 2)}) == config_hash({"x": [1, 2]})
    assert len(config_hash({})) == 16


# ---------------------------------------------------------------------------------------------------------
# Seeds and sizes
# ---------------------------------------------------------------------------------------------------------


def test_seed_everything_makes_draws_repeatable(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("PYTHONHASHSEED", "unset")  # restored after the test

    def draw() -> tuple[float, float, list[float]]:
        return random.random(), float(np.random.rand()), torch.rand(3).tolist()

    seeded = seed_everything(123)
    first = draw()
    seed_everything(123)
    assert draw() == first
    seed_everything(124)
    assert draw() != first
    assert seeded["seed"] == 123
    assert seeded["random"] is seeded["numpy"] is seeded["torch"] is True
    assert os.environ["PYTHONHASHSEED"] == "124"


@pytest.mark.parametrize(
    ("seed", "error"),
    [
        pytest.param(-1, ConfigError, id="negative"),
        pytest.param(2**32, ConfigError, id="too-big"),
        pytest.param("1", TypeError, id="str"),
        pytest.param(True, TypeError, id="bool"),
        pytest.param(1.5, TypeError, id="float"),
    ],
)
def test_seed_everything_rejects_bad_seeds(seed: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match=repr(seed).replace("*", r"\*")):
        seed_everything(seed)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1 kB"),
        (1500, "1.5 kB"),
        (9_960, "10 kB"),
        (999_999, "1 MB"),
        (16_000_000_000, "16 GB"),
        (17_179_869_184, "17 GB"),
        (112_000_000_000, "112 GB"),
        (-2_500_000, "-2.5 MB"),
        (10**21, "1000 EB"),
    ],
)
def test_human_bytes(n: int, text: str) -> None:
    assert human_bytes(n) == text
