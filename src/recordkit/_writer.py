"""One background writer per process: bounded buffers drained in batches, one transaction each.

The caller's side of the contract (``Channel.put``) is an append to a deque: no lock, no I/O. The
writer thread wakes every ``flush_interval`` seconds, or early when a buffer holds ``batch_size``
items or someone waits in ``flush()``, and hands each backend its items in order; the backend
converts tensors and arrays (``_values.materialize``) in this thread, never the caller's.

Failures never reach the training thread. A failed batch is kept and retried with backoff (a full
disk or a locked database usually recovers), a warning is issued once per kind of error, and the
error is raised again by the next ``flush()``. Items whose values cannot be converted are dropped
and reported the same way.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from recordkit._exceptions import MirrorError, RecordkitWarning, RunStateError, StorageError
from recordkit._settings import Settings
from recordkit.backends.base import Backend, UpdateRun, WriteItem

if TYPE_CHECKING:
    from recordkit.sinks.feed import MirrorFeed


class _Marker:
    """Put in a buffer by ``flush()``: set once everything before it is committed."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class Channel:
    """A backend's buffer. ``put`` is the hot path of ``run.log``."""

    def __init__(self, writer: Writer, backend: Backend) -> None:
        self.writer = writer
        self.backend = backend
        self.queue: collections.deque[Any] = collections.deque()
        self.limit = writer.settings.buffer_size
        self.batch = writer.settings.batch_size
        self.markers = 0  # flush markers queued and not yet taken
        self.marker_lock = threading.Lock()
        #: Mirrors fed after each committed batch; None (the default) leaves the writer's path as it was.
        self.mirrors: MirrorFeed | None = None

    def put(self, item: WriteItem) -> None:
        queue = self.queue
        if len(queue) >= self.limit and not self.writer.make_room(self):
            return
        queue.append(item)
        if len(queue) >= self.batch:
            self.writer.wake.set()


class Writer:
    """The process's writer thread; get it with :func:`get_writer`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.channels: dict[int, Channel] = {}
        self.wake = threading.Event()
        self.room = threading.Condition()
        self.error: BaseException | None = None
        # Counts failed attempts, so flush() can tell a failure that happened while it waited.
        self.failures = 0
        self._warned: set[str] = set()
        self._stopping = False
        self._heartbeats: dict[str, tuple[Channel, Callable[[], UpdateRun]]] = {}
        self._last_heartbeat = 0.0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="recordkit-writer", daemon=True)
        self._thread.start()

    # --- caller's side -----------------------------------------------------------------------
    def channel(self, backend: Backend) -> Channel:
        with self._lock:
            found = self.channels.get(id(backend))
            if found is None or found.backend is not backend:
                found = self.channels[id(backend)] = Channel(self, backend)
            return found

    def make_room(self, channel: Channel) -> bool:
        """Called when a buffer is full: block, drop or raise as ``on_full`` says."""
        policy = self.settings.on_full
        if policy == "raise":
            raise RunStateError(
                f"the record buffer is full ({channel.limit} items) because storage is slower than logging; "
                "raise RECORDKIT_BUFFER_SIZE, log less often, or set on_full='block'"
            )
        if policy == "block":
            self.wake.set()
            deadline = time.monotonic() + self.settings.block_timeout
            with self.room:
                while len(channel.queue) >= channel.limit and time.monotonic() < deadline:
                    self.room.wait(min(0.05, max(0.0, deadline - time.monotonic())))
            if len(channel.queue) < channel.limit:
                return True
        self._warn_once(
            "dropped",
            f"recordkit dropped a record: the buffer stayed full ({channel.limit} items) "
            f"for {self.settings.block_timeout if policy == 'block' else 0} s; storage is failing or too slow",
        )
        return False

    def track(self, run_id: str, channel: Channel, counters: Callable[[], UpdateRun]) -> None:
        """Send ``counters()`` (step, epoch, heartbeat) for a live run every heartbeat interval."""
        with self._lock:
            self._heartbeats[run_id] = (channel, counters)

    def untrack(self, run_id: str) -> None:
        with self._lock:
            self._heartbeats.pop(run_id, None)

    def flush(self, channel: Channel | None = None, timeout: float | None = None) -> None:
        """Wait until everything put so far is committed; raise the first background error."""
        if threading.current_thread() is self._thread:
            return
        channels = [channel] if channel is not None else list(self.channels.values())
        markers = []
        for ch in channels:
            marker = _Marker()
            with ch.marker_lock:
                ch.markers += 1  # counted before it is queued: the writer scans for markers only then
            ch.queue.append(marker)
            markers.append(marker)
        failures = self.failures
        self.wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        for marker in markers:
            while not marker.done.wait(0.05):
                if self.failures > failures:
                    break  # storage failed while we waited: the writer keeps retrying, the caller learns now
                if deadline is not None and time.monotonic() > deadline:
                    break
                if not self._thread.is_alive():
                    break
        self.raise_error()

    def raise_error(self) -> None:
        error, self.error = self.error, None
        if error is not None:
            if isinstance(error, MirrorError):
                raise error
            if isinstance(error, StorageError):
                raise StorageError(f"{error} (recorded data is kept in memory and retried)") from error
            raise StorageError(f"recordkit could not store data in the background: {error!r}") from error

    def close(self, timeout: float = 30.0) -> None:
        """Drain every buffer and stop the thread."""
        self._stopping = True
        self.wake.set()
        self._thread.join(timeout)

    # --- writer thread -----------------------------------------------------------------------
    def _loop(self) -> None:
        interval = self.settings.flush_interval
        while True:
            self.wake.wait(interval)
            self.wake.clear()
            stopping = self._stopping
            try:
                self._heartbeat()
                for channel in list(self.channels.values()):
                    self._drain(channel)
            except BaseException as exc:  # never let the thread die silently
                self._fail("writer", exc)
            if stopping and not any(ch.queue for ch in self.channels.values()):
                return
            if stopping and self.error is not None:
                # Storage is still failing at exit: give up after the retries already made.
                return

    def _heartbeat(self) -> None:
        now = time.time()
        if now - self._last_heartbeat < self.settings.heartbeat and not self._stopping:
            return
        self._last_heartbeat = now
        with self._lock:
            beats = list(self._heartbeats.values())
        for channel, counters in beats:
            channel.queue.append(counters())

    def _drain(self, channel: Channel) -> None:
        queue = channel.queue
        popleft = queue.popleft
        while queue:
            chunk = [popleft() for _ in range(min(len(queue), max(channel.batch, 1)))]
            markers: list[_Marker] = []
            if channel.markers:  # rare: only while someone waits in flush()
                items: list[Any] = []
                for item in chunk:
                    if type(item) is _Marker:
                        markers.append(item)
                    else:
                        items.append(item)
                with channel.marker_lock:
                    channel.markers -= len(markers)
            else:
                items = chunk
            if items and channel.mirrors is not None:
                items = channel.mirrors.prepare(items)  # tensors converted once, for backend and mirrors
            with _gc_paused():
                kept = self._write(channel, items) if items else []
            if kept:
                # Storage is failing (locked, full, gone): keep the data at the front, retry after a pause.
                with channel.marker_lock:
                    channel.markers += len(markers)  # they go back in the queue: count them again
                for marker in reversed(markers):
                    queue.appendleft(marker)
                for item in reversed(kept):
                    queue.appendleft(item)
                time.sleep(min(1.0, self.settings.flush_interval))
                return
            for marker in markers:
                marker.done.set()
            with self.room:
                self.room.notify_all()

    def _write(self, channel: Channel, items: list[WriteItem]) -> list[WriteItem]:
        """Write items; return those to retry later (empty when done).

        A ``StorageError`` is the engine failing (locked, disk full, connection lost): everything is
        kept for a retry. Any other error comes from the data itself: the batch is split in halves
        until the offending item is found; it alone is dropped and reported.
        """
        try:
            channel.backend.write_batch(items)
        except StorageError as exc:
            self._fail("write", exc)
            return items
        except Exception as exc:
            if len(items) == 1:
                self._fail("write", exc)
                return []
            middle = len(items) // 2
            kept = self._write(channel, items[:middle])
            if kept:
                return kept + items[middle:]
            return self._write(channel, items[middle:])
        if isinstance(self.error, StorageError) and getattr(self.error, "_recordkit_retried", False):
            self.error = None  # the kept data is now written: nothing was lost, nothing to raise
        if channel.mirrors is not None:
            self._mirror(channel, items)
        return []

    def _mirror(self, channel: Channel, items: list[WriteItem]) -> None:
        """Feed the committed items to the mirrors; a failure is reported, never retried or fatal."""
        feed = channel.mirrors
        if feed is None:
            return
        try:
            feed.feed(items)
        except Exception as exc:
            error = MirrorError(f"a mirror could not write records ({type(exc).__name__}: {exc}); they are stored")
            error.__cause__ = exc
            if self.error is None or getattr(self.error, "_recordkit_retried", False):
                self.error = error
            self._warn_once(
                f"mirror:{type(exc).__name__}",
                f"recordkit could not write a mirror in the background ({exc}); the records are stored, "
                "training continues, and flush()/finish() will raise this error",
            )

    def _fail(self, kind: str, exc: BaseException) -> None:
        self.failures += 1
        if kind == "write" and isinstance(exc, StorageError):
            exc._recordkit_retried = True  # type: ignore[attr-defined]  # data kept, retried later
            if self.error is None or getattr(self.error, "_recordkit_retried", False):
                self.error = exc
        elif self.error is None or getattr(self.error, "_recordkit_retried", False):
            self.error = exc  # lost data outranks a transient failure
        self._warn_once(
            f"{kind}:{type(exc).__name__}",
            f"recordkit could not {kind} data in the background ({exc}); training continues, "
            "the data is retried, and flush()/finish() will raise this error",
        )

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            # Warnings turned into errors must not kill the writer thread.
            with contextlib.suppress(Exception):
                warnings.warn(message, RecordkitWarning, stacklevel=3)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch is converted and written.

    A batch allocates many short-lived lists and tuples that hold no cycles; the collector's repeated
    passes over them cost about a third of the writer's time (measured). Left alone if the user
    disabled the collector; re-enabled even if the write fails.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


_writer: Writer | None = None
_writer_lock = threading.Lock()


def get_writer(settings: Settings) -> Writer:
    """The process's writer, started on first use (and again in a forked child)."""
    global _writer
    if _writer is None:
        with _writer_lock:
            if _writer is None:
                _writer = Writer(settings)
    return _writer


def current_writer() -> Writer | None:
    return _writer


def _forget_after_fork() -> None:
    # The child inherits the parent's buffers but not its thread: start afresh, write nothing twice.
    global _writer, _writer_lock
    _writer = None
    _writer_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
