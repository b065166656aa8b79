"""Replaying the journals of dead processes: what they logged and the writer had not committed yet.

Called when a store is opened and before a run starts. For each journal file of the store, the
``flock`` its owner held decides: taken by someone, the owner lives (or another process is
replaying it) and the file is left alone; free, the owner is dead. Its entries after the stored
mark are then committed in batches, each with the journal's new mark in the same transaction
(``JournalMark``), so a replay interrupted half-way goes on where it stopped, and two processes
opening the store at once commit every entry exactly once. The file is deleted while still locked,
then its mark. A torn tail (a kill in the middle of an entry, a truncated file) ends the replay at
the last intact entry.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import warnings
from pathlib import Path

from recordkit._exceptions import RecordkitWarning, StorageError
from recordkit._journal import SUFFIX, JournalFile, decode
from recordkit.backends.base import Backend, JournalMark, WriteItem

try:
    import fcntl
except ImportError:  # pragma: no cover - elsewhere no journal is replayed (its owner may live)
    fcntl = None  # type: ignore[assignment]

#: Entries committed per transaction during a replay.
REPLAY_BATCH = 20_000


def replay_dead(backend: Backend) -> int:
    """Commit what dead processes left in this store's journals; return how many records and items."""
    folder = backend.journal_folder
    if folder is None or fcntl is None:
        return 0
    try:
        paths = sorted(Path(folder).glob(f"*{SUFFIX}"))
    except OSError:
        return 0
    return sum(replay_file(backend, path) for path in paths)


def replay_file(backend: Backend, path: Path) -> int:
    """Replay one journal if its owner is dead (else 0); see the module docstring."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return 0  # gone already (replayed by another process, or closed by its owner)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0  # its owner lives, or someone else replays it now
        try:
            if os.fstat(fd).st_ino != os.stat(path).st_ino:
                return 0  # replayed and deleted between our open and our lock
        except FileNotFoundError:
            return 0
        size = os.fstat(fd).st_size
        if size == 0:
            path.unlink(missing_ok=True)  # its owner died while creating it: nothing was logged
            return 0
        with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as mm:
            try:
                journal = JournalFile(mm)
            except Exception as exc:  # a torn header, an unknown version: never lose it by guessing
                warnings.warn(f"recordkit left {str(path)!r} alone: {exc}", RecordkitWarning, stacklevel=3)
                return 0
            count = _commit(backend, journal)
        path.unlink(missing_ok=True)  # still locked: no one else can start replaying it now
        with contextlib.suppress(StorageError):
            backend.forget_journal(journal.id)
        return count
    finally:
        os.close(fd)


def _commit(backend: Backend, journal: JournalFile) -> int:
    mark = backend.journal_mark(journal.id)
    start_number, start_offset = (0, 0) if mark is None else mark
    count = 0
    payloads: list[object] = []
    offset = number = 0
    for next_offset, next_number, payload in journal.entries(start_offset, start_number):
        # A batch ends only before a shape's id: the records after a mark must know their shape.
        if len(payloads) >= REPLAY_BATCH and type(payload) is not tuple:
            count += _write(backend, journal, payloads, number, offset)
            payloads = []
        payloads.append(payload)
        offset, number = next_offset, next_number + 1
    if payloads:
        count += _write(backend, journal, payloads, number, offset)
    return count


def _write(backend: Backend, journal: JournalFile, payloads: list[object], number: int, offset: int) -> int:
    # Items only this process's memory held (tensors, datetimes) died with it: decode() skips them.
    items: list[WriteItem] = decode(payloads, journal.shapes, journal.version)
    items.append(JournalMark(journal.id, number, offset))
    backend.write_batch(items)
    return sum(type(p) is not int for p in payloads)  # records and items, not the shapes' ids
