"""Deleting runs and collecting garbage: the only places recordkit removes what it recorded.

Recorded data is append-only (DESIGN §1.4); deleting is an explicit command. Two operations:

* :func:`delete_runs` (``Store.delete_run``, ``recordkit rm``): a run, its sub-runs, every row that
  belongs to them (records, scopes, summaries…) and their run folders. A live run is refused unless
  forced: its process would go on writing into a run that no longer exists.
* :func:`collect_garbage` (``Store.gc``, ``recordkit gc``): rows no run refers to any more (left
  behind, for example, by a live run that kept writing after it was force-deleted), run folders
  without a run, and content-addressed blobs no file row refers to; then the database is compacted so
  the space really goes back to the file system.

Both report what they removed and the bytes reclaimed, measured from sizes on disk. With
``dry_run=True`` nothing changes and the report says what a real run would do.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recordkit._exceptions import RunStateError
from recordkit.backends.base import LIVE_STATUSES, RunRow
from recordkit.runs import lifecycle

if TYPE_CHECKING:
    from recordkit._store import Store

_HEX = frozenset("0123456789abcdef")


def is_run_folder_name(name: str) -> bool:
    """Run folders are named by run id: ``r`` and 15 hex characters, or (older stores) 16 hex characters.
    Nothing else in a collection folder is touched."""
    if len(name) != 16:
        return False
    return set(name[1:]) <= _HEX and (name[0] == "r" or name[0] in _HEX)


def is_blob_name(name: str) -> bool:
    """A content-addressed blob is named by its sha256: 64 hex characters (``blobs/<sha[:2]>/<sha>``)."""
    return len(name) == 64 and set(name) <= _HEX


#: Blobs younger than this are kept even when no file row refers to them yet: a writer stores the
#: blob first and its file row a moment later, and gc must never race it.
BLOB_GRACE_SECONDS = 600.0


class CleanupReport:
    """What :meth:`Store.delete_run` or :meth:`Store.gc` removed, or with ``dry_run`` would remove.

    Attributes
    ----------
    dry_run
        True when nothing was changed.
    run_ids
        The runs deleted (``delete_run``: the run and its sub-runs); empty for ``gc``.
    rows
        Database rows by kind: ``runs``, ``records``, ``scopes``, ``summary``…
    folders
        Run folders removed (absolute paths).
    blobs
        Blob files removed (absolute paths).
    database_bytes_before, database_bytes_after
        The database's size on disk around the operation (for a dry run, the size it would have).
    folder_bytes, blob_bytes
        Bytes of the run folders and of the blobs removed.
    stray_files, stray_bytes
        Files removed from run folders that nothing lists: temporary files of killed writers (a
        checkpoint save, a Parquet seal, meta.json) and checkpoints marked removed but still on disk.
    """

    # A plain class, not a dataclass: `import recordkit` would pay for generating its methods.
    _FIELDS = (
        "dry_run",
        "run_ids",
        "rows",
        "folders",
        "blobs",
        "database_bytes_before",
        "database_bytes_after",
        "folder_bytes",
        "blob_bytes",
        "stray_files",
        "stray_bytes",
    )

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.run_ids: list[str] = []
        self.rows: dict[str, int] = {}
        self.folders: list[str] = []
        self.blobs: list[str] = []
        self.database_bytes_before = 0
        self.database_bytes_after = 0
        self.folder_bytes = 0
        self.blob_bytes = 0
        self.stray_files: list[str] = []
        self.stray_bytes = 0

    @property
    def database_bytes(self) -> int:
        """Bytes the database gave back (0 when it did not shrink)."""
        return max(0, self.database_bytes_before - self.database_bytes_after)

    @property
    def file_bytes(self) -> int:
        """Bytes of the run folders, blobs and stray files removed."""
        return self.folder_bytes + self.blob_bytes + self.stray_bytes

    @property
    def bytes_reclaimed(self) -> int:
        """Every byte given back to the file system: database, run folders and blobs."""
        return self.database_bytes + self.file_bytes

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (for JSON), with the computed byte counts."""
        out: dict[str, Any] = {name: getattr(self, name) for name in self._FIELDS}
        out["database_bytes"] = self.database_bytes
        out["file_bytes"] = self.file_bytes
        out["bytes_reclaimed"] = self.bytes_reclaimed
        return out

    def __repr__(self) -> str:
        return f"CleanupReport({', '.join(f'{k}={v!r}' for k, v in self.to_dict().items())})"


# --- sizes and folders -----------------------------------------------------------------------------


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return path.resolve() != root.resolve()


def run_folders(store: Store, row: RunRow) -> list[Path]:
    """The folder(s) holding a run's files, only ever inside the store's folder.

    The stored folder (relative to the store's folder; older stores hold absolute ones) and where
    run folders always are, ``<store>/<collection>/<run id>``, are both looked at.
    """
    from recordkit.runs.meta import run_folder

    root = store.path
    if root is None:
        return []
    found: dict[Path, None] = {}
    for candidate in (root / row.collection / row.id, run_folder(root, row)):
        if candidate.is_dir() and _inside(root, candidate):
            found[candidate.resolve()] = None
    return list(found)


def _remove(paths: Iterable[Path]) -> None:
    import shutil

    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


# --- deleting runs ---------------------------------------------------------------------------------


def _with_descendants(store: Store, rows: Sequence[RunRow]) -> list[RunRow]:
    """The runs and, recursively, their sub-runs (children first, so no child outlives its parent)."""
    every = store.backend.find_runs()
    children: dict[str, list[RunRow]] = {}
    for row in every:
        if row.parent_id is not None:
            children.setdefault(row.parent_id, []).append(row)
    out: dict[str, RunRow] = {}

    def visit(row: RunRow) -> None:
        for child in children.get(row.id, ()):
            if child.id not in out:
                visit(child)
        out.setdefault(row.id, row)

    for row in rows:
        visit(row)
    return list(out.values())


def delete_runs(store: Store, rows: Sequence[RunRow], *, force: bool = False, dry_run: bool = False) -> CleanupReport:
    """Delete runs (and their sub-runs): database rows first, then run folders.

    If removing a folder fails, the folder is left without a run, and ``gc`` removes it later.
    """
    doomed = [store._refresh(row) for row in _with_descendants(store, rows)]
    live = [row for row in doomed if row.status in LIVE_STATUSES]
    if live and not force:
        row = live[0]
        raise RunStateError(
            f"run {row.id!r} ({row.collection}/{row.number}) is {row.status} in process {row.pid} on "
            f"{row.host!r}; finish it first, or delete it anyway with force=True (recordkit rm --force)"
        )
    report = CleanupReport(dry_run)
    report.run_ids = [row.id for row in doomed]
    removed = store.backend.delete_runs(report.run_ids, dry_run=dry_run)
    report.rows = removed.rows
    folders = [folder for row in doomed for folder in run_folders(store, row)]
    report.folders = [str(folder) for folder in folders]
    (report.folder_bytes,) = freed_bytes(folders)
    if not dry_run:
        for row in doomed:
            live_here = lifecycle.live_run(row.id)
            if live_here is not None:  # this process's own live run: stop tracking it
                store._writer.untrack(row.id)
                lifecycle.forget(live_here)
        _remove(folders)
    return report


# --- collecting garbage ----------------------------------------------------------------------------


def orphan_folders(store: Store) -> list[Path]:
    """Folders named like a run id, in a collection's folder, whose run is gone.

    The folders are listed before the runs are read: a run's row is committed before its folder is
    made, so a run starting meanwhile is seen in the runs and its folder is never taken for garbage.
    """
    root = store.path
    if root is None:
        return []
    candidates: list[Path] = []
    for name in store.backend.collections():
        folder = root / name
        if folder.is_dir():
            candidates.extend(
                child
                for child in sorted(folder.iterdir())
                if is_run_folder_name(child.name) and child.is_dir() and not child.is_symlink()
            )
    if not candidates:
        return []
    run_ids = {row.id for row in store.backend.find_runs()}
    return [child for child in candidates if child.name not in run_ids]


def orphan_blobs(store: Store, now: float | None = None) -> Iterator[Path]:
    """Blob files no file row refers to, and temporary files of writers that are gone; all older than
    BLOB_GRACE_SECONDS. The one list of what gc deletes under ``<store>/blobs`` (``Store.unreferenced_blobs``).

    Nothing is yielded when the backend keeps no file index (``referenced_blobs()`` is None).
    """
    from recordkit.runs.liveness import pid_alive as _pid_alive

    root = store.path
    if root is None or not (root / "blobs").is_dir():
        return
    referenced = store.backend.referenced_blobs()
    if referenced is None:
        return
    cutoff = (time.time() if now is None else now) - BLOB_GRACE_SECONDS

    def old_file(path: Path) -> bool:
        return path.is_file() and not path.is_symlink() and path.lstat().st_mtime < cutoff

    for shard in sorted((root / "blobs").iterdir()):
        if not shard.is_dir() or shard.is_symlink():
            continue
        if shard.name == "tmp":  # <pid>-<uuid>.tmp: a copy in progress, or left by a killed process
            for tmp in sorted(shard.iterdir()):
                pid = tmp.name.split("-", 1)[0]
                if tmp.suffix == ".tmp" and old_file(tmp) and not (pid.isdigit() and _pid_alive(int(pid))):
                    yield tmp
            continue
        for blob in sorted(shard.iterdir()):
            named_like_a_blob = is_blob_name(blob.name) and blob.name[:2] == shard.name
            if named_like_a_blob and blob.name not in referenced and old_file(blob):
                yield blob


def freed_bytes(*groups: Sequence[Path]) -> list[int]:
    """Per group, the bytes that deleting every path of every group gives back to the file system.

    Counted by inode: an attachment's hard link in a run folder frees nothing while its blob stays, and
    a file reached twice is counted once (in the first group that reaches it). Links are not followed.
    """
    inodes: dict[tuple[int, int], list[int]] = {}  # (dev, ino) -> [size, links, links seen, group]
    for index, paths in enumerate(groups):
        for path in paths:
            walked = [path] if not path.is_dir() or path.is_symlink() else [
                Path(folder, name) for folder, _, names in os.walk(path) for name in names
            ]
            for file in walked:
                try:
                    st = file.lstat()
                except FileNotFoundError:
                    continue
                entry = inodes.setdefault((st.st_dev, st.st_ino), [st.st_size, st.st_nlink, 0, index])
                entry[2] += 1
    totals = [0] * len(groups)
    for size, links, seen, index in inodes.values():
        if seen >= links:
            totals[index] += size
    return totals


def collect_garbage(store: Store, *, dry_run: bool = False) -> CleanupReport:
    """Remove orphaned rows, run folders without a run, unreferenced blobs and stray files; compact the database."""
    report = CleanupReport(dry_run)
    folders = orphan_folders(store)
    blobs = list(orphan_blobs(store))
    strays = [path for path in stray_files(store) if not any(_inside(folder, path) for folder in folders)]
    removed = store.backend.collect_garbage(dry_run=dry_run)
    report.rows = removed.rows
    report.database_bytes_before, report.database_bytes_after = removed.bytes_before, removed.bytes_after
    report.folders = [str(path.resolve()) for path in folders]
    report.blobs = [str(path.resolve()) for path in blobs]
    report.stray_files = [str(path.resolve()) for path in strays]
    report.blob_bytes, report.folder_bytes, report.stray_bytes = freed_bytes(blobs, folders, strays)
    if not dry_run:
        _remove([*folders, *blobs, *strays])
    return report


# ``.<name>.<pid>.tmp``, ``.<name>.<pid>.<thread>.tmp`` or ``.<name>.<pid>-<random>.tmp``: a file being
# written under a temporary name, renamed into place when complete (checkpoints, seals, meta.json…).
_TEMP_NAME = re.compile(r"^\..+?\.(?P<pid>\d+)(?:\.\d+|-[0-9a-f]+)?\.tmp$")


def stray_files(store: Store, now: float | None = None) -> Iterator[Path]:
    """Files in the store's folder that nothing lists and no one is writing, older than the grace:

    * temporary files whose writer is gone (its pid is dead here): a save, seal or rewrite killed
      half-way (blobs' own temporary files are :func:`orphan_blobs`');
    * checkpoint files marked removed by retention whose deletion did not happen (the process died
      between making the removal durable and deleting the file), and checkpoint files saved by a
      process killed before their file row was stored.
    """
    from recordkit.runs.liveness import pid_alive

    root = store.path
    if root is None or not root.is_dir():
        return
    cutoff = (time.time() if now is None else now) - BLOB_GRACE_SECONDS
    for folder, dirs, names in os.walk(root):
        if Path(folder) == root:
            dirs[:] = [d for d in dirs if d != "blobs"]
        for name in names:
            found = _TEMP_NAME.match(name)
            if found is None:
                continue
            path = Path(folder, name)
            try:
                old = path.lstat().st_mtime < cutoff and not path.is_symlink()
            except OSError:
                continue
            if old and not pid_alive(int(found["pid"])):
                yield path
    from recordkit.runs.files import CHECKPOINT

    latest = {row.path: row for row in store.backend.files(None) if row.kind == CHECKPOINT and row.path}
    for relative, row in latest.items():  # a step saved again after its removal is a live file again
        path = root / relative
        if row.removed is not None and path.is_file() and not path.is_symlink() and _inside(root, path):
            yield path
    # A checkpoint saved (renamed into place) by a process killed before its file row was stored.
    for checkpoint_folder in {(root / relative).parent for relative in latest}:
        if not checkpoint_folder.is_dir() or not _inside(root, checkpoint_folder):
            continue
        for path in sorted(checkpoint_folder.iterdir()):
            relative = os.path.relpath(path, root)
            if (path.name.startswith("step-") and relative not in latest and path.is_file()
                    and not path.is_symlink() and path.lstat().st_mtime < cutoff):
                yield path
