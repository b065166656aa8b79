"""Reopen an ended run and continue it: ``collection.resume_run(number_or_id)``.

The run keeps its id, number, config, records and files. Its counters come back from the checkpoint
it resumes from (training restarts there), or, with no checkpoint, from where it stopped. Records
logged after that checkpoint's step are kept by default (both attempts of those steps are read back,
in log order); with ``after_checkpoint="supersede"`` they are marked superseded: the ``resumed``
event names the range (steps after the checkpoint, sequence numbers before the resume) and every
read leaves those records out. Nothing is deleted either way.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from recordkit._exceptions import RunNotFoundError, RunStateError
from recordkit.backends.base import LIVE_STATUSES, UpdateRun
from recordkit.runs import lifecycle
from recordkit.runs.events import RESUMED, emit
from recordkit.runs.meta import this_host, this_pid, write_meta
from recordkit.runs.run import Run

if TYPE_CHECKING:
    from recordkit._store import Collection
    from recordkit.runs.checkpoints import Checkpoint

AfterCheckpoint = Literal["keep", "supersede"]


def resume_run(
    collection: Collection,
    number_or_id: int | str,
    *,
    from_checkpoint: bool | str = True,
    after_checkpoint: AfterCheckpoint = "keep",
) -> Run:
    """``collection.resume_run``: reopen an ended run live in this process (see the module docstring)."""
    if after_checkpoint not in ("keep", "supersede"):
        raise ValueError(f"after_checkpoint must be 'keep' or 'supersede', not {after_checkpoint!r}")
    store = collection.store
    if isinstance(number_or_id, bool) or not isinstance(number_or_id, (int, str)):
        raise TypeError(f"resume_run() takes a run number (int) or id (str), not {number_or_id!r}")
    # Public reads refresh liveness: a dead process's run reads crashed, and may be resumed.
    reader = collection.run(number_or_id) if isinstance(number_or_id, int) else store.run(number_or_id)
    if reader.collection.name != collection.name:
        raise RunNotFoundError(
            f"run {reader.id!r} belongs to collection {reader.collection.name!r}, not {collection.name!r}"
        )
    if reader.status in LIVE_STATUSES:
        row = reader._row
        where = "this process" if lifecycle.is_live_here(row.id) else f"process {row.pid} on {row.host}"
        raise RunStateError(
            f"run {row.id!r} is still {row.status} in {where}; finish it (or let it end) before resuming it"
        )
    previous = reader.status.value
    chosen: Checkpoint | None = None
    if from_checkpoint is not False:
        name = None if from_checkpoint is True else from_checkpoint
        found = reader.checkpoints(name)
        if name is not None and not found:
            raise RunNotFoundError(f"run {reader.id!r} has no checkpoint named {name!r} to resume from")
        chosen = found[-1] if found else None
    backend = store.backend
    max_seq = backend.max_seq(reader.id)
    if chosen is not None:
        step, epoch = chosen.step, chosen.epoch
    else:
        step = max([reader.step, *(s["last_step"] for s in reader.summary().values())])
        epoch = reader.epoch
    row = backend.reopen_run(reader.id, this_host(), this_pid(), time.time())
    run = Run(store, row, live=True)
    run._continue_from(step, epoch, max_seq + 1, chosen)
    lifecycle.remember(run)
    handle = run._handle
    handle.track()
    data: dict[str, Any] = {
        "previous_status": previous, "step": step, "epoch": epoch, "after_checkpoint": after_checkpoint,
    }
    if reader.error is not None:  # reopening clears the run's error: the event keeps what failed
        data["previous_error"] = {"type": reader.error.get("type"), "message": reader.error.get("message")}
    if chosen is not None:
        data["checkpoint"] = {"name": chosen.name, "step": chosen.step, "path": str(chosen.path)}
        if after_checkpoint == "supersede":
            data["superseded_after_step"] = chosen.step
            data["superseded_before_seq"] = max_seq + 1
    emit(handle, RESUMED, data)
    handle.channel.put(UpdateRun(run.id, step=step, epoch=epoch))
    run.flush()  # reads must see the superseded range at once
    write_meta(row, handle.root)
    return run
