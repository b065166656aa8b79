"""Reopen an ended run and continue it: ``collection.resume_run(number_or_id)``.

The run keeps its id, number, config, records and files. Its counters come back from the checkpoint
it resumes from (training restarts there), or, with no checkpoint, from where it stopped. Records
logged after that checkpoint's step are kept by default (both attempts of those steps are read back,
in log order); with ``after_checkpoint="supersede"`` they are marked superseded: the ``resumed``
event names the range (steps after the checkpoint, sequence numbers before the resume) and every
read leaves those records out. Nothing is deleted either way.
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, Any, Literal

from recordkit import _lifecycle
from recordkit._checkpoints import Checkpoint, checkpoints
from recordkit._events import emit
from recordkit._exceptions import RunNotFoundError, RunStateError
from recordkit._run import Run, this_host, this_pid, write_meta
from recordkit.backends.base import LIVE_STATUSES, UpdateRun

if TYPE_CHECKING:
    from recordkit._store import Collection

AfterCheckpoint = Literal["keep", "supersede"]
RESUMED = "resumed"


def resume_run(
    collection: Collection,
    number_or_id: int | str,
    *,
    from_checkpoint: bool | str = True,
    after_checkpoint: AfterCheckpoint = "keep",
) -> Run:
    if after_checkpoint not in ("keep", "supersede"):
        raise ValueError(f"after_checkpoint must be 'keep' or 'supersede', not {after_checkpoint!r}")
    store = collection.store
    if isinstance(number_or_id, bool) or not isinstance(number_or_id, (int, str)):
        raise TypeError(f"resume_run() takes a run number (int) or id (str), not {number_or_id!r}")
    if isinstance(number_or_id, int):
        row = collection.run(number_or_id)._row
    else:
        row = store._find_row(number_or_id)
        if row.collection != collection.name:
            raise RunNotFoundError(f"run {row.id!r} belongs to collection {row.collection!r}, not {collection.name!r}")
    row = store._refresh(row)  # a dead process's run reads crashed, and may be resumed
    if row.status in LIVE_STATUSES:
        where = "this process" if _lifecycle.is_live_here(row.id) else f"process {row.pid} on {row.host}"
        raise RunStateError(
            f"run {row.id!r} is still {row.status} in {where}; finish it (or let it end) before resuming it"
        )
    previous = row.status
    reader = Run(store, row, live=False)
    chosen: Checkpoint | None = None
    if from_checkpoint is not False:
        name = None if from_checkpoint is True else from_checkpoint
        found = checkpoints(reader, name)
        if name is not None and not found:
            raise RunNotFoundError(f"run {row.id!r} has no checkpoint named {name!r} to resume from")
        chosen = found[-1] if found else None
    max_seq = store.backend.max_seq(row.id)
    if chosen is not None:
        step, epoch = chosen.step, chosen.epoch
    else:
        summary = store.backend.summary(row.id)
        step = max([row.step, *(s.last_step for s in summary.values())])
        epoch = row.epoch
    row = store.backend.reopen_run(row.id, this_host(), this_pid(), time.time())
    run = Run(store, row, live=True)
    run._seq = itertools.count(max_seq + 1)
    run._step, run._epoch = step, epoch
    run._last_step = step
    run.resumed_from = chosen
    _lifecycle.remember(run)
    store._writer.track(run.id, store._channel, run._counters)
    data: dict[str, Any] = {
        "previous_status": previous, "step": step, "epoch": epoch, "after_checkpoint": after_checkpoint,
    }
    if chosen is not None:
        data["checkpoint"] = {"name": chosen.name, "step": chosen.step, "path": str(chosen.path)}
        if after_checkpoint == "supersede":
            data["superseded_after_step"] = chosen.step
            data["superseded_before_seq"] = max_seq + 1
    emit(run, RESUMED, data)
    store._channel.put(UpdateRun(run.id, step=step, epoch=epoch))
    run.flush()  # reads must see the superseded range at once
    write_meta(run._row, store.path)
    return run


def superseded_ranges(store: Any, run_ids: list[str]) -> list[tuple[str, int, int]]:
    """(run_id, after_step, before_seq) for every resume that superseded records (see RecordQuery)."""
    if not run_ids:
        return []
    ranges = []
    for event in store.backend.events(run_ids, RESUMED):
        data = event.data
        if event.name == RESUMED and "superseded_after_step" in data:
            ranges.append((event.run_id, int(data["superseded_after_step"]), int(data["superseded_before_seq"])))
    return ranges
