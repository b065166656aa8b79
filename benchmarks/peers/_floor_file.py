"""Floor: a plain file append, one unbuffered ``write()`` per step or record.

Each line is in the kernel's page cache when the call returns, so SIGKILL loses nothing; this is the
cheapest way to be durable against process death (not against power loss: nothing is fsynced).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from benchmarks.peers._workload import METRICS

FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND


class Steps:
    def __init__(self, folder: str) -> None:
        self.fd = os.open(os.path.join(folder, "steps.csv"), FLAGS, 0o644)

    def log(self, step: int, values: dict[str, float]) -> None:
        os.write(self.fd, f"{step},{','.join(map(repr, values.values()))}\n".encode())

    def close(self) -> None:
        os.close(self.fd)


def read_steps(folder: str) -> dict[int, int]:
    path = os.path.join(folder, "steps.csv")
    if not os.path.exists(path):
        return {}
    found: dict[int, int] = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            fields = line.rstrip("\n").split(",")
            if line.endswith("\n") and len(fields) == len(METRICS) + 1:
                found[int(fields[0])] = len(METRICS)
    return found


class Workload:
    def __init__(self, folder: str) -> None:
        self.fd = os.open(os.path.join(folder, "records.csv"), FLAGS, 0o644)

    def experiment(self, experiment: int) -> None:
        pass

    def episode(self, experiment: int, episode: int) -> Callable[[float, float], None]:
        fd, write, prefix = self.fd, os.write, f"{experiment},{episode},"

        def log(x: float, y: float) -> None:
            write(fd, f"{prefix}{x!r},{y!r}\n".encode())

        return log

    def end_experiment(self) -> None:
        pass

    def close(self) -> None:
        os.close(self.fd)


def mean_y(folder: str) -> dict[int, float]:
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    with open(os.path.join(folder, "records.csv"), encoding="utf-8") as lines:
        for line in lines:
            experiment, _episode, _x, y = line.split(",")
            e = int(experiment)
            sums[e] = sums.get(e, 0.0) + float(y)
            counts[e] = counts.get(e, 0) + 1
    return {e: sums[e] / counts[e] for e in sums}
