"""Files of a run: attachments stored once by content hash, and references to outside paths.

* ``run.attach(source)`` copies the bytes into ``<store>/blobs/<sha[:2]>/<sha256>`` while hashing them
  (one pass), through a temporary file that is fsynced and renamed: a reader never sees a torn blob,
  and a second identical file costs no space. The copy is synchronous (the caller may delete or
  overwrite its file right after); the file row goes through the background writer.
* ``run.reference(path)`` records an outside path with its size, mtime and (optionally) hash, and
  copies nothing.
* A file's name is a label (``plots/loss.png``): relative, ``/``-separated, each part a safe name; checked
  names can never escape the store folder. An attachment is also visible as ``<run folder>/files/<name>``,
  a hard link to its blob (no extra space), so the folder reads without recordkit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
import time
import uuid
import warnings
from pathlib import Path
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from recordkit._exceptions import InvalidNameError, RecordkitWarning, RunFileNotFoundError, StoreError
from recordkit._names import check_name
from recordkit.backends.base import AddFile, FileRow
from recordkit.runs.events import emit

if TYPE_CHECKING:
    from recordkit.runs.handle import RunHandle

BLOBS = "blobs"
FILES = "files"  # <run folder>/files/<name>: hard links to the run's attachments
ATTACHMENT, REFERENCE, CHECKPOINT = "attachment", "reference", "checkpoint"
_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclasses.dataclass(frozen=True)
class FileInfo:
    """A file recorded by a run.

    ``kind`` is ``attachment`` (content in the store, by ``sha256``), ``reference`` (an outside
    path, not copied) or ``checkpoint``. ``path`` is where the content is now. ``step`` is the run's
    step when it was recorded. ``removed`` is when retention deleted a checkpoint (else None).
    """

    run_id: str
    name: str
    kind: str
    path: Path | None
    size: int | None
    sha256: str | None
    mtime: float | None
    step: int
    time: float
    meta: MappingProxyType[str, Any]
    removed: float | None = None

    def open(self) -> BinaryIO:
        """Open the content for reading (binary)."""
        if self.path is None:
            raise StoreError(f"file {self.name!r} of run {self.run_id!r} has no readable path")
        return self.path.open("rb")

    def read_bytes(self) -> bytes:
        with self.open() as f:
            return f.read()


def check_file_name(name: object) -> str:
    """A relative label made of safe parts (``plots/loss.png``); raise InvalidNameError otherwise."""
    if not isinstance(name, str):
        raise InvalidNameError(f"a file name must be a string, not {type(name).__name__} {name!r}")
    if name.startswith("/") or "\\" in name:
        raise InvalidNameError(
            f"file name {name!r} must be relative and use '/' between parts (it is a label inside the run, "
            "never a path outside it)"
        )
    for part in name.split("/"):
        check_name(part, f"file name part {part!r} of {name!r}")
    return name


def blob_path(root: Path, sha256: str) -> Path:
    """Where a blob with this hash lives (the hash is checked, so the path stays inside ``root``)."""
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise StoreError(f"{sha256!r} is not a sha256 hex digest; the store's file index may be damaged")
    return root / BLOBS / sha256[:2] / sha256


def _open_source(source: Any) -> tuple[IO[bytes], bool, str | None]:
    """(binary stream, whether we opened it, a default name)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source)), True, None
    if isinstance(source, (str, os.PathLike)):
        path = Path(os.fspath(source))
        if not path.is_file():
            raise FileNotFoundError(f"cannot attach {str(path)!r}: no such file")
        return path.open("rb"), True, path.name
    if hasattr(source, "read"):
        raw_name = getattr(source, "name", None)
        name = os.path.basename(raw_name) if isinstance(raw_name, str) and raw_name else None
        return source, False, name
    raise TypeError(
        f"attach() takes a path, bytes or a binary file object, not {type(source).__name__} {source!r:.80}"
    )


class HashingWriter:
    """A write-only file object that hashes (sha256) what passes through it.

    A large chunk is hashed in a helper thread while it is written (both release the GIL), so hashing
    costs little beyond the write; ``write`` returns only once both are done with the caller's buffer
    (torch.save hands out views of memory it may reuse). Use it as a context manager.
    """

    _PARALLEL = 1 << 19  # below this, a thread hand-off costs more than it saves

    def __init__(self, out: IO[bytes]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.out = out
        self.digest = hashlib.sha256()
        self.size = 0
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="recordkit-hash")

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        self.size += size
        if size < self._PARALLEL:
            self.digest.update(data)
            return self.out.write(data)
        hashed = self._pool.submit(self.digest.update, data)
        try:
            return self.out.write(data)
        finally:
            hashed.result()

    def flush(self) -> None:
        self.out.flush()

    def hexdigest(self) -> str:
        return self.digest.hexdigest()

    def __enter__(self) -> HashingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown()


def store_blob(root: Path, stream: IO[bytes]) -> tuple[str, int]:
    """Copy ``stream`` into the blob folder while hashing it; return (sha256, size).

    Written to a temporary file, fsynced, then renamed into place, so a killed process leaves at most
    a stray temporary file, never a torn blob. An identical blob already there is kept and the copy
    dropped: the content is stored once.
    """
    tmp_dir = root / BLOBS / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"{os.getpid()}-{uuid.uuid4().hex}.tmp"
    try:
        with tmp.open("wb") as out, HashingWriter(out) as writer:
            while True:
                chunk = stream.read(_CHUNK)
                if not chunk:
                    break
                if not isinstance(chunk, (bytes, bytearray)):
                    raise TypeError("attach() needs a file opened in binary mode ('rb'), not text mode")
                writer.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha, size = writer.hexdigest(), writer.size
        final = blob_path(root, sha)
        if final.exists():
            tmp.unlink()
            # Fresh again: gc spares blobs younger than its grace, so it cannot take this one before
            # our file row (queued next) refers to it, even if no run referred to it a moment ago.
            os.utime(final)
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        return sha, size
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def attach(run: RunHandle, source: Any, name: str | None = None) -> FileInfo:
    """``run.attach``: the bytes into the blob folder (synchronously), the file row through the writer."""
    root = run.files_root()
    run.require_live("attach a file")
    stream, opened, default_name = _open_source(source)
    try:
        label = check_file_name(name if name is not None else default_name)
    except InvalidNameError:
        if opened:
            stream.close()
        if name is None and default_name is None:
            raise InvalidNameError("attach() needs name=… for bytes or a file object without a name") from None
        raise
    try:
        names = _check_tree(run, label)  # before the blob: a refused name leaves nothing behind
        sha, size = store_blob(root, stream)
    finally:
        if opened:
            stream.close()
    now = time.time()
    _mirror_in_run_folder(run, label, blob_path(root, sha))
    row = AddFile(run.run_id, label, ATTACHMENT, now, run.step, size, sha, None, None, {})
    run.channel.put(row)
    names.add(label)
    emit(run, "attached", {"name": label, "sha256": sha, "size": size})
    return _info(root, row)


def _check_tree(run: RunHandle, label: str) -> set[str]:
    """Refuse ``label`` if it would make a name both a file and a folder of files (``p`` and ``p/q``);
    return the run's known names. File names form a tree, as ``<run folder>/files/`` shows them."""
    names = run.file_names
    if names is None:  # this process's first new file: the run's earlier ones (a resumed run) are stored
        rows = run.backend.files([run.run_id])
        names = run.file_names = {row.name for row in rows if row.kind != CHECKPOINT}
    parts = label.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts))]
    clash = next((p for p in prefixes if p in names), None)
    if clash is None:
        clash = next((n for n in names if n.startswith(label + "/")), None)
    if clash is None and run.root is not None:  # another process of the run (a rank) may have made it
        folder = run.folder / FILES
        clash = next((p for p in prefixes if (folder / p).is_file()), None)
        if clash is None and (folder / label).is_dir():
            clash = label + "/…"
    if clash is not None:
        short = min(clash, label, key=len)
        raise InvalidNameError(
            f"file name {label!r} clashes with {clash!r} of run {run.run_id!r}: {short!r} cannot be both a file "
            f"and a folder of files; choose another name for {label!r}"
        )
    return names


def _mirror_in_run_folder(run: RunHandle, label: str, blob: Path) -> None:
    """Make the attachment readable as ``<run folder>/files/<name>`` without recordkit: a hard link to
    the blob (no extra space). Best effort: a file system without hard links just goes without."""
    folder = run.folder / FILES
    target = inside(folder, label)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.unlink(missing_ok=True)
        os.link(blob, tmp)
        os.replace(tmp, target)  # a later attachment of the same name replaces the view
    except OSError:
        tmp.unlink(missing_ok=True)


def reference(
    run: RunHandle, path: str | os.PathLike[str], *, hash: bool = False, name: str | None = None
) -> FileInfo:
    """``run.reference``: record an outside path (size, mtime, optional sha256); nothing is copied."""
    run.require_live("reference a file")
    target = Path(os.fspath(path)).expanduser().resolve()
    if not target.exists():
        raise FileNotFoundError(f"cannot reference {str(target)!r}: no such file or folder")
    stat = target.stat()
    label = check_file_name(name if name is not None else target.name)
    sha = None
    if hash:
        if not target.is_file():
            raise ValueError(f"hash=True needs a file; {str(target)!r} is a folder")
        digest = hashlib.sha256()
        with target.open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        sha = digest.hexdigest()
    size = stat.st_size if target.is_file() else None
    names = _check_tree(run, label)
    row = AddFile(run.run_id, label, REFERENCE, time.time(), run.step, size, sha, str(target), stat.st_mtime, {})
    run.channel.put(row)
    names.add(label)
    emit(run, "referenced", {"name": label, "path": str(target), "size": size, "sha256": sha})
    return _info(run.root, row)


def _info(root: Path | None, row: AddFile | FileRow) -> FileInfo:
    path: Path | None = None
    if row.kind == ATTACHMENT and root is not None and row.sha256:
        path = blob_path(root, row.sha256)
    elif row.kind == REFERENCE and row.path:
        path = Path(row.path)
    elif row.kind == CHECKPOINT and row.path and root is not None:
        path = inside(root, row.path)
    removed = row.removed if isinstance(row, FileRow) else None
    return FileInfo(
        row.run_id, row.name, row.kind, path, row.size, row.sha256, row.mtime, row.step, row.time,
        MappingProxyType(dict(row.meta)), removed,
    )


def inside(root: Path, relative: str) -> Path:
    """``root / relative``, refusing anything that would resolve outside ``root``."""
    full = (root / relative).resolve()
    if not full.is_relative_to(root.resolve()):
        raise StoreError(f"file path {relative!r} points outside the store {str(root)!r}; the file index is damaged")
    return full


def files(run: RunHandle, *, kind: str | None = None, include_removed: bool = False) -> list[FileInfo]:
    """The run's files, oldest first (removed checkpoints only with ``include_removed``)."""
    run.flush()
    found = [_info(run.root, row) for row in run.backend.files([run.run_id])]
    return [
        f for f in found if (kind is None or f.kind == kind) and (include_removed or f.removed is None)
    ]


def open_file(run: RunHandle, name: str) -> BinaryIO:
    label = check_file_name(name)
    matches = [f for f in files(run) if f.name == label]
    if not matches:
        known = ", ".join(sorted({f.name for f in files(run)})[:10]) or "none"
        raise RunFileNotFoundError(f"run {run.run_id!r} has no file named {label!r} (its files: {known})")
    info = matches[-1]
    if info.kind == REFERENCE and info.path is not None:
        try:
            stat = info.path.stat()
        except FileNotFoundError:
            raise RunFileNotFoundError(
                f"file {label!r} of run {run.run_id!r} is a reference to {str(info.path)!r}, which no longer exists"
            ) from None
        if stat.st_size != info.size or stat.st_mtime != info.mtime:
            warnings.warn(
                f"referenced file {str(info.path)!r} changed since run {run.run_id!r} recorded it "
                f"(size {info.size} → {stat.st_size})",
                RecordkitWarning,
                stacklevel=3,
            )
    return info.open()
