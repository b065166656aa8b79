"""Ending a run: drain its records, store the final status, rewrite meta.json — never ``finished``
while records of it are not stored.

When storage fails on the way (a full disk, a database locked too long, a lost server without a
spool), the run is left ``running`` with its unstored data kept in the writer's memory, and a one-line
:class:`~recordkit.StorageError` says what to do. :class:`Ending` remembers how far a failed
``finish()`` got, so calling it again carries on from there (and records the lifecycle event once).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from recordkit._exceptions import RunStateError, StorageError
from recordkit.backends.base import LIVE_STATUSES, RunRow
from recordkit.runs.meta import describe_error, write_meta

if TYPE_CHECKING:
    from recordkit.runs.handle import RunHandle

# How many of the writer's attempts finish() waits for before it says the data is not stored (the
# writer retries about once a second).
FLUSH_ATTEMPTS = 3


class Ending:
    """How far a failed ``finish()`` got: the status it stores next, or that only the folder is left."""

    __slots__ = ("files_left", "service_error", "status")

    def __init__(self, service_error: BaseException | None) -> None:
        self.status: str | None = None  # the status whose event is queued
        self.files_left = False  # the status is stored; meta.json is not written yet
        self.service_error = service_error  # a run service's failure, raised once the run has ended


def end(
    handle: RunHandle, status: str, error: BaseException | None, *,
    forget: Callable[[], None], ended: Callable[[RunRow], None],
) -> None:
    """End the run behind ``handle`` (``Run.finish``); ``forget`` drops it from this process's live runs,
    ``ended`` closes its mirrors once it has ended."""
    from recordkit.runs.events import emit, write_event_log

    info = None if error is None else describe_error(error)
    ending = handle.ending
    pending_error: BaseException | None = None
    if ending is None or not ending.files_left:
        if ending is None:
            if handle.row.status not in LIVE_STATUSES or handle.row.end_time is not None:
                raise RunStateError(f"run {handle.run_id!r} is already {handle.row.status}; it can finish only once")
            # The last sample and line of output belong to the run (stopped once, on the first call).
            ending = handle.ending = Ending(handle.stop_services(error))
            handle.writable = False
            handle.untrack()
        if ending.status != status:  # a retry with the same status records its event once
            emit(handle, status, {} if info is None else {"type": info["type"], "message": info["message"]})
            handle.channel.put(handle.counters())
            ending.status = status
        if handle.settings.fsync == "finish" and hasattr(handle.channel, "sync"):
            handle.channel.sync()  # power loss: the run's journal is on the disk before its status is
        for attempt in range(FLUSH_ATTEMPTS):
            try:
                handle.flush()
                break
            except StorageError as exc:
                if exc.__cause__ is not None and not isinstance(exc.__cause__, StorageError):
                    pending_error = exc  # an item was dropped for good: store the status anyway, then raise
                    break
                # The writer kept the data and retries it (a lock held elsewhere usually clears): wait for a
                # few of its attempts; ending the run now would say finished without the data.
                if attempt == FLUSH_ATTEMPTS - 1:
                    raise _not_ended(handle, status, f"its data is not all stored ({exc.__cause__ or exc})") from exc
            except BaseException as exc:
                pending_error = exc
                break
        try:
            handle.row = handle.backend.end_run(handle.run_id, status, time.time(), info)
        except StorageError as exc:
            raise _not_ended(handle, status, f"its status could not be stored ({exc})") from exc
        forget()
        ending.files_left = True
    try:
        write_meta(handle.row, handle.root)
    except StorageError as exc:
        raise StorageError(
            f"run {handle.run_id!r} is {handle.row.status} in the store, but its meta.json is out of date: {exc} "
            "(call run.finish() again to rewrite it)"
        ) from exc
    handle.ending = None
    if pending_error is None:
        write_event_log(handle)
    ended(handle.row)
    raised = pending_error or ending.service_error
    if raised is not None:
        raise raised


def _not_ended(handle: RunHandle, status: str, why: str) -> StorageError:
    return StorageError(
        f"run {handle.run_id!r} is not {status}: {why}. Nothing is lost: the unstored data is kept and "
        "retried; fix the cause, then call run.finish() again"
    )
