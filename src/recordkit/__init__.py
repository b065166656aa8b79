"""recordkit: record everything about machine-learning experiments; query them all as one flat table.

>>> import recordkit as rk
>>> store = rk.open("records")                                # doctest: +SKIP
>>> with store.collection("my_study").start_run(config={"lr": 0.1}) as run:   # doctest: +SKIP
...     run.log(loss=0.3)
"""

import importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING

from recordkit._api import current_run, finish, init, log, seed_everything
from recordkit._cleanup import CleanupReport
from recordkit._distributed import DistInfo, dist_info
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
    StorageError,
    StoreError,
    StoreNotFoundError,
)
from recordkit._records import Record, Records
from recordkit._run import Run, RunStatus, Scope
from recordkit._settings import Settings
from recordkit._store import Collection, Store, open
from recordkit._sync import SyncReport
from recordkit._version import __version__

if _TYPE_CHECKING:
    from recordkit._checkpoints import Checkpoint, LoadedCheckpoint, Retention
    from recordkit._events import Event, EventContext, Events, Timed
    from recordkit._files import FileInfo
    from recordkit._lineage import Link
    from recordkit._records import Series
    from recordkit._sinks import CSV, Mirror, MirrorRecord, TensorBoard
    from recordkit._sql import SQLResult

# Names loaded on first use: their modules are only needed by stores with mirrors and by SQL, and
# `import recordkit` stays fast (DESIGN.md §5).
_LAZY = {
    "CSV": "recordkit._sinks",
    "Mirror": "recordkit._sinks",
    "MirrorRecord": "recordkit._sinks",
    "TensorBoard": "recordkit._sinks",
    "SQLResult": "recordkit._sql",
    "Checkpoint": "recordkit._checkpoints",
    "LoadedCheckpoint": "recordkit._checkpoints",
    "Retention": "recordkit._checkpoints",
    "Event": "recordkit._events",
    "EventContext": "recordkit._events",
    "Events": "recordkit._events",
    "Timed": "recordkit._events",
    "FileInfo": "recordkit._files",
    "Link": "recordkit._lineage",
    "Series": "recordkit._records",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'recordkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


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
    "StorageError",
    "Store",
    "StoreError",
    "StoreNotFoundError",
    "SyncReport",
    "TensorBoard",
    "Timed",
    "__version__",
    "current_run",
    "dist_info",
    "finish",
    "init",
    "log",
    "open",
    "seed_everything",
]
