"""Capture wired into runs: config conversion and freezing, identity, environment, seeding, secrets."""

from __future__ import annotations

import argparse
import configparser
import dataclasses
import json
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import everything_stored, fast_run

import recordkit as rk

pytestmark = pytest.mark.backends("sqlite", "postgres")


@dataclasses.dataclass
class TrainConfig:
    lr: float = 0.1
    layers: tuple[int, ...] = (64, 32)


def test_configs_of_every_common_kind(collection: rk.Collection) -> None:
    parser = configparser.ConfigParser()
    parser.read_string("[DEFAULT]\nseed = 1\n[optim]\nlr = 0.1\n")
    cases = [
        (argparse.Namespace(lr=0.1, epochs=3), {"lr": 0.1, "epochs": 3}),
        (TrainConfig(), {"lr": 0.1, "layers": [64, 32]}),
        ({"optim": {"lr": 0.1}}, {"optim": {"lr": 0.1}}),
    ]
    for given, expected in cases:
        with fast_run(collection, config=given) as run:
            assert run.config == expected or dict(run.config) == expected
    with fast_run(collection, config=parser) as run:
        assert run.config["optim"]["lr"] == "0.1" and run.config["optim"]["seed"] == "1"


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
    assert "config.lr" not in collection.records.to_pandas().columns


def test_environment_is_captured_and_written_to_meta(collection: rk.Collection) -> None:
    with collection.start_run() as run:
        pass
    for part in ("system", "python", "hardware", "packages", "env_vars", "process"):
        assert part in run.env
    meta = json.loads((run.folder / "meta.json").read_text())
    assert meta["env"]["python"]["version"] == run.env["python"]["version"]


def test_capture_parts_can_be_switched_off(collection: rk.Collection) -> None:
    with collection.start_run(capture=["python"]) as run:
        pass
    assert set(run.env) == {"python"}


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


def test_git_diff_is_stored_as_a_file_of_the_run(
    tmp_path: Path, collection: rk.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "train.py").write_text("lr = 0.1\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "first")
    (repo / "train.py").write_text("lr = 0.2\n")
    _git(repo, "remote", "add", "origin", "https://user:hunter2@example.com/team/repo.git")
    monkeypatch.chdir(repo)
    with collection.start_run() as run:
        pass
    assert run.env["git"]["dirty"] is True
    assert "+lr = 0.2" in (run.folder / "git.diff").read_text()
    assert run.code_hash is not None
    assert "hunter2" not in (run.folder / "meta.json").read_text()


def test_secrets_never_reach_the_store(
    collection: rk.Collection, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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


def test_same_seed_draws_the_same_numbers(collection: rk.Collection) -> None:
    draws = []
    for _ in range(2):
        with collection.start_run(capture=False, seed=1234) as run:
            draws.append((random.random(), float(np.random.rand())))
    assert draws[0] == draws[1]
    assert run.env["seed"]["seed"] == 1234
    rk.seed_everything(7)
    first = random.random()
    rk.seed_everything(7)
    assert random.random() == first
