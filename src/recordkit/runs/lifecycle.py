"""What happens to live runs when the process ends: normal exit, an uncaught exception, SIGTERM, SIGHUP.

* Normal interpreter exit: runs still live are finished (``failed`` if an uncaught exception is
  ending the process), then the writer drains every buffer.
* SIGTERM and SIGHUP (a closed terminal or ssh session): live runs are marked ``interrupted``, the
  writer drains, then the previous handler runs (by default the process dies of that signal, so its
  exit status is the usual one). A SIGHUP already ignored (``nohup``) stays ignored.
* SIGKILL cannot be caught: the next reader sees the dead pid (or an expired heartbeat) and shows
  the run ``crashed``.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from recordkit.runs.run import Run

_live: dict[str, Run] = {}
_installed = False
_install_lock = threading.Lock()
_uncaught: BaseException | None = None
_previous_handlers: dict[int, Any] = {}
# The signals that end a run as `interrupted` (SIGHUP is missing on Windows).
_ENDING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_previous_excepthook = sys.excepthook
_original_exit = sys.exit
_exit_code: Any = None


def remember(run: Run) -> None:
    """Track a live run of this process so exit and SIGTERM can close it."""
    _install()
    _live[run.id] = run


def forget(run: Run) -> None:
    _live.pop(run.id, None)


def is_live_here(run_id: str) -> bool:
    """True if this process holds the run open."""
    return run_id in _live


def live_run(run_id: str) -> Run | None:
    """The live Run object of this process for ``run_id`` (so readers share its counters)."""
    return _live.get(run_id)


def _install() -> None:
    global _installed
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        atexit.register(_at_exit)
        sys.excepthook = _excepthook
        sys.exit = _recording_exit  # type: ignore[assignment]
        if threading.current_thread() is threading.main_thread():
            # Only the main thread may set handlers; runs started elsewhere rely on atexit.
            for signum in _ENDING_SIGNALS:
                previous = signal.getsignal(signum)
                if signum != signal.SIGTERM and previous == signal.SIG_IGN:
                    continue  # nohup: the process is meant to survive a hangup, so is its run
                _previous_handlers[signum] = previous
                signal.signal(signum, _on_sigterm)
        _installed = True


def _forget_after_fork() -> None:
    # A forked child (a DataLoader worker, say) does not own its parent's runs: it must never finish them.
    _live.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def _recording_exit(code: Any = None) -> NoReturn:
    """sys.exit, noting the code: SystemExit never reaches sys.excepthook, and atexit cannot see it."""
    global _exit_code
    _exit_code = code
    _original_exit(code)


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    global _uncaught
    _uncaught = exc
    _previous_excepthook(kind, exc, tb)


def _finish_all(status: str, error: Any) -> None:
    for run in list(_live.values()):
        try:
            run.finish(status, error=error)
        except Exception as exc:  # keep closing the others; say why this one failed
            print(f"recordkit: could not finish run {run.id}: {exc}", file=sys.stderr)


def _at_exit() -> None:
    # A bare `raise SystemExit(3)` is still invisible here (only sys.exit is recorded).
    if isinstance(_uncaught, KeyboardInterrupt):
        _finish_all("interrupted", _uncaught)
    elif _uncaught is not None:
        _finish_all("failed", _uncaught)
    elif _exit_code not in (None, 0):
        _finish_all("failed", SystemExit(_exit_code))
    else:
        _finish_all("finished", None)
    from recordkit._writer import current_writer

    writer = current_writer()
    if writer is not None:
        writer.close()


class Terminated(BaseException):
    """Stands for SIGTERM (or SIGHUP) in a run's stored error."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    from recordkit import _journal

    if _journal.busy_here():  # the signal came in the middle of an entry: end the runs once it is written
        _journal.defer(lambda: _on_sigterm(signum, frame))
        return
    name = signal.Signals(signum).name
    _finish_all("interrupted", Terminated(f"terminated by signal {signum} ({name})"))
    from recordkit._writer import current_writer

    writer = current_writer()
    if writer is not None:
        writer.close()
    previous = _previous_handlers.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
