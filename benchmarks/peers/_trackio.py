"""trackio in local mode: ``trackio.init(project, name=…)`` per experiment, ``trackio.log(dict, step=…)`` per
step or record, ``trackio.finish()``. Its project database lives under ``TRACKIO_DIR``, pointed at the
subject's folder before trackio is imported (it reads the variable once, at import); read back with
trackio's own ``SQLiteStorage.get_logs``."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

PROJECT = "peers"


def prepare(folder: str) -> None:
    """Import trackio (and its storage) with ``TRACKIO_DIR`` in ``folder``, before anything is timed."""
    _trackio(folder)
    import trackio.sqlite_storage  # noqa: F401


def _trackio(folder: str) -> Any:
    os.environ["TRACKIO_DIR"] = os.path.join(os.path.abspath(folder), "trackio")
    import trackio

    return trackio


def _init(trackio: Any, name: str, config: dict[str, Any]) -> Any:
    return trackio.init(project=PROJECT, name=name, config=config, embed=False, auto_log_gpu=False, auto_log_cpu=False)


def _logs(folder: str, run: str | None = None) -> list[dict[str, Any]]:
    _trackio(folder)
    from trackio.sqlite_storage import SQLiteStorage

    return list(SQLiteStorage.get_logs(PROJECT, run=run))


class Steps:
    def __init__(self, folder: str) -> None:
        self.trackio = _trackio(folder)
        self.run = _init(self.trackio, "steps", {"bench": "peers"})
        self._log = self.trackio.log

    def log(self, step: int, values: dict[str, float]) -> None:
        self._log(values, step=step)

    def close(self) -> None:
        self.trackio.finish()


def read_steps(folder: str) -> dict[int, int]:
    found: dict[int, int] = {}
    for row in _logs(folder, "steps"):
        step = int(row["step"])
        found[step] = found.get(step, 0) + sum(1 for key in row if key.startswith("metric_"))
    return found


class Workload:
    def __init__(self, folder: str) -> None:
        self.trackio = _trackio(folder)

    def experiment(self, experiment: int) -> None:
        _init(self.trackio, f"experiment-{experiment}", {"experiment": experiment})

    def episode(self, experiment: int, episode: int) -> Callable[[float, float], None]:
        log = self.trackio.log

        def record(x: float, y: float) -> None:
            log({"episode": episode, "x": x, "y": y})

        return record

    def end_experiment(self) -> None:
        self.trackio.finish()

    def close(self) -> None:
        pass


def mean_y(folder: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for experiment in range(3):
        ys = [row["y"] for row in _logs(folder, f"experiment-{experiment}") if "y" in row]
        if ys:
            out[experiment] = sum(ys) / len(ys)
    return out
