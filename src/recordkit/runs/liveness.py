"""Is a live run's process still there? The verdict every reader applies before showing a run.

A run reads ``running`` or ``paused`` while its process lives. On this host the process is checked
directly (its pid answers, is no zombie, and was not reused by a newer process); on another host the
heartbeat decides: one older than the lease means the process is gone. A dead run is then marked
``crashed`` (with a ``crashed`` event), ending at its last heartbeat.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recordkit.backends.base import CRASHED, LIVE_STATUSES, AddEvent, Backend, RunRow
from recordkit.runs import lifecycle
from recordkit.runs.meta import this_host, this_pid, write_meta

if TYPE_CHECKING:
    from recordkit._settings import Settings


def is_dead(row: RunRow, now: float, settings: Settings) -> bool:
    """True if ``row`` reads live but its process is gone (see the module docstring)."""
    if row.status not in LIVE_STATUSES:
        return False
    if row.host == this_host():
        if row.pid == this_pid():
            if lifecycle.is_live_here(row.id):
                return False
            # Our pid, yet not held here: an earlier process that had the same pid.
            return now - row.heartbeat > settings.lease or _pid_reused(row, now, settings)
        return not pid_alive(row.pid) or _pid_reused(row, now, settings)
    return now - row.heartbeat > settings.lease


def _pid_reused(row: RunRow, now: float, settings: Settings) -> bool:
    """The run's pid now belongs to a process started after the run's last heartbeat.

    Only once the heartbeat is several intervals old: a live writer refreshes it every interval, so
    a wall clock stepped forward can never make a live run look like a reused pid for long enough.
    """
    return now - row.heartbeat > 3 * settings.heartbeat and _started_after(row.pid, row.heartbeat)


def mark_crashed(backend: Backend, channel: Any, root: Path | None, row: RunRow) -> RunRow:
    """End a dead run as ``crashed`` at its last heartbeat, with a ``crashed`` event; return the ended row."""
    channel.put(
        AddEvent(row.id, "crashed", time.time(), row.step, None,
                 {"pid": row.pid, "host": row.host, "last_heartbeat": row.heartbeat})
    )
    if row.host == this_host():
        error = {"type": "Crashed", "message": f"process {row.pid} on {row.host} died without finishing the run",
                 "traceback": "", "verdict": "process"}
    else:
        # Only silence is known: the process died, or cannot reach the store. Such a run keeps its number
        # (backends/core.py), so if it finishes after all, no other run holds the same number.
        error = {"type": "Crashed", "traceback": "", "verdict": "lease",
                 "message": f"no heartbeat from process {row.pid} on {row.host} for longer than the lease; "
                            "it died, or cannot reach the store"}
    ended = backend.end_run(row.id, CRASHED, row.heartbeat, error)
    with contextlib.suppress(OSError):  # meta.json is a mirror; the database holds the truth
        write_meta(ended, root)
    return ended


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _not_zombie(pid)


_BOOT_TIME: float | None = None


def _started_after(pid: int, when: float) -> bool:
    """True if process ``pid`` started after ``when`` (so it cannot have written a heartbeat then).

    Linux only (``/proc``); elsewhere False, and a dead run is found when its pid is gone.
    """
    global _BOOT_TIME
    try:
        if _BOOT_TIME is None:
            with Path("/proc/stat").open() as f:
                _BOOT_TIME = next(float(line.split()[1]) for line in f if line.startswith("btime "))
        with Path(f"/proc/{pid}/stat").open() as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        started = _BOOT_TIME + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return False
    # Boot time is whole seconds and clocks drift: allow a little slack before calling it a reuse.
    return started > when + 2.0


def _not_zombie(pid: int) -> bool:
    # A killed child that its parent has not reaped yet still answers kill(0).
    try:
        with Path(f"/proc/{pid}/stat").open() as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
