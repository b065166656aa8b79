"""What the integrations share: hyperparameters as config, metrics as records, imports only on use."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import importlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import recordkit as rk
from recordkit.integrations._common import Metrics, plain_config


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Optim:
    lr: float = 0.1
    betas: tuple[float, float] = (0.9, 0.99)


class Unstorable:
    def __init__(self, text: str = "Unstorable()") -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def test_hyperparameters_become_json_with_text_for_what_json_cannot_hold() -> None:
    config = plain_config(argparse.Namespace(
        optim=Optim(), color=Color.RED, path=Path("/data"), loss=Unstorable(), nan=float("nan"),
        nested={"a": [1, {"b": Optim(lr=0.2)}]}, long=Unstorable("x" * 5000),
    ))
    assert config["optim"] == {"lr": 0.1, "betas": [0.9, 0.99]}
    assert config["color"] == "red" and config["path"] == "/data" and config["loss"] == "Unstorable()"
    assert config["nan"] == "nan"
    assert config["nested"] == {"a": [1, {"b": {"lr": 0.2, "betas": [0.9, 0.99]}}]}
    assert len(config["long"]) == 1000
    from recordkit.capture import config_to_dict  # what a run stores as its config

    assert config_to_dict(config) == config


def test_a_non_mapping_config_is_a_clear_error() -> None:
    with pytest.raises(rk.ConfigError, match="mapping"):
        plain_config(3)


def test_metrics_become_numbers_and_what_cannot_be_stored_is_left_out_once() -> None:
    torch = pytest.importorskip("torch")
    metrics = Metrics(prefix="fit/")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = metrics({"loss": torch.tensor(0.5), "step": 3, "table": object(), "acc": 1})
        again = metrics({"table": object()})
    assert out == {"fit/loss": 0.5, "fit/step": 3, "fit/acc": 1}
    assert again == {}
    assert len([w for w in caught if "fit/table" in str(w.message)]) == 1
    assert Metrics()({"step": 1, "time": 2.0}) == {"step_value": 1, "time_value": 2.0}


def test_import_recordkit_imports_no_framework() -> None:
    code = ("import sys, recordkit, recordkit.integrations; "
            "print(sorted(m for m in ('lightning', 'pytorch_lightning', 'transformers', 'keras', 'torch') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "blocked", "extra"),
    [
        pytest.param("lightning", ("lightning", "pytorch_lightning"), "lightning", id="lightning"),
        pytest.param("transformers", ("transformers",), "transformers", id="transformers"),
        pytest.param("keras", ("keras",), "keras", id="keras"),
    ],
)
def test_a_missing_framework_names_the_extra(module: str, blocked: tuple[str, ...], extra: str) -> None:
    code = (f"import sys\nfor name in {blocked!r}: sys.modules[name] = None\n"
            "import recordkit as rk\n"
            f"try:\n    import recordkit.integrations.{module}\n"
            "except rk.MissingDependencyError as exc:\n    print('HINT', exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert f"pip install 'recordkit[{extra}]'" in out, out


@pytest.mark.parametrize("module, name", [
    ("recordkit.integrations.keras", "RecordkitCallback"),
    ("recordkit.integrations.transformers", "RecordkitCallback"),
    ("recordkit.integrations.lightning", "RecordkitLogger"),
])
def test_a_run_that_is_not_a_run_is_refused_at_construction(module: str, name: str) -> None:
    """run="x" fails where it is written, not at the first log deep inside the framework."""
    os.environ.setdefault("KERAS_BACKEND", "torch")  # as tests/integrations/test_keras.py: before Keras is imported
    integration = getattr(importlib.import_module(module), name)
    with pytest.raises(TypeError, match="run= takes a live recordkit Run"):
        integration(run="x")
