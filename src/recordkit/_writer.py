"""One background writer per process: each store's journal drained in batches, one transaction each.

The caller's side of the contract (``Channel.put``, and ``Scope.log`` through the channel's
journal) serialises an item into the store's journal (``_journal.py``): a memory-mapped file whose
pages survive the process, so nothing ``log()`` returned from is lost to a SIGKILL. Each store has
its own channel with the store's own settings (``flush_interval``, ``batch_size``, ``journal_size``,
``on_full``, ``block_timeout``, ``heartbeat``, ``fsync``). The writer thread wakes when the earliest
channel's flush interval is up, or early when a journal holds ``batch_size`` entries or someone
waits in ``flush()``; it decodes a batch with one ``marshal.loads``, commits it together with the
journal's mark, and only then frees the batch's bytes in the journal.

Failures never reach the training thread. A failed batch is kept and retried with backoff (a full
disk or a locked database usually recovers), a warning is issued once per kind of error, and the
error is raised again by the next ``flush()`` of that store. Items whose values cannot be converted
are dropped and reported the same way.
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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recordkit._exceptions import MirrorError, RecordkitWarning, StorageError
from recordkit._journal import Journal
from recordkit._settings import Settings
from recordkit.backends.base import Backend, JournalMark, UpdateRun, WriteItem

if TYPE_CHECKING:
    from recordkit.sinks.feed import MirrorFeed


class Channel:
    """A store's journal, with the store's settings. ``put`` (and ``journal.append``) is the hot path."""

    def __init__(self, writer: Writer, backend: Backend, settings: Settings) -> None:
        self.writer = writer
        self.backend = backend
        self.settings = settings
        self.limit = settings.buffer_size
        self.batch = settings.batch_size
        self.journal: Journal | None = None
        self._journal_lock = threading.Lock()
        #: Items of the writer's own (heartbeats): they need no journal, a lost one is sent again.
        self.queue: collections.deque[Any] = collections.deque()
        self.waiting = 0  # callers waiting in flush(): the writer drains at once
        #: A batch that failed with a StorageError, kept for a retry: (items, (offset, number) or None).
        self.retry: tuple[list[WriteItem], tuple[int, int] | None] | None = None
        #: Mirrors fed after each committed batch; None (the default) leaves the writer's path as it was.
        self.mirrors: MirrorFeed | None = None
        #: The media step (recordkit.media.step): images, histograms and tables become blobs and references.
        self.media: Callable[[list[Any]], tuple[list[Any], list[Exception]]] | None = None
        #: When the writer next drains this channel (monotonic seconds).
        self.due = time.monotonic() + settings.flush_interval
        self.last_heartbeat = 0.0
        self.last_sync = time.monotonic()
        self.heartbeats: dict[str, Callable[[], UpdateRun]] = {}
        #: The first background error not yet raised at a flush(), and whether its data is kept for a retry
        #: (a StorageError: the batch waits for the next attempt) rather than lost.
        self.error: BaseException | None = None
        self.error_kept = False
        # Counts failed attempts, so flush() can tell a failure that happened while it waited.
        self.failures = 0

    def open_journal(self) -> Journal:
        """The store's journal in this process, made on first use (a store only read makes none)."""
        with self._journal_lock:
            journal = self.journal
            if journal is None or journal.closed:
                settings = self.settings
                folder = getattr(self.backend, "journal_folder", None) if settings.journal else None
                journal = self.journal = Journal(
                    None if folder is None else Path(folder),
                    settings.journal_size,
                    limit=self.limit,
                    batch=self.batch,
                    on_full=settings.on_full,
                    block_timeout=settings.block_timeout,
                    wake=self.writer.wake.set,
                    warn=self.writer._warn_once,
                )
            return journal

    def put(self, item: WriteItem) -> None:
        journal = self.journal
        if journal is None or journal.closed:
            journal = self.open_journal()
        journal.append_item(item)

    def sync(self) -> None:
        """Force the journal's pages to disk (the ``fsync`` setting's ``finish`` and interval)."""
        if self.journal is not None:
            self.journal.sync()


class Writer:
    """The process's writer thread; get it with :func:`get_writer`."""

    def __init__(self) -> None:
        self.channels: dict[int, Channel] = {}
        self.wake = threading.Event()
        self._warned: set[str] = set()
        self._stopping = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="recordkit-writer", daemon=True)
        self._thread.start()

    # --- caller's side -----------------------------------------------------------------------
    @property
    def error(self) -> BaseException | None:
        """The first background error of any store not yet raised at a flush()."""
        return next((ch.error for ch in list(self.channels.values()) if ch.error is not None), None)

    def channel(self, backend: Backend, settings: Settings) -> Channel:
        """The buffer of ``backend``'s store, made with that store's settings on first use."""
        with self._lock:
            found = self.channels.get(id(backend))
            if found is None or found.backend is not backend:
                found = self.channels[id(backend)] = Channel(self, backend, settings)
            return found

    def track(self, run_id: str, channel: Channel, counters: Callable[[], UpdateRun]) -> None:
        """Send ``counters()`` (step, epoch, heartbeat) for a live run every heartbeat interval of its store."""
        with self._lock:
            channel.heartbeats[run_id] = counters

    def untrack(self, run_id: str) -> None:
        with self._lock:
            for channel in self.channels.values():
                channel.heartbeats.pop(run_id, None)

    def flush(self, channel: Channel | None = None, timeout: float | None = None) -> None:
        """Wait until everything put so far is committed; raise the first background error."""
        if threading.current_thread() is self._thread:
            return
        channels = [channel] if channel is not None else list(self.channels.values())
        targets = []
        for ch in channels:
            journal = ch.journal
            if journal is not None and not journal.closed:
                targets.append((ch, journal, ch.failures, journal.cut()))
                ch.waiting += 1
        self.wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            for ch, journal, failures, target in targets:
                with journal.room:
                    while journal.committed < target and not journal.closed:
                        if ch.failures > failures:
                            break  # storage failed while we waited: the writer keeps retrying, the caller learns now
                        if deadline is not None and time.monotonic() > deadline:
                            break
                        if not self._thread.is_alive():
                            break
                        journal.room.wait(0.05)
        finally:
            for ch, *_ in targets:
                ch.waiting -= 1
        for ch in channels:
            self.raise_error(ch)

    def raise_error(self, channel: Channel) -> None:
        """Raise (and clear) the channel's background error, if any."""
        error, channel.error, channel.error_kept = channel.error, None, False
        if error is not None:
            if isinstance(error, MirrorError):
                raise error
            if isinstance(error, StorageError):
                raise StorageError(f"{error} (recorded data is kept in memory and retried)") from error
            raise StorageError(f"recordkit could not store data in the background: {error!r}") from error

    def close(self, timeout: float = 30.0) -> None:
        """Drain every journal, stop the thread, and delete the journal files whose entries are all stored."""
        self._stopping = True
        self.wake.set()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            for channel in list(self.channels.values()):
                close_journal(channel)

    # --- writer thread -----------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            self.wake.wait(self._until_due())
            self.wake.clear()
            stopping = self._stopping
            now = time.monotonic()
            for channel in list(self.channels.values()):
                # Early when asked (a flush() marker, a full batch) or stopping; else at the channel's interval.
                if stopping or now >= channel.due or channel.waiting or _backlog(channel) >= channel.batch:
                    channel.due = now + channel.settings.flush_interval
                    try:
                        self._heartbeat(channel)
                        self._drain(channel)
                        self._sync(channel, now)
                    except BaseException as exc:  # never let the thread die silently
                        self._fail(channel, "writer", exc)
            channels = list(self.channels.values())
            if stopping and not any(ch.queue or _backlog(ch) or ch.retry for ch in channels):
                return
            if stopping and any(ch.error is not None for ch in channels):
                # Storage is still failing at exit: give up after the retries already made.
                return

    def _until_due(self) -> float:
        """Seconds until the earliest channel is due (the writer sleeps this long unless woken)."""
        dues = [ch.due for ch in list(self.channels.values())]
        return max(0.0, min(dues) - time.monotonic()) if dues else 0.5

    def _heartbeat(self, channel: Channel) -> None:
        now = time.time()
        if now - channel.last_heartbeat < channel.settings.heartbeat and not self._stopping:
            return
        channel.last_heartbeat = now
        with self._lock:
            beats = list(channel.heartbeats.values())
        for counters in beats:
            channel.queue.append(counters())

    def _sync(self, channel: Channel, now: float) -> None:
        every = channel.settings.fsync
        if type(every) is float and now - channel.last_sync >= every:
            channel.last_sync = now
            channel.sync()

    def _drain(self, channel: Channel) -> None:
        queue = channel.queue
        popleft = queue.popleft
        journal = channel.journal
        while True:
            if channel.retry is not None:
                items, end = channel.retry
                channel.retry = None
            else:
                items = [popleft() for _ in range(len(queue))]
                taken = journal.take() if journal is not None and not journal.closed else None
                end = None
                if taken is not None and journal is not None:
                    payloads, first, offset, number = taken
                    items += journal.decode(payloads, first)
                    end = (offset, number)
                    if journal.durable:
                        items.append(JournalMark(journal.id, number, offset))
                if not items and end is None:
                    return
                if items and channel.media is not None:
                    items, failed = channel.media(items)
                    for exc in failed:  # that record is dropped; the rest of the batch is stored
                        self._fail(channel, "store media", exc)
            if items and channel.mirrors is not None:
                items = channel.mirrors.prepare(items)  # tensors converted once, for backend and mirrors
            with _gc_paused():
                kept = self._write(channel, items) if items else []
            if kept:
                # Storage is failing (locked, full, gone): keep the batch (its journal bytes stay taken), retry later.
                channel.retry = (kept, end)
                time.sleep(min(1.0, channel.settings.flush_interval))
                return
            if end is not None and journal is not None:
                journal.release(*end)

    def _write(self, channel: Channel, items: list[WriteItem]) -> list[WriteItem]:
        """Write items; return those to retry later (empty when done).

        A ``StorageError`` is the engine failing (locked, disk full, connection lost): everything is
        kept for a retry. Any other error comes from the data itself: the batch is split in halves
        until the offending item is found; it alone is dropped and reported.
        """
        try:
            channel.backend.write_batch(items)
        except StorageError as exc:
            self._fail(channel, "write", exc, kept=True)
            return items
        except Exception as exc:
            if len(items) == 1:
                self._fail(channel, "write", exc)
                return []
            middle = len(items) // 2
            kept = self._write(channel, items[:middle])
            if kept:
                return kept + items[middle:]
            return self._write(channel, items[middle:])
        if channel.error_kept:
            channel.error, channel.error_kept = None, False  # the kept data is now written: nothing to raise
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
            if channel.error is None or channel.error_kept:
                channel.error, channel.error_kept = error, False
            self._warn_once(
                f"mirror:{type(exc).__name__}",
                f"recordkit could not write a mirror in the background ({exc}); the records are stored, "
                "training continues, and flush()/finish() will raise this error",
            )

    def _fail(self, channel: Channel, kind: str, exc: BaseException, *, kept: bool = False) -> None:
        """Remember a background failure for the channel's next flush(); warn once per kind.

        ``kept``: the data is kept and retried (a StorageError). Lost data outranks a kept one, and a
        later kept failure replaces an earlier kept one (it is the same batch, still waiting).
        """
        channel.failures += 1
        if channel.error is None or channel.error_kept:
            channel.error, channel.error_kept = exc, kept
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


def _backlog(channel: Channel) -> int:
    """Entries in the channel's journal not yet taken by the writer."""
    journal = channel.journal
    return 0 if journal is None else journal.number - journal.read_number


def close_journal(channel: Channel) -> None:
    """Unmap the channel's journal; its file is deleted when everything in it is stored."""
    journal = channel.journal
    if journal is not None and channel.retry is None:
        journal.close(committed=journal.committed == journal.number and not channel.queue)
    elif journal is not None:
        journal.close(committed=False)


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


def get_writer() -> Writer:
    """The process's writer, started on first use (and again in a forked child)."""
    global _writer
    if _writer is None:
        with _writer_lock:
            if _writer is None:
                _writer = Writer()
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
