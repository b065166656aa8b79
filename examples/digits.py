"""Train a small PyTorch network on scikit-learn's digits and record the training with recordkit.

    python examples/digits.py                      # 10 epochs into ./records, a few seconds on a CPU
    python examples/digits.py --epochs 3 --store ./digits-records --hidden 32
    python examples/digits.py --device cuda        # on a GPU: the logged loss stays a CUDA tensor

The 1,797 8×8 images of handwritten digits ship with scikit-learn: nothing is downloaded. The run
holds the config (the arguments), the environment, the training loss at every step (logged as a
tensor: recordkit converts it off the training thread), the validation accuracy of every epoch, and a
checkpoint per epoch of which the best by validation accuracy is kept. Read it back with
``recordkit ls digits`` or ``rk.open("records").collection("digits").records``.

``benchmarks/bench_training.py`` times :func:`train_epoch` with and without a run.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import torch
from sklearn.datasets import load_digits

import recordkit as rk

Split = tuple[torch.Tensor, torch.Tensor]


def load(seed: int = 0, device: str = "cpu") -> tuple[Split, Split]:
    """The digits as (train, validation) splits of (pixels scaled to [0, 1], labels), 80/20."""
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32, device=device)
    y = torch.tensor(digits.target, dtype=torch.long, device=device)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed)).to(device)
    cut = int(0.8 * len(y))
    return (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])


def make_model(hidden: int = 64) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))


def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, train: Split, batch_size: int,
                generator: torch.Generator, run: rk.Run | None = None) -> int:
    """One pass over ``train`` in shuffled batches; with a ``run``, log each step's loss. Returns the steps."""
    model.train()
    x, y = train
    order = torch.randperm(len(y), generator=generator).to(x.device)
    steps = 0
    for start in range(0, len(y), batch_size):
        batch = order[start:start + batch_size]
        loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps += 1
        if run is not None:
            run.next_step()
            run.log({"loss": loss.detach()})  # a tensor: converted by recordkit's writer thread (no sync here)
    return steps


@torch.no_grad()
def accuracy(model: torch.nn.Module, data: Split) -> float:
    model.eval()
    x, y = data
    return float((model(x).argmax(dim=1) == y).float().mean())


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="records", help="the recordkit store (folder or postgresql:// URL)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="where to train: cpu, cuda, cuda:1, mps…")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> Any:
    args = parse(argv)
    train, val = load(args.seed, args.device)
    store = rk.open(args.store)
    config = {key: value for key, value in vars(args).items() if key != "store"}
    with store.collection("digits").start_run(config=config, seed=args.seed) as run:
        model = make_model(args.hidden).to(args.device)
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
        generator = torch.Generator().manual_seed(args.seed)
        run.retention = rk.Retention(keep_best=1, metric="val_acc", mode="max")
        for epoch in range(args.epochs):
            with run.timed(f"epoch/{epoch}"):
                train_epoch(model, optimizer, train, args.batch_size, generator, run)
            acc = accuracy(model, val)
            run.log({"val_acc": acc, "epoch": epoch})
            run.save_model(model, "mlp", optimizer=optimizer, metrics={"val_acc": acc})
            run.next_epoch()
            print(f"epoch {epoch}: val_acc {acc:.3f}")
    best = run.checkpoints("mlp")[-1]
    print(f"run {run.id} in {store.path or args.store}: best val_acc {best.metrics['val_acc']:.3f} "
          f"(epoch {best.epoch}, {best.path.name})")
    store.close()
    return run


if __name__ == "__main__":
    main()
