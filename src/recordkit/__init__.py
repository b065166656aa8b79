"""recordkit: record everything about machine-learning experiments; query them all as one flat table.

>>> import recordkit as rk
>>> store = rk.open("records")                                # doctest: +SKIP
>>> with store.collection("my_study").start_run(config={"lr": 0.1}) as run:   # doctest: +SKIP
...     run.log(loss=0.3)
"""

import importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING

from recordkit._api import config, current_run, finish, init, log, seed_everything, summary
from recordkit._cleanup import CleanupReport
from recordkit._exceptions import (
    ConfigError,
    InvalidNameError,
    MirrorError,
    MissingDependencyError,
    NoActiveRunError,
    QueryError,
    RecordkitError,
    RecordkitWarning,
    RunError,
    RunFileNotFoundError,
    RunNotFoundError,
    RunStateError,
    StepOrderError,
    StepOrderWarning,
    StorageConflictError,
    StorageError,
    StorageUnavailableError,
    StoreError,
    StoreNotFoundError,
)
from recordkit._settings import Settings
from recordkit._store import Collection, Store, open
from recordkit._version import __version__
from recordkit.read.records import Record, Records
from recordkit.read.sync import SyncReport
from recordkit.runs.distributed import DistInfo, dist_info
from recordkit.runs.run import Run, RunStatus, Scope

if _TYPE_CHECKING:
    from recordkit.media import Histogram, Image, Table
    from recordkit.read.records import Series
    from recordkit.read.sql import SQLResult
    from recordkit.runs.checkpoints import Checkpoint, LoadedCheckpoint, Retention
    from recordkit.runs.events import Event, EventContext, Events, Timed
    from recordkit.runs.files import FileInfo
    from recordkit.runs.lineage import Link
    from recordkit.sinks.base import Mirror, MirrorRecord
    from recordkit.sinks.csv import CSV
    from recordkit.sinks.tensorboard import TensorBoard

# Names loaded on first use: their modules are only needed by stores with mirrors and by SQL, and
# `import recordkit` stays fast (DESIGN.md §5).
_LAZY = {
    "CSV": "recordkit.sinks.csv",
    "Mirror": "recordkit.sinks.base",
    "MirrorRecord": "recordkit.sinks.base",
    "TensorBoard": "recordkit.sinks.tensorboard",
    "SQLResult": "recordkit.read.sql",
    "Checkpoint": "recordkit.runs.checkpoints",
    "LoadedCheckpoint": "recordkit.runs.checkpoints",
    "Retention": "recordkit.runs.checkpoints",
    "Event": "recordkit.runs.events",
    "EventContext": "recordkit.runs.events",
    "Events": "recordkit.runs.events",
    "Timed": "recordkit.runs.events",
    "FileInfo": "recordkit.runs.files",
    "Link": "recordkit.runs.lineage",
    "Series": "recordkit.read.records",
    "Histogram": "recordkit.media",
    "Image": "recordkit.media",
    "Table": "recordkit.media",
}


def __getattr__(name: str) -> object:
    if name == "run":  # rk.run: the current run (or None), looked up at every read
        return current_run()
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'recordkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "run"})


__all__ = [
    "CSV",
    "Checkpoint",
    "CleanupReport",
    "Collection",
    "ConfigError",
    "DistInfo",
    "Event",
    "EventContext",
    "Events",
    "FileInfo",
    "Histogram",
    "Image",
    "InvalidNameError",
    "Link",
    "LoadedCheckpoint",
    "Mirror",
    "MirrorError",
    "MirrorRecord",
    "MissingDependencyError",
    "NoActiveRunError",
    "QueryError",
    "Record",
    "RecordkitError",
    "RecordkitWarning",
    "Records",
    "Retention",
    "Run",
    "RunError",
    "RunFileNotFoundError",
    "RunNotFoundError",
    "RunStateError",
    "RunStatus",
    "SQLResult",
    "Scope",
    "Series",
    "Settings",
    "StepOrderError",
    "StepOrderWarning",
    "StorageConflictError",
    "StorageError",
    "StorageUnavailableError",
    "Store",
    "StoreError",
    "StoreNotFoundError",
    "SyncReport",
    "Table",
    "TensorBoard",
    "Timed",
    "__version__",
    "config",
    "current_run",
    "dist_info",
    "finish",
    "init",
    "log",
    "open",
    "run",
    "seed_everything",
    "summary",
]
