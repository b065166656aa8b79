"""Config in runs: frozen once the run starts (new keys may be added), identity by config hash, queryable
beside the records. Converting configs, capturing the environment, seeding and redaction are tested in
tests/capture/."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from tests.conftest import fast_run

import recordkit as rk

pytestmark = pytest.mark.backends("sqlite", "postgres")


def test_update_config_adds_keys_but_never_changes_them(collection: rk.Collection) -> None:
    with fast_run(collection, config={"lr": 0.1, "opt": {"name": "sgd"}}) as run:
        run.update_config({"batch_size": 256}, opt={"momentum": 0.9})
        assert run.config["batch_size"] == 256 and run.config["opt"] == {"name": "sgd", "momentum": 0.9}
        with pytest.raises(rk.ConfigError, match=r"'lr' is frozen at 0\.1"):
            run.update_config(lr=0.2)
        with pytest.raises(rk.ConfigError, match=r"'opt\.name'"):
            run.update_config(opt={"name": "adam"})
        run.update_config(lr=0.1)  # the same value again is not a change
    stored = collection.run(run.number)
    assert dict(stored.config) == {"lr": 0.1, "opt": {"name": "sgd", "momentum": 0.9}, "batch_size": 256}
    meta = json.loads((run.folder / "meta.json").read_text())
    assert meta["config"]["batch_size"] == 256
    with pytest.raises(rk.RunStateError, match="no longer change"):
        run.update_config(extra=1)


def test_config_hash_identity_and_find_finished(collection: rk.Collection) -> None:
    config = {"lr": 0.1, "model": {"depth": 4}}
    assert collection.find_finished(config) is None
    with fast_run(collection, config={"model": {"depth": 4}, "lr": 0.1}) as done:
        pass
    with pytest.raises(RuntimeError), fast_run(collection, config={"lr": 0.2}):
        raise RuntimeError
    assert collection.find_finished(config) is not None
    assert collection.find_finished(config).id == done.id  # type: ignore[union-attr]
    assert collection.find_finished({"lr": 0.2}) is None  # it failed: the work is not done
    assert [r.id for r in collection.runs(config_hash=done.config_hash)] == [done.id]
    assert [r.id for r in collection.runs(config={"model.depth": 4})] == [done.id]
    assert [r.id for r in collection.runs(config={"model": {"depth": 4}})] == [done.id]
    assert len(collection.runs(status="failed")) == 1
    assert json.loads((done.folder / "meta.json").read_text())["config_hash"] == done.config_hash


def test_config_values_are_queryable_beside_records(collection: rk.Collection) -> None:
    for lr in (0.1, 0.2):
        with fast_run(collection, config={"lr": lr, "opt": {"name": "sgd"}}) as run:
            run.log(loss=lr * 10)
    assert [r["loss"] for r in collection.records.where(**{"config.lr": 0.2})] == [2.0]
    frame = collection.records.with_config().to_pandas()
    assert list(frame["config.lr"]) == [0.1, 0.2]
    assert list(frame["config.opt.name"]) == ["sgd", "sgd"]
    plain = collection.records.to_pandas()  # config columns come without asking, after the run fields
    assert list(plain["config.lr"]) == [0.1, 0.2] and list(plain.columns)[-2:] == ["config.lr", "config.opt.name"]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@x"})


def test_find_finished_with_code_takes_the_commit_and_the_diff_into_account(
    collection: rk.Collection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: a code change is not "already done" when asked with code=True (a real git repository)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "train.py").write_text("lr = 0.1\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-qm", "first")
    monkeypatch.chdir(repo)
    config = {"lr": 0.1}
    with collection.start_run(config=config, capture=["git"]) as done:
        pass
    assert done.code_hash is not None
    assert collection.find_finished(config, code=True).id == done.id  # type: ignore[union-attr]
    (repo / "train.py").write_text("lr = 0.1\nnew_trick = True\n")  # an uncommitted change
    assert collection.find_finished(config, code=True) is None
    assert collection.find_finished(config).id == done.id  # type: ignore[union-attr]  # config alone: done
    with collection.start_run(config=config, capture=["git"]) as again:
        pass
    assert collection.find_finished(config, code=True).id == again.id  # type: ignore[union-attr]
    _git(repo, "commit", "-qam", "second")  # committed: a new commit, no diff
    assert collection.find_finished(config, code=True) is None
    monkeypatch.chdir(tmp_path)  # outside any repository the code identity is unknown
    with pytest.raises(rk.ConfigError, match="needs a git repository"):
        collection.find_finished(config, code=True)
