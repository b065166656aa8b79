"""Console capture: a copy of everything written to stdout and stderr, in the run file ``output.log``.

``start_run(capture_output=True)`` replaces file descriptors 1 and 2 with the write end of a pipe
(a *channel*). A reader thread per channel copies each chunk to the original descriptor (so the
terminal shows what it showed before) and appends it to ``<run folder>/output.log``. Working at the
descriptor level catches ``print``, ``os.write(1, …)``, C extensions and child processes that inherit
the descriptors alike.

* The file is capped at the ``output_limit`` setting (bytes); past it, one note says the rest was not
  kept. The terminal always gets everything.
* ``finish()`` (also on an exception, Ctrl-C, SIGTERM or exit) flushes Python's streams, puts the
  original descriptors back, writes a random end mark into each channel and waits until its reader
  has copied everything before the mark. A run that fails inside ``with start_run(…)`` gets its
  traceback appended, since Python prints it only after the run has ended. A child still holding a
  channel keeps reaching the terminal, but its later output is not kept, and finish() never waits on it.
* The reader never stops reading while a descriptor points at its channel: a full disk loses the copy
  (warned once, raised at ``finish()``), never the terminal's output, and never blocks a ``print``.
* One capture per process at a time (descriptors are the process's, not the run's).
* stdout and stderr that go to the same place (one terminal, one file) share one channel and one
  reader, so their order is kept exactly; going to different places, each has its own reader, and
  their relative order in the file is only as good as the chunks they arrive in.
* A descriptor that is a terminal is replaced by a pseudo-terminal instead of a pipe, with the
  terminal's settings and size, so ``isatty()`` stays true and colours and progress bars look the same
  (a window resized during the run is not followed).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import traceback
import warnings
from pathlib import Path

from recordkit._exceptions import RecordkitError, RecordkitWarning, RunStateError

_CHUNK = 1 << 16
_active: list[str] = []  # the run id whose capture holds the descriptors, if any
_active_lock = threading.Lock()
# The longest finish() waits for a reader to reach the end mark (it only waits longer than a moment
# when the terminal itself stops reading).
_DRAIN_TIMEOUT = 5.0


def check_free() -> None:
    """Raise RunStateError if this process already captures its console for a live run."""
    if _active:
        raise RunStateError(
            f"console output is already captured for run {_active[0]!r}; finish it first "
            "(one capture per process: file descriptors belong to the process)"
        )


def _flush_python_streams() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class ConsoleCapture:
    """Tees descriptors 1 and 2 into ``path`` (at most ``limit`` bytes) while the terminal keeps its copy."""

    FDS = (1, 2)

    def __init__(self, path: Path, limit: int, run_id: str) -> None:
        self.path = path
        self.limit = limit
        self.run_id = run_id
        self.written = 0
        self.error: BaseException | None = None
        self._file: int | None = None
        self._lock = threading.Lock()
        self._saved: dict[int, int] = {}  # descriptor -> a copy of what it was (the terminal)
        self._feeds: dict[int, int] = {}  # descriptor -> our own write end of its pipe, for the end mark
        self._drained: list[threading.Event] = []
        # Written into each pipe by stop(): once a reader sees it, everything written before is copied.
        self._mark = b"\x00recordkit-end-" + os.urandom(8).hex().encode() + b"\x00"
        self._stopping = False

    def start(self) -> ConsoleCapture:
        with _active_lock:
            check_free()
            _active.append(self.run_id)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            _flush_python_streams()
            for fd in self.FDS:
                self._saved[fd] = os.dup(fd)  # to put back at stop (os.dup copies are not inherited)
            # stdout and stderr on one terminal or file share one channel: one reader keeps their order.
            same = os.path.samestat(os.fstat(1), os.fstat(2))
            for fds in [self.FDS] if same else [(fd,) for fd in self.FDS]:
                read_end, write_end = _channel_like(fds[0])
                self._feeds[fds[0]] = os.dup(write_end)
                for fd in fds:
                    os.dup2(write_end, fd)  # inheritable: child processes write into the channel too
                os.close(write_end)
                drained = threading.Event()
                self._drained.append(drained)
                terminal = os.dup(self._saved[fds[0]])  # the reader's own copy; it closes it when done
                threading.Thread(
                    target=self._pump, args=(read_end, terminal, drained), name=f"recordkit-console-{fds[0]}",
                    daemon=True,
                ).start()
        except BaseException:
            self._restore()
            self._end_feeds()
            self._close_file()
            with _active_lock:
                _active.remove(self.run_id)
            raise
        return self

    def _pump(self, read_end: int, terminal: int, drained: threading.Event) -> None:
        """Copy the pipe to the terminal and the file until every writer has closed it.

        Once stop() has begun, the last ``len(mark) - 1`` bytes of a chunk wait for the next one, so
        the end mark is found even when a read cuts through it; before that, nothing waits.
        """
        tail = b""
        try:
            while True:
                try:
                    chunk = os.read(read_end, _CHUNK)
                except InterruptedError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                if drained.is_set():  # after the end mark: a child that outlives the run; shown, not kept
                    self._show(terminal, chunk)
                    continue
                if not self._stopping and not tail:
                    self._copy(terminal, chunk)
                    continue
                data = tail + chunk
                found = data.find(self._mark)
                if found >= 0:
                    self._copy(terminal, data[:found])
                    self._show(terminal, data[found + len(self._mark):])
                    tail = b""
                    drained.set()
                    continue
                keep = len(self._mark) - 1  # the most of a mark that can end a chunk
                tail = data[-keep:]
                self._copy(terminal, data[:-keep] if len(data) > keep else b"")
        finally:
            if tail:
                self._copy(terminal, tail)
            drained.set()
            with contextlib.suppress(OSError):
                os.close(read_end)
            with contextlib.suppress(OSError):
                os.close(terminal)

    def _show(self, terminal: int, data: bytes) -> None:
        if data:
            with contextlib.suppress(OSError):  # a closed terminal must not stop the reading
                _write_all(terminal, data)

    def _copy(self, terminal: int, data: bytes) -> None:
        """The terminal first (what it shows must not wait on the disk), then the file."""
        self._show(terminal, data)
        if data:
            self._keep(data)

    def _keep(self, chunk: bytes) -> None:
        with self._lock:
            if self._file is None or self.written >= self.limit:
                return
            room = self.limit - self.written
            try:
                _write_all(self._file, chunk[:room])
                self.written += min(room, len(chunk))
                if self.written >= self.limit:
                    note = (
                        f"\n[recordkit: output.log reached its limit of {self.limit} bytes (setting "
                        "output_limit); later output was shown but not kept]\n"
                    )
                    _write_all(self._file, note.encode())
            except OSError as exc:
                self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        """Stop keeping output (the terminal still gets it); warn once, raise at finish()."""
        if self.error is None:
            self.error = exc
            with contextlib.suppress(Exception):
                warnings.warn(
                    f"recordkit could not write {str(self.path)!r} ({exc}); console output is still shown "
                    "but no longer kept, and finish() will raise this error",
                    RecordkitWarning,
                    stacklevel=2,
                )
        self._close_file_locked()

    def append_text(self, text: str) -> None:
        """Add text to the file only (the terminal is not written)."""
        self._keep(text.encode("utf-8", "replace"))

    def stop(self, error: BaseException | None = None) -> BaseException | None:
        """Put the descriptors back, drain the pipes, close the file; return a failure to write it."""
        _flush_python_streams()
        self._stopping = True
        self._restore()
        self._end_feeds()
        for drained in self._drained:
            drained.wait(_DRAIN_TIMEOUT)  # bounded: a terminal that stopped reading must not hang finish()
        if error is not None and not _already_printed(error):
            self.append_text("".join(traceback.format_exception(type(error), error, error.__traceback__)))
        self._close_file()
        with _active_lock:
            if self.run_id in _active:
                _active.remove(self.run_id)
        if self.error is None:
            return None
        failure = RecordkitError(f"console output could not be kept in {str(self.path)!r}: {self.error}")
        failure.__cause__ = self.error
        return failure

    def _restore(self) -> None:
        for fd, saved in self._saved.items():
            with contextlib.suppress(OSError):
                os.dup2(saved, fd)  # the channel's write end is now held only by us (the feed) and children
            with contextlib.suppress(OSError):
                os.close(saved)
        self._saved = {}

    def _end_feeds(self) -> None:
        """Write the end mark into each pipe (after everything the process wrote) and let go of it."""
        for feed in self._feeds.values():
            with contextlib.suppress(OSError):
                _write_all(feed, self._mark)
            with contextlib.suppress(OSError):
                os.close(feed)
        self._feeds = {}

    def _close_file(self) -> None:
        with self._lock:
            self._close_file_locked()

    def _close_file_locked(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                os.close(self._file)
            self._file = None


def _channel_like(fd: int) -> tuple[int, int]:
    """(read end, write end) to put in place of ``fd``: a pseudo-terminal when ``fd`` is a terminal, so
    programs that ask ``isatty()`` (colours, progress bars) behave as before; else a pipe.

    The pseudo-terminal takes the terminal's settings and window size, but passes bytes through
    unchanged (no output processing): the real terminal still turns ``\\n`` into ``\\r\\n`` itself,
    and ``output.log`` gets the bytes the program wrote.
    """
    if os.isatty(fd):
        try:
            import fcntl
            import termios

            master, slave = os.openpty()
            try:
                attributes = termios.tcgetattr(fd)
                attributes[1] &= ~termios.OPOST  # oflag: no output processing in the pseudo-terminal
                termios.tcsetattr(slave, termios.TCSANOW, attributes)
                fcntl.ioctl(slave, termios.TIOCSWINSZ, fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
            except BaseException:
                os.close(master)
                os.close(slave)
                raise
            return master, slave
        except Exception:  # no pseudo-terminals here (Windows, a locked-down container): a pipe will do
            pass
    return os.pipe()


def _already_printed(error: BaseException) -> bool:
    """True when the interpreter has printed this exception as uncaught (so the pipe had it already)."""
    return getattr(sys, "last_value", None) is error
