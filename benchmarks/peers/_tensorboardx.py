"""tensorboardX with its defaults: a ``SummaryWriter`` per experiment, ``add_scalar`` per value (10 per step;
x and y per record under tags ``episode_N/x``). Read back with tensorboard's own event file loader.
Values are stored as float32 (``simple_value``), so the query's answer is rounded accordingly."""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterator

from tensorboardX import SummaryWriter


def _scalars(folder: str) -> Iterator[tuple[int, str, float]]:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    for path in sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*"))):
        for event in EventFileLoader(path).Load():
            for value in event.summary.value:
                # The loader turns a scalar's simple_value into a 0-d float tensor.
                number = value.tensor.float_val[0] if value.HasField("tensor") else value.simple_value
                yield event.step, value.tag, number


class Steps:
    def __init__(self, folder: str) -> None:
        self.writer = SummaryWriter(folder)
        self._add = self.writer.add_scalar

    def log(self, step: int, values: dict[str, float]) -> None:
        add = self._add
        for key, value in values.items():
            add(key, value, step)

    def close(self) -> None:
        self.writer.close()


def read_steps(folder: str) -> dict[int, int]:
    found: dict[int, int] = {}
    for step, tag, _value in _scalars(folder):
        if tag.startswith("metric_"):
            found[step] = found.get(step, 0) + 1
    return found


class Workload:
    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.writer: SummaryWriter | None = None
        self.seq = 0

    def experiment(self, experiment: int) -> None:
        self.writer = SummaryWriter(os.path.join(self.folder, f"experiment_{experiment}"))
        self.seq = 0

    def episode(self, experiment: int, episode: int) -> Callable[[float, float], None]:
        assert self.writer is not None
        add, x_tag, y_tag = self.writer.add_scalar, f"episode_{episode}/x", f"episode_{episode}/y"

        def record(x: float, y: float) -> None:
            self.seq += 1
            add(x_tag, x, self.seq)
            add(y_tag, y, self.seq)

        return record

    def end_experiment(self) -> None:
        assert self.writer is not None
        self.writer.close()

    def close(self) -> None:
        pass


def mean_y(folder: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for sub in sorted(glob.glob(os.path.join(folder, "experiment_*"))):
        ys = [value for _step, tag, value in _scalars(sub) if tag.endswith("/y")]
        out[int(sub.rsplit("_", 1)[1])] = sum(ys) / len(ys)
    return out
