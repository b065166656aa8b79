"""The exceptions and warnings recordkit raises.

Every error derives from one root so ``except rk.RecordkitError`` catches them all::

    RecordkitError
    ├── StoreError              the store cannot be opened, read or written
    │   ├── StoreNotFoundError  a store path or URL that does not exist (and may not be created)
    │   ├── StorageError        the engine failed (disk full, locked too long, connection lost)
    │   │   ├── StorageUnavailableError  the server could not be reached or the connection dropped;
    │   │   │                            data is kept (spooled) and retried
    │   │   └── StorageConflictError     a concurrent writer got in the way (deadlock, serialisation
    │   │                                failure); retried
    │   ├── MirrorError         a mirror (TensorBoard, CSV) could not write; the records are stored
    │   └── InvalidNameError    a collection, run or file name that is empty or would escape the store
    ├── RunError                a run was used in a way its state does not allow
    │   ├── RunNotFoundError    no run has that id, number or prefix
    │   ├── RunStateError       e.g. logging to a finished run
    │   │   └── StepOrderError  a step logged before one already logged in the scope (out_of_order='raise')
    │   ├── RunFileNotFoundError  the run has no file or checkpoint by that name (or step)
    │   └── NoActiveRunError    rk.log() with no rk.init() before it
    ├── ConfigError             a frozen config value was changed, or a config could not be converted
    ├── QueryError              a bad filter, column or SQL statement
    └── MissingDependencyError  an optional library (pandas, polars, pyarrow, torch...) is not installed

    RecordkitWarning            something went wrong in the background; the error is raised again at flush()
    └── StepOrderWarning        a step logged out of order (out_of_order='warn'); the record is kept

Values that cannot be stored raise the builtin ``TypeError`` (naming the key), because that is what a
Python user expects for a value of the wrong type.
"""

from __future__ import annotations


class RecordkitError(Exception):
    """Root of every error recordkit raises on purpose."""


class StoreError(RecordkitError):
    """The store cannot be opened, read or written."""


class StoreNotFoundError(StoreError):
    """A store that must exist does not."""


class StorageError(StoreError):
    """The storage engine failed; the engine's own error is chained as ``__cause__``."""


class StorageUnavailableError(StorageError):
    """The server could not be reached or the connection dropped; data is kept (spooled) and retried."""


class StorageConflictError(StorageError):
    """A concurrent writer got in the way (deadlock, serialisation failure); the write is retried."""


class MirrorError(StoreError):
    """A mirror (TensorBoard, CSV) failed in the background; the records themselves are stored."""


class InvalidNameError(StoreError, ValueError):
    """A user-given name is empty, too long, or would escape the store folder."""


class RunError(RecordkitError):
    """A run was used in a way its state does not allow."""


class RunNotFoundError(RunError, LookupError):
    """No run matches the given id, prefix or number."""


class RunStateError(RunError):
    """The run's state does not allow this call (for example logging to a finished run)."""


class StepOrderError(RunStateError, ValueError):
    """A step lower than one already logged in the same scope, with ``out_of_order="raise"``."""


class RunFileNotFoundError(RunError, LookupError):
    """The run has no file or checkpoint by that name (or at that step)."""


class NoActiveRunError(RunError):
    """A module-level call such as ``rk.log`` was made with no current run."""


class ConfigError(RecordkitError, ValueError):
    """A frozen config value was changed, or a config object could not be converted."""


class QueryError(RecordkitError, ValueError):
    """A filter, column or SQL statement is not valid."""


class MissingDependencyError(RecordkitError, ImportError):
    """An optional library is not installed; the message names the extra that provides it."""


class RecordkitWarning(UserWarning):
    """A background failure; the same error is raised again at ``flush()`` or ``finish()``."""


class StepOrderWarning(RecordkitWarning):
    """A step was logged out of order (``out_of_order="warn"``, the default); the record is kept."""
