"""recordkit: record everything about machine-learning experiments; query them all as one flat table.

>>> import recordkit as rk
>>> store = rk.open("records")                                # doctest: +SKIP
>>> with store.collection("my_study").start_run(config={"lr": 0.1}) as run:   # doctest: +SKIP
...     run.log(loss=0.3)
"""

from recordkit._api import current_run, finish, init, log, seed_everything
from recordkit._cleanup import CleanupReport
from recordkit._exceptions import (
    ConfigError,
    InvalidNameError,
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
from recordkit._store import Collection, Store, open
from recordkit._version import __version__

__all__ = [
    "CleanupReport",
    "Collection",
    "ConfigError",
    "InvalidNameError",
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
    "Scope",
    "Settings",
    "StorageError",
    "Store",
    "StoreError",
    "StoreNotFoundError",
    "__version__",
    "current_run",
    "finish",
    "init",
    "log",
    "open",
    "seed_everything",
]
