"""recordkit: record everything about machine-learning experiments; query them all as one flat table.

>>> import recordkit as rk
>>> store = rk.open("records")                                # doctest: +SKIP
>>> with store.collection("my_study").start_run(config={"lr": 0.1}) as run:   # doctest: +SKIP
...     run.log(loss=0.3)
"""

from recordkit._api import current_run, finish, init, log, seed_everything
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
    RunNotFoundError,
    RunStateError,
    StorageError,
    StoreError,
    StoreNotFoundError,
)
from recordkit._records import Record, Records
from recordkit._run import Run, RunStatus, Scope
from recordkit._settings import Settings
from recordkit._sinks import CSV, Mirror, MirrorRecord, TensorBoard
from recordkit._sql import SQLResult
from recordkit._store import Collection, Store, open
from recordkit._version import __version__

__all__ = [
    "CSV",
    "Collection",
    "ConfigError",
    "InvalidNameError",
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
    "Run",
    "RunError",
    "RunNotFoundError",
    "RunStateError",
    "RunStatus",
    "SQLResult",
    "Scope",
    "Settings",
    "StorageError",
    "Store",
    "StoreError",
    "StoreNotFoundError",
    "TensorBoard",
    "__version__",
    "current_run",
    "finish",
    "init",
    "log",
    "open",
    "seed_everything",
]
