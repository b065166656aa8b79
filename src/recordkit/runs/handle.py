"""The narrow handle a run's features work through: identity, the writer's channel, the backend,
the counters and a liveness check — never the Run (or the Store) itself.

Events, files, checkpoints and links receive a :class:`RunHandle`; :class:`recordkit.Run` is the
readable facade that holds one and hands it to them. Scopes log through it too, so the hot path of
``run.log`` reads plain slots (``handle.writable``, ``handle.step``, ``handle.channel``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recordkit._exceptions import RunStateError, StoreError
from recordkit.backends.base import LIVE_STATUSES, Backend, RunRow, UpdateRun
from recordkit.runs import lifecycle
from recordkit.runs.meta import run_folder

if TYPE_CHECKING:
    from recordkit._journal import Journal
    from recordkit._settings import Settings
    from recordkit._writer import Channel, Writer
    from recordkit.runs.checkpoints import Retention
    from recordkit.runs.ending import Ending

# How many scope ids a run reserves at a time (one small transaction per block).
SCOPE_BLOCK = 64


class RunHandle:
    """One run's live state as its features see it.

    ``row`` is the run as last stored (status, folder, number...); ``step``/``epoch`` are the live
    counters; ``seq`` numbers the run's records in log order; ``writable`` is True while records may be
    logged. ``channel.put(item)`` queues a write; ``flush()`` waits until the queued items are durable.
    """

    __slots__ = (
        "backend", "channel", "ending", "epoch", "file_names", "journal", "retention", "root", "row", "run_id",
        "scope_ids", "seq", "services", "settings", "shapes", "step", "url", "writable", "writer",
    )

    def __init__(
        self,
        row: RunRow,
        *,
        backend: Backend,
        writer: Writer,
        channel: Channel,
        settings: Settings,
        root: Path | None,
        live: bool,
    ) -> None:
        self.row = row
        #: The run's id (a plain slot: the hot path reads it for every record).
        self.run_id = row.id
        self.backend = backend
        self.writer = writer
        self.channel: Any = channel  # a rank that does not log swaps in a silent one (runs.distributed)
        #: The store's journal in this process (records go straight into it); None for a run only read.
        self.journal: Journal | None = channel.open_journal() if live else None
        #: Key sets of this run already checked and journalled → (shape id in ``journal``, where a
        #: record's type codes sit, what they read for floats): see ``runs.checked.hot_shape``.
        self.shapes: dict[tuple[str, ...], tuple[int, slice, bytes]] = {}
        self.settings = settings
        self.root = root
        self.url = backend.url
        self.writable = live
        self.step = row.step
        self.epoch = row.epoch
        self.seq = itertools.count(0)  # a resumed run restarts it after the stored maximum
        self.scope_ids: Iterator[int] = iter(())
        #: How far a finish() that failed got (``runs.ending``); None when none is pending.
        self.ending: Ending | None = None
        #: The default checkpoint retention of ``save_model`` (None keeps every checkpoint).
        self.retention: Retention | None = None
        #: What runs beside the run (system-metrics sampler, console capture), stopped by ``stop_services``.
        self.services: list[Any] = []
        #: Names of the run's attachments and references (runs.files), read on the first new one.
        self.file_names: set[str] | None = None

    # --- identity and place ------------------------------------------------------------------
    @property
    def folder(self) -> Path:
        """The run's folder (absolute): meta.json, attachments, checkpoints."""
        return run_folder(self.root, self.row)

    def files_root(self) -> Path:
        """The store's folder for files; a store without one (PostgreSQL without ``files=``) raises."""
        if self.root is None:
            raise StoreError(f"the store {self.url!r} keeps no files (open it with a files folder to attach files)")
        return self.root

    # --- liveness ----------------------------------------------------------------------------
    def is_live_here(self) -> bool:
        """True while this process holds the run open (running or paused)."""
        return self.row.status in LIVE_STATUSES and lifecycle.is_live_here(self.run_id)

    def require_writable(self) -> None:
        """Raise the precise RunStateError unless records may be logged now."""
        if self.writable:
            return
        status = self.row.status
        if status == "paused":
            raise RunStateError(f"run {self.run_id!r} is paused; call run.resume() before logging")
        raise RunStateError(
            f"cannot log to run {self.run_id!r}: it is {status}; start a new run, or reopen this one "
            f"with collection.resume_run({self.row.number})"
        )

    def require_live(self, action: str) -> None:
        """Raise unless this process holds the run open (running or paused)."""
        if self.is_live_here():
            return
        raise RunStateError(
            f"cannot {action} in run {self.run_id!r}: it is {self.row.status}; reopen it with "
            f"collection.resume_run({self.row.number})"
        )

    def stop_services(self, error: BaseException | None = None) -> BaseException | None:
        """Stop the run's services (newest first); return the first failure one of them had."""
        if not self.services:
            return None
        from recordkit.runs.services import stop_all

        services, self.services = self.services, []
        return stop_all(services, error)

    # --- writing -----------------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything queued for this store is durable; raise a background storage error if any."""
        self.writer.flush(self.channel, timeout)

    def counters(self) -> UpdateRun:
        """The counters and a fresh heartbeat, as the writer stores them every heartbeat interval."""
        return UpdateRun(self.run_id, step=self.step, epoch=self.epoch, heartbeat=time.time())

    def track(self) -> None:
        """Have the writer send this run's counters and heartbeat until :meth:`untrack`."""
        self.writer.track(self.run_id, self.channel, self.counters)

    def untrack(self) -> None:
        self.writer.untrack(self.run_id)

    def new_scope_id(self) -> int:
        """A scope id no other run or process gets (reserved in blocks: rarely a round trip)."""
        for scope_id in self.scope_ids:
            return scope_id
        self.scope_ids = iter(self.backend.reserve_scope_ids(SCOPE_BLOCK))
        return next(self.scope_ids)
