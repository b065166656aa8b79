"""Seed every random number generator a training script is likely to use, with one call."""

from __future__ import annotations

import os
import sys
from typing import Any

from recordkit._exceptions import ConfigError

__all__ = ["EnvRestore", "seed_everything"]


class EnvRestore:
    """Puts an environment variable back as it was when made, at ``stop()``: a run's service.

    ``start_run(seed=…)`` sets ``PYTHONHASHSEED`` for the run's child processes; when the run ends the
    variable goes back, so a later run in the same process neither inherits it nor records it in its
    captured environment as if it had been seeded.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.previous = os.environ.get(name)

    def stop(self, error: BaseException | None = None) -> None:
        if self.previous is None:
            os.environ.pop(self.name, None)
        else:
            os.environ[self.name] = self.previous


def seed_everything(seed: int) -> dict[str, Any]:
    """Seed every random number generator a training script is likely to use.

    Seeds :mod:`random`, numpy's global generator, and torch (CPU and every CUDA device) when torch is
    installed: the caller asked for everything, so torch is imported if it is not yet. Sets
    ``PYTHONHASHSEED`` in ``os.environ`` so child processes (e.g. data-loader workers started with
    spawn) hash strings the same way; the running interpreter's hashing cannot change.

    Parameters
    ----------
    seed
        An integer in ``[0, 2**32)``, the range numpy accepts.

    Returns
    -------
    dict
        ``{"seed": seed, "random": True, "numpy": bool, "torch": bool, "torch_cuda": bool,
        "pythonhashseed": True}``, saying what was seeded.

    Raises
    ------
    TypeError
        If ``seed`` is not an integer.
    ConfigError
        If ``seed`` is outside ``[0, 2**32)``.

    Examples
    --------
    >>> import random
    >>> _ = seed_everything(7); a = random.random()
    >>> _ = seed_everything(7); a == random.random()
    True
    """
    import operator
    import random

    if isinstance(seed, bool):
        raise TypeError(f"seed must be an int, not the bool {seed!r}")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise TypeError(f"seed must be an int, not a {type(seed).__name__!r}: {seed!r}") from None
    if not 0 <= seed < 2**32:
        raise ConfigError(f"seed {seed!r} is out of range; use an int from 0 to 2**32 - 1")
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    seeded: dict[str, Any] = {
        "seed": seed,
        "random": True,
        "numpy": False,
        "torch": False,
        "torch_cuda": False,
        "pythonhashseed": True,
    }
    try:
        import numpy
    except ImportError:
        pass
    else:
        numpy.random.seed(seed)
        seeded["numpy"] = True
    torch = sys.modules.get("torch")
    if torch is None:
        import importlib.util

        if importlib.util.find_spec("torch") is not None:
            import torch
    if torch is not None:
        torch.manual_seed(seed)  # seeds the CPU generator and, lazily, every CUDA device
        seeded["torch"] = True
        cuda = getattr(torch, "cuda", None)
        if cuda is not None and cuda.is_available():
            cuda.manual_seed_all(seed)
            seeded["torch_cuda"] = True
    return seeded

