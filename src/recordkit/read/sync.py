"""Copy runs, scopes, records and run folders from one store into another, idempotently.

The usual direction is a folder store (a laptop, a node without database access, an offline job)
into the shared PostgreSQL store; any pair of backends works.

How "exactly once" holds, repeated or interrupted, even while a source run is still writing:

* A run keeps its id. The destination numbers it as if it had run there (numbering is per collection).
* Scopes are matched by creation order within the run (the i-th scope of the source run is the i-th
  of the destination run); new source scopes get new destination ids, in the same order.
* Records are read in sequence order and written in batches, one transaction each. Within a scope a
  record's ``seq`` only grows, and a source commits a scope's records in ``seq`` order, so the highest
  ``seq`` the destination holds per scope is a watermark: everything at or below it has been copied,
  everything above it has not. A repeated sync copies only what lies above.
* Final status, counters, config keys and scope fields are set, not appended, so repeating is harmless.
* Files in the run folder are copied when missing or different in size or modification time.
* Events, file rows and links are append-only per run (a backend hands them back in write order), so
  the number the destination holds for a run is their watermark: the first that many have been copied,
  the rest have not. A link is copied with its source run. A file row that retention removed in the
  source after it was copied gets its ``removed`` mark on the next sync.
* Attachment blobs are content-addressed: each is copied (to a temporary name, then renamed) before
  the file row that refers to it is written, and only when the destination lacks it.

Two syncs of the same source into the same destination must not run at the same time.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from recordkit._exceptions import StorageUnavailableError, StoreError
from recordkit.backends.base import (
    LIVE_STATUSES,
    AddEvent,
    AddFile,
    AddLink,
    Backend,
    CreateScope,
    NewRun,
    RecordQuery,
    RemoveFile,
    RunRow,
    UpdateRun,
    UpdateScope,
    WriteItem,
)
from recordkit.backends.labels import labels_of
from recordkit.runs.meta import run_folder, write_meta

if TYPE_CHECKING:
    from recordkit._store import Store

BATCH = 5000


@dataclasses.dataclass
class SyncReport:
    """What one sync copied."""

    runs_created: int = 0
    runs_updated: int = 0
    scopes: int = 0
    records: int = 0
    files: int = 0
    events: int = 0
    file_rows: int = 0
    links: int = 0
    blobs: int = 0

    def __str__(self) -> str:
        return (
            f"{self.runs_created} run(s) created, {self.runs_updated} updated, {self.scopes} scope(s), "
            f"{self.records} record(s), {self.files} file(s) copied, {self.events} event(s), "
            f"{self.file_rows} file row(s), {self.links} link(s), {self.blobs} blob(s)"
        )


def sync(source: Store, destination: Store, *, collections: Sequence[str] | None = None) -> SyncReport:
    """Copy everything ``source`` holds that ``destination`` lacks; safe to repeat and to interrupt.

    Parameters
    ----------
    source, destination
        Open stores; they must be different stores.
    collections
        Only these collections (default: all).

    Examples
    --------
    >>> local = rk.open("records")                                        # doctest: +SKIP
    >>> shared = rk.open("postgresql://db.lab/runs", files="/shared/runs")  # doctest: +SKIP
    >>> print(local.sync_to(shared))                                      # doctest: +SKIP
    3 run(s) created, 0 updated, 12 scope(s), 45000 record(s), 9 file(s) copied
    """
    if source is destination or (source.url == destination.url and source.path == destination.path):
        raise StoreError(f"cannot sync the store {source.url!r} into itself; give two different stores")
    source.flush()
    _settle_spool(destination)  # watermarks must see what an earlier, cut-off sync left in the spool
    report = SyncReport()
    wanted = None if collections is None else set(collections)
    for row in source.backend.find_runs():
        if wanted is not None and row.collection not in wanted:
            continue
        _sync_run(source, destination, row, report)
    _settle_spool(destination)
    return report


def _settle_spool(store: Store) -> None:
    """Send what the destination's spool holds; a sync never ends with data only in a local spool."""
    spool = getattr(store.backend, "spool", None)
    if spool is None or not spool.pending():
        return
    store.backend.drain_spool()  # type: ignore[attr-defined]
    if spool.pending():
        raise StorageUnavailableError(
            f"cannot reach {store.url!r}: {spool.pending()} batch(es) wait in the local spool {str(spool.root)!r}; "
            "run the sync again when the server is back (nothing is copied twice)"
        )


def _sync_run(source: Store, destination: Store, row: RunRow, report: SyncReport) -> None:
    src, dst = source.backend, destination.backend
    target = dst.get_run(row.id)
    created = target is None
    if target is None:
        parent = row.parent_id if row.parent_id is None or dst.get_run(row.parent_id) else None
        folder = f"{row.collection}/{row.id}"  # relative to the destination's files folder, as start_run does
        target = dst.create_run(
            NewRun(
                id=row.id, collection=row.collection, name=row.name, start_time=row.start_time,
                config=row.config, env=row.env, tags=list(row.tags), parent_id=parent, host=row.host,
                pid=row.pid, folder=folder, root_scope=dst.reserve_scope_ids(1)[0], notes=row.notes,
            )
        )
        report.runs_created += 1
    elif target.config != row.config and target.status in LIVE_STATUSES:
        dst.update_config(row.id, row.config)
    edited = {k: getattr(row, k) for k in ("name", "tags", "notes") if getattr(target, k) != getattr(row, k)}
    if edited:  # renamed, retagged or annotated at the source after an earlier sync
        dst.edit_run(row.id, edited)
    mapping = _map_scopes(src, dst, row, target, report)
    copied = _copy_records(src, dst, row.id, mapping)
    report.records += copied
    dst.write_batch([UpdateRun(row.id, step=row.step, epoch=row.epoch, heartbeat=row.heartbeat)])
    changed = copied > 0 or bool(edited)
    if row.status not in LIVE_STATUSES and (target.status != row.status or target.end_time != row.end_time):
        target = dst.end_run(row.id, row.status, row.end_time or row.heartbeat, row.error)
        changed = True
    if changed and not created:
        report.runs_updated += 1
    report.files += _copy_files(row, source, destination, target)
    # After the run folder (checkpoints live there) and before nothing else: a file row lands only
    # once what it refers to is in place.
    _copy_events(src, dst, row.id, report)
    _copy_file_rows(source, destination, row.id, report)
    _copy_links(src, dst, row.id, report)


def _map_scopes(src: Backend, dst: Backend, row: RunRow, target: RunRow, report: SyncReport) -> dict[int, int]:
    """Source scope id → destination scope id; creates the scopes the destination lacks."""
    theirs = src.scopes([row.id])
    ours = dst.scopes([row.id])
    source_ids = [row.root_scope, *sorted(i for i in theirs if i != row.root_scope)]
    dest_ids = [target.root_scope, *sorted(i for i in ours if i != target.root_scope)]
    missing = len(source_ids) - len(dest_ids)
    if missing > 0:
        dest_ids += list(dst.reserve_scope_ids(missing))
    mapping = dict(zip(source_ids, dest_ids, strict=False))
    labels = labels_of(theirs)  # the series names travel as they are, not rebuilt from today's fields
    items: list[WriteItem] = []
    for scope_id in source_ids:
        scope = theirs.get(scope_id)
        if scope is None:
            continue
        mapped = mapping[scope_id]
        parent = None if scope.parent_id is None else mapping.get(scope.parent_id)
        have = ours.get(mapped)
        if have is None:
            items.append(CreateScope(mapped, row.id, parent, dict(scope.fields), labels[scope_id]))
            report.scopes += 1
        elif have.fields != scope.fields:
            items.append(UpdateScope(mapped, dict(scope.fields)))
    if items:
        dst.write_batch(items)
    return mapping


def _copy_records(src: Backend, dst: Backend, run_id: str, mapping: dict[int, int]) -> int:
    marks = watermarks(dst, run_id)
    batch: list[WriteItem] = []
    copied = 0
    for _, record in src.iter_records(RecordQuery(run_ids=[run_id])):
        scope_id = mapping.get(record.scope_id)
        if scope_id is None or record.seq <= marks.get(scope_id, -1):
            continue
        batch.append((run_id, scope_id, record.seq, record.step, record.time, record.values))
        if len(batch) >= BATCH:
            dst.write_batch(batch)
            copied += len(batch)
            batch = []
    if batch:
        dst.write_batch(batch)
        copied += len(batch)
    return copied


def _write_in_batches(dst: Backend, items: Sequence[WriteItem]) -> None:
    for start in range(0, len(items), BATCH):
        dst.write_batch(items[start : start + BATCH])


def _copy_events(src: Backend, dst: Backend, run_id: str, report: SyncReport) -> None:
    have = len(dst.events([run_id]))
    new = src.events([run_id])[have:]
    _write_in_batches(dst, [AddEvent(e.run_id, e.name, e.time, e.step, e.duration, dict(e.data)) for e in new])
    report.events += len(new)


def _copy_file_rows(source: Store, destination: Store, run_id: str, report: SyncReport) -> None:
    theirs = source.backend.files([run_id])
    ours = destination.backend.files([run_id])
    items: list[WriteItem] = []
    for mine, done in zip(theirs, ours, strict=False):  # copied before: only a later removal is news
        if mine.removed is not None and done.removed is None and mine.path is not None:
            items.append(RemoveFile(run_id, mine.path, mine.removed))
    for row in theirs[len(ours) :]:
        if row.sha256 is not None and row.kind == "attachment":
            report.blobs += _copy_blob(source, destination, row.sha256)
        items.append(AddFile(row.run_id, row.name, row.kind, row.time, row.step, row.size, row.sha256, row.path,
                             row.mtime, dict(row.meta)))
        if row.removed is not None and row.path is not None:
            items.append(RemoveFile(run_id, row.path, row.removed))
    report.file_rows += len(theirs) - min(len(ours), len(theirs))
    _write_in_batches(destination.backend, items)


def _copy_blob(source: Store, destination: Store, sha256: str) -> int:
    """Copy one attachment's content unless the destination has it (same hash: same bytes)."""
    if source.path is None or destination.path is None:
        return 0  # a store without a files folder keeps no blobs: the row still says what was attached
    from recordkit.runs.files import blob_path

    origin, out = blob_path(source.path, sha256), blob_path(destination.path, sha256)
    if out.exists() or not origin.exists():
        return 0
    import shutil
    import uuid

    tmp = destination.path / "blobs" / "tmp" / f"{os.getpid()}-{uuid.uuid4().hex}.tmp"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(origin, tmp)
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return 1


def _copy_links(src: Backend, dst: Backend, run_id: str, report: SyncReport) -> None:
    have = sum(1 for link in dst.links(run_id) if link.source_id == run_id)
    new = [link for link in src.links(run_id) if link.source_id == run_id][have:]
    _write_in_batches(
        dst, [AddLink(lk.source_id, lk.target_id, lk.relation, lk.time, dict(lk.data)) for lk in new]
    )
    report.links += len(new)


def watermarks(backend: Backend, run_id: str) -> dict[int, int]:
    """Highest ``seq`` per scope of a run; engine-side when the backend offers it."""
    by_scope = getattr(backend, "max_seq_by_scope", None)
    if by_scope is not None:
        return dict(by_scope(run_id))
    marks: dict[int, int] = {}
    for _, record in backend.iter_records(RecordQuery(run_ids=[run_id], keys=None)):
        if record.seq > marks.get(record.scope_id, -1):
            marks[record.scope_id] = record.seq
    return marks


def _copy_files(row: RunRow, source: Store, destination: Store, target: RunRow) -> int:
    if source.path is None or destination.path is None or not row.folder or not target.folder:
        return 0  # a store without a files folder has no run folders
    source_folder, dest_folder = run_folder(source.path, row), run_folder(destination.path, target)
    if not source_folder.is_dir() or source_folder.resolve() == dest_folder.resolve():
        return 0
    import shutil

    copied = 0
    for path in _files(source_folder):
        relative = path.relative_to(source_folder)
        if relative.parent == Path(".") and relative.name in ("meta.json", "records.parquet"):
            # meta.json is written from the destination's own row below; the sealed Parquet file holds
            # the source's run fields (its numbering), so the destination seals its own when exporting.
            continue
        out = dest_folder / relative
        stat = path.stat()
        if out.exists() and out.stat().st_size == stat.st_size and int(out.stat().st_mtime) == int(stat.st_mtime):
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        shutil.copy2(path, tmp)
        os.replace(tmp, out)
        copied += 1
    write_meta(target, destination.path)
    return copied


def _files(folder: Path) -> Iterable[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and not path.name.endswith(".tmp"):
            yield path
