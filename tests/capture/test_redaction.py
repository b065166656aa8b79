"""recordkit.capture.redaction: secrets in environment variables, command lines, URLs and git diffs."""

from __future__ import annotations

import hashlib
import json
import pathlib
import sys
from pathlib import Path

import pytest
from tests.capture.conftest import needs_git
from tests.conftest import everything_stored

import recordkit as rk
from recordkit.capture import REDACTED, capture_environment, capture_git, redact_env, strip_url_credentials


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
# Git diffs
# ---------------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------------
# Nothing secret reaches the store
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.backends("sqlite", "postgres")
def test_secrets_never_reach_the_store(
    collection: rk.Collection, store_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Outside this repository: an uncommitted edit of this very file would put the two values into the
    # stored git diff, where they stand as setenv("NAME", "value"), which diff redaction does not read.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MY_API_TOKEN", "tok-very-secret-1")
    monkeypatch.setenv("DB_PASSWORD", "pw-very-secret-2")
    monkeypatch.setenv("HARMLESS", "visible-value")
    with collection.start_run() as run:
        run.log(x=1.0)
    everything = everything_stored(collection.store)
    assert b"tok-very-secret-1" not in everything and b"pw-very-secret-2" not in everything
    assert run.env["env_vars"]["HARMLESS"] == "visible-value"


def test_allow_and_deny_lists_come_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_API_TOKEN", "tok-kept")
    monkeypatch.setenv("INTERNAL_URL", "http://intranet")
    store = rk.open(tmp_path / "r", env_allow=("MY_API_TOKEN",), env_deny=("INTERNAL_*",))
    with store.collection("c").start_run(capture=["env_vars"]) as run:
        pass
    assert run.env["env_vars"]["MY_API_TOKEN"] == "tok-kept"
    assert run.env["env_vars"]["INTERNAL_URL"] != "http://intranet"
