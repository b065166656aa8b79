"""recordkit.capture.git: commit, branch, upstream, remote, dirty flag, untracked files and the diff."""

from __future__ import annotations

import hashlib
import json
import pathlib
import sys
from pathlib import Path

import pytest
from tests.capture.conftest import git, needs_git

import recordkit as rk
from recordkit.capture import capture_environment, capture_git


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
# The diff stored with a run
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.backends("sqlite", "postgres")
def test_git_diff_is_stored_as_a_file_of_the_run(
    tmp_path: Path, collection: rk.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "train.py").write_text("lr = 0.1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    (repo / "train.py").write_text("lr = 0.2\n")
    git(repo, "remote", "add", "origin", "https://user:hunter2@example.com/team/repo.git")
    monkeypatch.chdir(repo)
    with collection.start_run() as run:
        pass
    assert run.env["git"]["dirty"] is True
    assert "+lr = 0.2" in (run.folder / "git.diff").read_text()
    assert run.code_hash is not None
    assert "hunter2" not in (run.folder / "meta.json").read_text()
