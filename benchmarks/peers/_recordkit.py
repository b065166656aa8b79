"""recordkit, as a user writes it: a run per experiment, ``run.scope(episode=…).log`` per record.

Sealing into Parquet is switched off for the workload (as in ``bench_query``): it is a background step
after ``finish()`` and would otherwise be counted in the close time; the records are durable in the
folder's SQLite file when ``finish()`` returns.
"""

from __future__ import annotations

from collections.abc import Callable

import recordkit as rk

COLLECTION = "peers"


class Steps:
    def __init__(self, folder: str) -> None:
        self.store = rk.open(folder)
        self.run = self.store.collection(COLLECTION).start_run(config={"bench": "peers"}, capture=False)
        self._log = self.run.log

    def log(self, step: int, values: dict[str, float]) -> None:
        self._log(values, step=step)

    def close(self) -> None:
        self.run.finish()
        self.store.close()


def read_steps(folder: str) -> dict[int, int]:
    store = rk.open(folder)
    try:
        columns = store.collection(COLLECTION).records.to_columns()
    finally:
        store.close()
    metrics = [values for key, values in columns.items() if key.startswith("metric_")]
    found: dict[int, int] = {}
    for i, step in enumerate(columns.get("step", [])):
        found[step] = found.get(step, 0) + sum(1 for values in metrics if values[i] is not None)
    return found


class Workload:
    def __init__(self, folder: str) -> None:
        self.store = rk.open(folder, seal=False)
        self.col = self.store.collection(COLLECTION)
        self.run: rk.Run | None = None

    def experiment(self, experiment: int) -> None:
        self.run = self.col.start_run(config={"experiment": experiment}, capture=False)

    def episode(self, experiment: int, episode: int) -> Callable[[float, float], None]:
        assert self.run is not None
        log = self.run.scope(episode=episode).log

        def record(x: float, y: float) -> None:
            log({"x": x, "y": y})

        return record

    def end_experiment(self) -> None:
        assert self.run is not None
        self.run.finish()

    def close(self) -> None:
        self.store.close()


def mean_y(folder: str) -> dict[int, float]:
    store = rk.open(folder)
    try:
        return {int(run.config["experiment"]): float(run.records.mean("y") or 0.0) for run in store.runs()}
    finally:
        store.close()
