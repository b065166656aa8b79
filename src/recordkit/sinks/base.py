"""What every mirror is: the :class:`Mirror` base class and the :class:`MirrorRecord` it receives.

Mirrors are fed by the background writer thread, never by the caller's: after a batch is committed to
the store, ``sinks.feed.MirrorFeed`` turns its records into :class:`MirrorRecord` (plain Python values,
the scope path as a label, the run's identity) and hands them to every mirror. The store is the truth:
a mirror that fails warns once and the error is raised again at ``flush()`` / ``finish()``, while the
records stay stored.

A record's *label* names where it was logged: the run's root scope has the empty label; a harvested
group (``run.collect``) is its group name (``tuple_miner``); any other scope is its fields as
``key=value`` (comma-joined), with nested scopes joined by ``/`` (``model=m1/training=True``).
A label is made from the fields a scope has when it is created, so a field added later
(``scope["note"] = ...``) does not move the scope's series to another tag or file.
"""

from __future__ import annotations

import abc
import dataclasses
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from recordkit._exceptions import StoreError


@dataclasses.dataclass(frozen=True)
class MirrorRecord:
    """One committed record as a mirror sees it: plain values, where it was logged, which run."""

    run_id: str
    collection: str
    #: The run's folder, absolute.
    run_folder: str
    label: str
    step: int
    time: float
    values: Mapping[str, Any]


class Mirror(abc.ABC):
    """A destination fed by the writer thread after each committed batch.

    Subclasses implement ``write``; ``end_run`` and ``close`` release files. Every method is called
    with the mirror's lock held, from the writer thread (``write``) or the thread finishing a run or
    closing the store. A subclass that defines ``__init__`` calls ``super().__init__(directory)``.

    Examples
    --------
    >>> class Printer(rk.Mirror):                                   # doctest: +SKIP
    ...     def write(self, records):
    ...         for r in records:
    ...             print(r.label, r.step, dict(r.values))
    >>> store = rk.open("records", mirrors=[Printer()])             # doctest: +SKIP
    """

    #: What the mirror is called in warnings and errors.
    name = "mirror"

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = None if directory is None else Path(directory)
        self.lock = threading.Lock()

    def bind(self, store_root: Path | None) -> None:
        """Called once by the store; a mirror without a directory writes into the run folders."""
        if self.directory is None and store_root is None:
            raise StoreError(f"the {self.name} mirror needs a directory for a store without a folder: {self!r}")

    def folder(self, record: MirrorRecord, leaf: str) -> Path:
        """``<directory>/<collection>/<run id>``, or ``<run folder>/<leaf>`` without a directory."""
        if self.directory is None:
            return Path(record.run_folder) / leaf
        return self.directory / record.collection / record.run_id

    @abc.abstractmethod
    def write(self, records: Sequence[MirrorRecord]) -> None:
        """Write the records of one committed batch, in log order, and make them visible (flush)."""

    def end_run(self, run_id: str) -> None:  # noqa: B027  (optional hook)
        """The run finished: release what it holds open."""

    def close(self) -> None:  # noqa: B027  (optional hook)
        """The store closes: release everything."""

    def __repr__(self) -> str:
        where = "run folders" if self.directory is None else str(self.directory)
        return f"<{type(self).__name__} mirror into {where}>"


_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._=,+-")


def file_stem(label: str) -> str:
    """A label as a safe file name (never a path): ``model=m1/training=True`` → ``model=m1.training=True``."""
    stem = "".join(ch if ch in _SAFE else "_" for ch in label.replace("/", ".")).strip(".") or "run"
    return stem[:150]
