"""MLflow with its default local tracking store (SQLite, here in the subject's folder) and synchronous
logging (the default): ``mlflow.log_metrics(dict, step=…)`` per step or record. The hierarchy is MLflow's
own: a run per experiment (param ``experiment``) with a nested run per episode. Read back with
``MlflowClient`` (``search_runs``, ``get_metric_history``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

EXPERIMENT = "peers"


def _uri(folder: str) -> str:
    return "sqlite:///" + os.path.join(os.path.abspath(folder), "mlflow.db")


def _use(folder: str) -> None:
    mlflow.set_tracking_uri(_uri(folder))
    mlflow.set_experiment(EXPERIMENT)


def _client(folder: str) -> tuple[MlflowClient, str]:
    client = MlflowClient(tracking_uri=_uri(folder))
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        raise ValueError(f"no MLflow experiment {EXPERIMENT!r} in {folder}")
    return client, experiment.experiment_id


class Steps:
    def __init__(self, folder: str) -> None:
        _use(folder)
        self.run = mlflow.start_run(run_name="steps")
        self._log = mlflow.log_metrics

    def log(self, step: int, values: dict[str, float]) -> None:
        self._log(values, step=step)

    def close(self) -> None:
        mlflow.end_run()


def read_steps(folder: str) -> dict[int, int]:
    if not os.path.exists(os.path.join(folder, "mlflow.db")):
        return {}
    client, experiment_id = _client(folder)
    found: dict[int, int] = {}
    for run in client.search_runs([experiment_id]):
        for key in run.data.metrics:
            for metric in client.get_metric_history(run.info.run_id, key):
                found[metric.step] = found.get(metric.step, 0) + 1
    return found


class Workload:
    def __init__(self, folder: str) -> None:
        _use(folder)
        self.seq = 0

    def experiment(self, experiment: int) -> None:
        mlflow.start_run(run_name=f"experiment-{experiment}")
        mlflow.log_param("experiment", experiment)
        self.seq = 0

    def episode(self, experiment: int, episode: int) -> Callable[[float, float], None]:
        if episode:
            mlflow.end_run()  # the previous episode's nested run
        mlflow.start_run(run_name=f"episode-{episode}", nested=True)
        log = mlflow.log_metrics

        def record(x: float, y: float) -> None:
            self.seq += 1
            log({"x": x, "y": y}, step=self.seq)

        return record

    def end_experiment(self) -> None:
        mlflow.end_run()  # the last episode
        mlflow.end_run()  # the experiment

    def close(self) -> None:
        pass


def mean_y(folder: str) -> dict[int, float]:
    client, experiment_id = _client(folder)
    runs: list[Any] = client.search_runs([experiment_id], max_results=10_000)
    experiment_of = {r.info.run_id: int(r.data.params["experiment"]) for r in runs if "experiment" in r.data.params}
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    for run in runs:
        parent = run.data.tags.get("mlflow.parentRunId")
        if parent in experiment_of:
            ys = [m.value for m in client.get_metric_history(run.info.run_id, "y")]
            e = experiment_of[parent]
            sums[e] = sums.get(e, 0.0) + sum(ys)
            counts[e] = counts.get(e, 0) + len(ys)
    return {e: sums[e] / counts[e] for e in sorted(sums)}
