"""A small but real training to record: what ``recordkit demo`` runs.

A two-layer perceptron (tanh hidden layer, sigmoid output) learns the "two moons" dataset with
mini-batch gradient descent, written in numpy so the demo needs nothing else. Each run tries one
learning rate. Every epoch gets a scope (``epoch=…``) with two children, ``phase="train"`` (one
record per batch) and ``phase="eval"`` (one record per epoch, on held-out data), so the flat view
can be filtered by either::

    col.records.where(phase="eval").to_pandas()
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from recordkit._store import Store
from recordkit._store import open as open_store
from recordkit.runs.run import Run

#: The collection the demo records into.
COLLECTION = "demo"
# Learning rates the runs try, largest last; more runs than rungs repeat them with other seeds.
_LADDER = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def learning_rates(runs: int) -> list[float]:
    """The learning rate of each of ``runs`` runs: the top of the ladder, e.g. 0.1, 0.3, 1.0 for 3."""
    if runs <= len(_LADDER):
        return list(_LADDER[len(_LADDER) - runs :])
    return [_LADDER[i % len(_LADDER)] for i in range(runs)]


def two_moons(n: int, noise: float, rng: Any) -> tuple[Any, Any]:
    """``n`` points of two interleaving half circles (features ``(n, 2)``, labels 0/1 ``(n,)``)."""
    half = n // 2
    upper = rng.uniform(0.0, np.pi, half)
    lower = rng.uniform(0.0, np.pi, n - half)
    x = np.concatenate(
        [
            np.stack([np.cos(upper), np.sin(upper)], axis=1),
            np.stack([1.0 - np.cos(lower), 0.5 - np.sin(lower)], axis=1),
        ]
    )
    x = x + rng.normal(0.0, noise, x.shape)
    y = np.concatenate([np.zeros(half), np.ones(n - half)])
    order = rng.permutation(n)
    return x[order], y[order]


class TinyMLP:
    """2 → hidden (tanh) → 1 (sigmoid), trained on binary cross-entropy."""

    def __init__(self, hidden: int, rng: Any) -> None:
        self.w1 = rng.normal(0.0, 1.0, (2, hidden))
        self.b1 = np.zeros(hidden)
        self.w2 = rng.normal(0.0, 1.0 / np.sqrt(hidden), (hidden, 1))
        self.b2 = np.zeros(1)

    def forward(self, x: Any) -> tuple[Any, Any]:
        hidden = np.tanh(x @ self.w1 + self.b1)
        logits = (hidden @ self.w2 + self.b2)[:, 0]
        return hidden, 1.0 / (1.0 + np.exp(-logits))

    @staticmethod
    def loss_and_accuracy(p: Any, y: Any) -> tuple[float, float]:
        eps = 1e-12
        loss = -np.mean(y * np.log(p + eps) + (1.0 - y) * np.log(1.0 - p + eps))
        return float(loss), float(np.mean((p > 0.5) == (y > 0.5)))

    def train_step(self, x: Any, y: Any, lr: float) -> tuple[float, float]:
        """One gradient step on a batch; returns the batch's loss and accuracy before the step."""
        hidden, p = self.forward(x)
        loss, acc = self.loss_and_accuracy(p, y)
        d_logits = ((p - y) / len(y))[:, None]
        d_hidden = (d_logits @ self.w2.T) * (1.0 - hidden**2)
        self.w2 -= lr * hidden.T @ d_logits
        self.b2 -= lr * d_logits.sum(axis=0)
        self.w1 -= lr * x.T @ d_hidden
        self.b1 -= lr * d_hidden.sum(axis=0)
        return loss, acc

    def evaluate(self, x: Any, y: Any) -> tuple[float, float]:
        return self.loss_and_accuracy(self.forward(x)[1], y)


def train(run: Run, config: dict[str, Any]) -> None:
    """Fit a TinyMLP as ``config`` says, logging into ``run`` (scopes per epoch and phase)."""
    data_rng = np.random.default_rng(config["data_seed"])
    x_train, y_train = two_moons(config["train_size"], config["noise"], data_rng)
    x_eval, y_eval = two_moons(config["eval_size"], config["noise"], data_rng)
    rng = np.random.default_rng(config["seed"])
    model = TinyMLP(config["hidden"], rng)
    batch_size = config["batch_size"]
    for epoch in range(config["epochs"]):
        in_epoch = run.scope(epoch=epoch)
        training = in_epoch.scope(phase="train")
        order = rng.permutation(len(y_train))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            loss, acc = model.train_step(x_train[batch], y_train[batch], config["lr"])
            training.log(loss=loss, acc=acc)
            run.next_step()
        # A series of its own: run.summary()["phase=eval/loss"] is the latest held-out score.
        loss, acc = model.evaluate(x_eval, y_eval)
        in_epoch.scope(phase="eval").log(loss=loss, acc=acc)
        run.next_epoch()


def run_demo(
    store_path: str | os.PathLike[str] | Store | None = None,
    runs: int = 3,
    epochs: int = 20,
    seed: int = 0,
    *,
    capture: bool = True,
) -> list[Run]:
    """Record ``runs`` real trainings (one learning rate each) in collection ``"demo"``.

    Parameters
    ----------
    store_path
        A store path (created if missing; default ``RECORDKIT_STORE`` or ``./records``) or an open Store.
    runs
        How many runs; their learning rates are :func:`learning_rates` (0.1, 0.3, 1.0 for 3).
    epochs
        Epochs per run (16 batches of 32 each).
    seed
        Seeds the dataset and the model initialisation; equal seeds give equal losses.
    capture
        Capture the environment (python, system, git...) as every run does by default.

    Returns
    -------
    list[Run]
        The finished runs, oldest first (readable: ``run.summary()``, ``run.records``).

    Examples
    --------
    >>> from recordkit._demo import run_demo
    >>> runs = run_demo(tmp_path / "records", runs=2, epochs=3)       # doctest: +SKIP
    >>> [run.summary()["phase=eval/loss"]["last"] < 0.7 for run in runs]    # doctest: +SKIP
    [True, True]
    """
    if runs < 1 or epochs < 1:
        raise ValueError(f"runs and epochs must be at least 1, not runs={runs!r}, epochs={epochs!r}")
    store = store_path if isinstance(store_path, Store) else open_store(store_path)
    collection = store.collection(COLLECTION)
    finished = []
    for index, lr in enumerate(learning_rates(runs)):
        config = {
            "lr": lr,
            "epochs": epochs,
            "batch_size": 32,
            "hidden": 16,
            "dataset": "two_moons",
            "train_size": 512,
            "eval_size": 256,
            "noise": 0.2,
            "data_seed": seed,
            "seed": seed + index,
        }
        with collection.start_run(config=config, name=f"lr={lr:g}", tags=["demo", "mlp"], capture=capture) as run:
            train(run, config)
        finished.append(run)
    return finished
