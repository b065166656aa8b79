"""Fixtures of the capture tests: git repositories in known states, with the user's git config kept out."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

from recordkit.capture import capture_git

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git program")


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
    """Run git in ``repo`` and return its output."""
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
