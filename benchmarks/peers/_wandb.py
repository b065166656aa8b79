"""wandb in offline mode (``WANDB_MODE=offline``, set by the parent too): a run per experiment,
``run.log(dict)`` per step or record; everything is read back from the runs' offline ``.wandb`` files."""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable
from typing import Any

import wandb

from benchmarks.peers._wandb_file import chunks, history

os.environ["WANDB_MODE"] = "offline"


def _init(folder: str, **kwargs: Any) -> Any:
    settings = wandb.Settings(console="off", x_disable_stats=True, save_code=False, disable_git=True)
    return wandb.init(project="peers", dir=folder, mode="offline", settings=settings, **kwargs)


def _run_files(folder: str) -> list[str]:
    return sorted(glob.glob(os.path.join(folder, "wandb", "offline-run-*", "run-*.wandb")))


class Steps:
    def __init__(self, folder: str) -> None:
        self.run = _init(folder)
        self._log = self.run.log

    def log(self, step: int, values: dict[str, float]) -> None:
        self._log(values, step=step)

    def close(self) -> None:
        self.run.finish()


def read_steps(folder: str) -> dict[int, int]:
    found: dict[int, int] = {}
    for path in _run_files(folder):
        for step, row in history(path):
            found[step] = found.get(step, 0) + sum(1 for key in row if key.startswith("metric_"))
    return found


class Workload:
    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.run: Any = None

    def experiment(self, experiment: int) -> None:
        self.run = _init(self.folder, config={"experiment": experiment})

    def episode(self, experiment: int, episode: int) -> Callable[[float, float], None]:
        log = self.run.log

        def record(x: float, y: float) -> None:
            log({"episode": episode, "x": x, "y": y})

        return record

    def end_experiment(self) -> None:
        self.run.finish()

    def close(self) -> None:
        pass


def _experiment(path: str) -> int:
    from wandb.proto import wandb_internal_pb2

    with open(path, "rb") as f:
        data = f.read()
    for body in chunks(data):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(body)
        kind = record.WhichOneof("record_type")
        items = record.run.config.update if kind == "run" else record.config.update if kind == "config" else []
        for item in items:
            if item.key == "experiment":
                return int(json.loads(item.value_json))
    raise ValueError(f"no experiment in the config of {path}")


def mean_y(folder: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for path in _run_files(folder):
        ys = [row["y"] for _step, row in history(path) if "y" in row]
        out[_experiment(path)] = sum(ys) / len(ys)
    return out
