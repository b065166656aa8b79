"""Aim: ``Run.track(dict, step=…)`` per step or record (context ``{episode: N}`` for the workload), a run per
experiment with ``run["experiment"]``; system tracking and terminal capture off.

Aim's readers go through its index, which ``aim up`` keeps current in the background; without it a new run
is invisible, so the readers first rebuild it as ``aim storage reindex`` does (``Repo._recreate_index``),
and the query's time includes that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aim import Repo, Run


def _run(folder: str) -> Run:
    Repo.from_path(folder, init=True)
    return Run(repo=folder, experiment="peers", system_tracking_interval=None, capture_terminal_logs=False)


def _reader(folder: str) -> Repo:
    Repo.from_path(folder)._recreate_index()
    return Repo.from_path(folder)


class Steps:
    def __init__(self, folder: str) -> None:
        self.run = _run(folder)
        self._track = self.run.track

    def log(self, step: int, values: dict[str, float]) -> None:
        self._track(values, step=step)

    def close(self) -> None:
        self.run.close()


def read_steps(folder: str) -> dict[int, int]:
    found: dict[int, int] = {}
    for run in _reader(folder).iter_runs():
        for metric in run.metrics():
            if metric.name.startswith("metric_"):
                for step, _value in metric.values.items():  # indices_list() fails on a killed run's index
                    found[int(step)] = found.get(int(step), 0) + 1
    return found


class Workload:
    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.run: Any = None

    def experiment(self, experiment: int) -> None:
        self.run = _run(self.folder)
        self.run["experiment"] = experiment

    def episode(self, experiment: int, episode: int) -> Callable[[float, float], None]:
        track, context = self.run.track, {"episode": episode}

        def record(x: float, y: float) -> None:
            track({"x": x, "y": y}, context=context)

        return record

    def end_experiment(self) -> None:
        self.run.close()

    def close(self) -> None:
        pass


def mean_y(folder: str) -> dict[int, float]:
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    for metric in _reader(folder).query_metrics("metric.name == 'y'").iter():
        experiment = int(metric.run.get("experiment"))
        values = metric.values.values_list()
        sums[experiment] = sums.get(experiment, 0.0) + sum(values)
        counts[experiment] = counts.get(experiment, 0) + len(values)
    return {e: sums[e] / counts[e] for e in sorted(sums)}
