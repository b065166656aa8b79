"""Small files written whole or not at all, and disk failures told as :class:`StorageError`.

A file is written under a temporary name in its own folder (``.<name>.<pid>.<thread>.tmp``), flushed,
and renamed over the target, so a reader sees the old file or the new one, never half of one. When
the write fails (a full disk, a quota, a file size limit, a read-only folder) the temporary file is
removed, so a failure leaves no 0-byte or partial file behind, and the ``OSError`` becomes a
``StorageError`` naming the file, the cause and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from pathlib import Path

from recordkit._exceptions import StorageError

# The errors a user fixes by making room, and how to say so.
_NO_ROOM = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file size limit was reached",
}


def is_out_of_space(exc: OSError) -> bool:
    """A failure that freeing space (or raising a limit) fixes."""
    return exc.errno in _NO_ROOM


def storage_error(action: str, exc: OSError) -> StorageError:
    """``exc`` as a one-line StorageError: what was being done, why it failed, what to do next."""
    cause = _NO_ROOM.get(exc.errno or 0)
    if cause is not None:
        return StorageError(f"{action}: {cause} ({exc.strerror}); free space and retry")
    return StorageError(f"{action}: {exc.strerror or exc} ({type(exc).__name__}); fix the folder and retry")


def temp_name(path: Path) -> Path:
    """Where ``path`` is written before the rename (unique per process and thread)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def write_bytes(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Replace ``path`` with ``data`` atomically; on failure nothing is left but the old file."""
    tmp = temp_name(path)
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise storage_error(f"could not write {str(path)!r}", exc) from exc


def write_text(path: Path, text: str, *, fsync: bool = False) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically; see :func:`write_bytes`."""
    write_bytes(path, text.encode("utf-8"), fsync=fsync)
