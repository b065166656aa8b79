"""A local, on-disk queue of batches that could not reach the shared store (PostgreSQL).

When the PostgreSQL server is down or the network is cut, the writer thread puts each batch here
(one file per batch, written to a temporary name, flushed to disk and renamed, so a reader never
sees half a batch) and carries on; training never waits on the network. Batches are sent back in
order once the server answers, each exactly once: a batch keeps the id it was first tried with, and
the store remembers the ids it has committed.

Layout: ``<root>/<host>-<pid>-<random>/`` per process, holding ``lock`` (an ``flock`` held while the
process lives) and ``<n>-<batch id>.batch`` files. A folder whose lock is free belongs to a process
that died with batches unsent; the next process to open the store adopts it and sends them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from recordkit._atomic import storage_error, write_bytes

try:  # POSIX; elsewhere orphaned spools are adopted only by the next process of the same folder name
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

_SUFFIX = ".batch"


def default_spool_root(identity: str) -> Path:
    """``RECORDKIT_SPOOL``, else ``<user cache>/recordkit/spool/``; then a folder named by a hash of the
    store's identity (``url.store_identity``: host, port, database, user and schema, never a password)."""
    base = os.environ.get("RECORDKIT_SPOOL")
    if base:
        root = Path(base)
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = Path(cache) / "recordkit" / "spool"
    return root / hashlib.sha256(identity.encode()).hexdigest()[:16]


class Spool:
    """One process's spool for one store, plus any orphaned spools it adopted.

    Parameters
    ----------
    root
        The store's spool folder (shared by every process of this machine that writes to the store).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._own: Path | None = None
        self._lock_files: list[Any] = []
        self._folders: list[Path] = []  # adopted (older) first, own last
        self._count = 0
        self._next = 0
        self._backoff = 0.5
        self._retry_at = 0.0
        # The writer thread and the caller's (finish() during an outage) may both use the spool.
        self.lock = threading.RLock()

    # --- state ---------------------------------------------------------------------------------
    def pending(self) -> int:
        """Batches waiting to be sent (cheap: counted in memory)."""
        return self._count

    def due(self) -> bool:
        """Whether the backoff after the last failed attempt has passed."""
        return time.monotonic() >= self._retry_at

    def failed(self) -> None:
        """The server is still unreachable: wait longer before the next attempt (up to 30 s)."""
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, 30.0)

    def succeeded(self) -> None:
        self._backoff = 0.5
        self._retry_at = 0.0

    # --- writing -------------------------------------------------------------------------------
    def append(self, batch_id: str, items: list[Any]) -> None:
        """Store a batch durably (fsync) behind everything already spooled."""
        with self.lock:
            self._append(batch_id, items)

    def _append(self, batch_id: str, items: list[Any]) -> None:
        # A full disk raises StorageError (the writer then keeps the whole batch in memory) and leaves no
        # temp file behind: a spool never drops a record on its own.
        folder = self._own_folder()
        name = f"{self._next:012d}-{batch_id}{_SUFFIX}"
        write_bytes(folder / name, pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL), fsync=True)
        self._next += 1
        self._count += 1

    def _own_folder(self) -> Path:
        if self._own is None:
            folder = self.root / f"{_safe(socket.gethostname())}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            try:
                self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
                folder.mkdir(mode=0o700)
                self._hold(folder)
            except OSError as exc:
                self._remove(folder)
                raise storage_error(f"could not make the spool folder {str(folder)!r}", exc) from exc
            self._own = folder
            self._folders.append(folder)
        return self._own

    def _hold(self, folder: Path) -> bool:
        """Take the folder's lock; False if a live process holds it."""
        handle = (folder / "lock").open("a+")
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return False
        self._lock_files.append(handle)
        return True

    # --- reading -------------------------------------------------------------------------------
    def adopt_orphans(self, also: Sequence[Path] = ()) -> int:
        """Take over spool folders left by dead processes (in ``root``, and in the roots ``also`` names);
        return how many batches they hold."""
        roots = [root for root in (self.root, *also) if root.is_dir()]
        found = 0
        folders = [folder for root in roots for folder in root.iterdir()]
        for folder in sorted(folders, key=lambda p: p.stat().st_mtime):
            if not folder.is_dir() or folder == self._own or folder in self._folders:
                continue
            batches = list(folder.glob(f"*{_SUFFIX}"))
            if not batches:
                if self._hold(folder):
                    self._remove(folder)
                continue
            if self._hold(folder):
                self._folders.insert(len(self._folders) - (self._own is not None), folder)
                self._count += len(batches)
                found += len(batches)
        return found

    def entries(self) -> Iterator[tuple[str, list[Any], Callable[[], None]]]:
        """(batch id, items, done) in order; call ``done()`` once the batch is committed."""
        for folder in list(self._folders):
            for path in sorted(folder.glob(f"*{_SUFFIX}")):
                with path.open("rb") as f:
                    items = pickle.load(f)
                batch_id = path.name[len("000000000000-") : -len(_SUFFIX)]

                def done(path: Path = path) -> None:
                    path.unlink()
                    self._count -= 1

                yield batch_id, items, done
            if folder != self._own:
                self._folders.remove(folder)
                self._remove(folder)

    def _remove(self, folder: Path) -> None:
        with contextlib.suppress(OSError):
            (folder / "lock").unlink()
            folder.rmdir()

    def release(self) -> None:
        """Let go of the locks; an empty own folder is removed, a non-empty one is adopted later."""
        if self._own is not None and not any(self._own.glob(f"*{_SUFFIX}")):
            self._remove(self._own)
        for handle in self._lock_files:
            with contextlib.suppress(OSError):
                handle.close()
        self._lock_files.clear()


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:64] or "host"
