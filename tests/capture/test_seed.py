"""recordkit.capture.seed: seed_everything, directly and through a run."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import pytest

import recordkit as rk
from recordkit._exceptions import ConfigError
from recordkit.capture import seed_everything


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


@pytest.mark.backends("sqlite", "postgres")
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
