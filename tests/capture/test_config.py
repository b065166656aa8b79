"""recordkit.capture.config: configs of every common kind as plain JSON, clear errors, the config hash."""

from __future__ import annotations

import argparse
import configparser
import dataclasses
import enum
import hashlib
import json
import pathlib
import types
from typing import Any, ClassVar

import numpy as np
import pytest
from tests.conftest import fast_run

import recordkit as rk
from recordkit._exceptions import ConfigError
from recordkit.capture import config_hash, config_to_dict


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


@dataclasses.dataclass
class ModelConfig:
    lr: float = 0.1
    layers: tuple[int, ...] = (64, 32)


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
# Configs given to a run
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.backends("sqlite", "postgres")
def test_configs_of_every_common_kind(collection: rk.Collection) -> None:
    parser = configparser.ConfigParser()
    parser.read_string("[DEFAULT]\nseed = 1\n[optim]\nlr = 0.1\n")
    cases = [
        (argparse.Namespace(lr=0.1, epochs=3), {"lr": 0.1, "epochs": 3}),
        (ModelConfig(), {"lr": 0.1, "layers": [64, 32]}),
        ({"optim": {"lr": 0.1}}, {"optim": {"lr": 0.1}}),
    ]
    for given, expected in cases:
        with fast_run(collection, config=given) as run:
            assert run.config == expected or dict(run.config) == expected
    with fast_run(collection, config=parser) as run:
        assert run.config["optim"]["lr"] == "0.1" and run.config["optim"]["seed"] == "1"


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
