"""A journal the training process cannot lose: every write item lands in a memory-mapped file before
``log()`` returns.

Each process gets one journal per store, ``<store>/.journal/<id>.rkj`` (a PostgreSQL store keeps it
beside its spool). The caller serialises an item (``marshal``, version 2: C speed, no pickling)
straight into the file's pages; those pages belong to the kernel's page cache, so they survive the
process being killed (SIGKILL, the OOM killer, a segfault). The writer thread reads entries back in
batches, commits them with a :class:`~recordkit.backends.base.JournalMark` in the same transaction,
and only then frees their bytes for reuse. An ``flock`` held on the file says its owner lives; the
next process to open the store replays a dead owner's uncommitted entries exactly once
(``_recovery.py``).

File layout::

    [0, 4096)            header: magic, version, ring capacity, dictionary size, journal id
    [4096, 4096 + DICT)  the dictionary: one entry per (run, key set) logged ("shapes"), append-only
    [RING, RING + cap)   the ring of entries; offsets only grow, an entry sits at offset % cap

An entry is ``[marshal float: b"g", length, crc][payload]`` (9 bytes of header): the header is itself
a marshal object, so a run of entries read back is decoded by one ``marshal.loads`` call (as a
list header followed by the bytes), without a Python loop per entry. The crc (seeded with the entry's
number) covers the payload, so a torn entry (whatever part of it reached the page) and a stale one left
from an earlier lap are both told from a good one; a replay keeps the intact prefix.

An entry never straddles the end of the ring: one that does not fit starts the next lap at offset
``k * cap`` (the bytes skipped count as used). The bytes between the committed tail and the head are
at most ``cap`` (the byte cap: a caller finding it full waits for the writer, or follows
``on_full``). Without a folder (journal off, or a shared store without a spool) the same ring lives
in anonymous memory: bounded the same way, lost with the process.
"""

from __future__ import annotations

import collections
import contextlib
import marshal
import mmap
import os
import struct
import threading
import time
import uuid
import weakref
import zlib
from collections.abc import Callable, Iterator
from operator import attrgetter
from pathlib import Path
from typing import Any

from recordkit._exceptions import RunStateError
from recordkit._journal_values import encode as encode_values
from recordkit._journal_values import revive as revive_values
from recordkit.backends.base import (
    AddEvent,
    AddFile,
    AddLink,
    CreateScope,
    RecordRows,
    RemoveFile,
    UpdateRun,
    UpdateScope,
    WriteItem,
)

try:  # POSIX; elsewhere a journal is never replayed while its owner may live (it is kept instead)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

MAGIC = b"RKJ1"
VERSION = 2  # 2: records are (time, *values, scope_id, seq, step); 1 (read back only): (scope_id, seq, step,
# time, *values, None)
SUFFIX = ".rkj"
HEADER_SIZE = 4096
DICT_SIZE = 1 << 20
FILE_HEADER = struct.Struct("<4sIQQ32s")  # magic, version, ring capacity, dictionary size, id
ENTRY = struct.Struct("<cII")  # a marshal float's 8 bytes, holding the payload's length and crc
ENTRY_SIZE = ENTRY.size
LIST = struct.Struct("<ci")  # a marshal list header: b"[", count

# Payloads: a record is a tuple ``(time, *values, scope_id, seq, step)`` (RecordRows' order) of the
# shape last switched to by an int entry (the shape's id); any other item is a list ``[code, fields]``.
_ITEM_FIELDS: tuple[tuple[type, tuple[str, ...]], ...] = (
    (CreateScope, ("id", "run_id", "parent_id", "fields", "label")),
    (UpdateScope, ("id", "fields")),
    (UpdateRun, ("run_id", "step", "epoch", "heartbeat")),
    (AddEvent, ("run_id", "name", "time", "step", "duration", "data")),
    (AddFile, ("run_id", "name", "kind", "time", "step", "size", "sha256", "path", "mtime", "meta")),
    (RemoveFile, ("run_id", "path", "time")),
    (AddLink, ("source_id", "target_id", "relation", "time", "data")),
)
_ENCODE = {cls: (-1 - i, attrgetter(*fields)) for i, (cls, fields) in enumerate(_ITEM_FIELDS)}
_DECODE = {-1 - i: cls for i, (cls, _) in enumerate(_ITEM_FIELDS)}
RECORD = -100  # a record without a shape: [RECORD, (run_id, scope_id, seq, step, time, values)]
PINNED = -101  # an item marshal cannot hold (GPU tensors, media): kept in memory, [PINNED, key]
ITEMS = -1  # the kind of a segment of items (a segment of records has its shape id)
NO_KIND = -2  # at the start of a batch: the next entry starts a segment
SWITCH_SIZE = ENTRY_SIZE + 5  # a shape's id entry (a marshal int)

_live: weakref.WeakSet[Journal] = weakref.WeakSet()
CLOSED = "cannot log: this store was closed (store.close()); open it again with rk.open() and resume the run"
_crc32 = zlib.crc32
# record() writes an entry's header and payload with one ``pack_into`` of a struct made per entry size
# (a slice assignment and a second call cost about 700 instructions more). The order of the bytes
# written no longer matters: the crc tells a torn entry whatever part of it reached the page.
_writers: dict[int, Callable[..., None]] = {}


def _writer_of(size: int) -> Callable[..., None]:
    if len(_writers) >= 1024:  # payload sizes vary with text and ints: keep the cache small
        _writers.clear()
    write = _writers[size] = struct.Struct(f"<cII{size - ENTRY_SIZE}s").pack_into
    return write


def write_entry(mm: Any, at: int, payload: bytes, seed: int) -> int:
    """Write one entry (header and ``payload``, its crc seeded with ``seed``) at ``at``; its size.
    (``Journal.record`` does the same inline: a call costs the hot path about 500 instructions.)"""
    size = len(payload) + ENTRY_SIZE
    write = _writers.get(size) or _writer_of(size)
    write(mm, at, b"g", size - ENTRY_SIZE, _crc32(payload, seed & 0xFFFFFFFF), payload)
    return size


def capacity_of(size: int) -> int:
    """The ring's capacity in a journal file of ``size`` bytes."""
    return size - HEADER_SIZE - DICT_SIZE


def crc_of(payload: bytes, number: int) -> int:
    return zlib.crc32(payload, number & 0xFFFFFFFF)


class Journal:
    """One process's journal for one store; see the module docstring.

    The caller's side (``append``, ``append_item``, ``shape``) takes ``lock``; the writer's side
    (``take``, ``release``) is called by the writer thread only and never takes it, so a caller
    waiting for room never blocks the writer that makes it.
    """

    # Slots: the hot path reads a dozen of these per record, and an instance dict of this many keys
    # is not key-shared (so not specialised) in CPython 3.11: slots halve record()'s attribute cost.
    __slots__ = (
        "__weakref__",
        "_decoded_items",
        "_dict_pos",
        "_fd",
        "_wake",
        "_warn",
        "batch",
        "block_timeout",
        "bounds",
        "busy",
        "capacity",
        "check_at",
        "closed",
        "committed",
        "durable",
        "id",
        "items_committed",
        "kind",
        "lap_base",
        "limit",
        "lock",
        "mm",
        "nested",
        "next_cut",
        "number",
        "on_full",
        "path",
        "pinned",
        "pos",
        "read_kind",
        "read_number",
        "read_off",
        "ring",
        "room",
        "segments",
        "shape_rows",
        "shapes",
        "stop",
        "switches",
        "tail",
    )

    def __init__(
        self,
        folder: Path | None,
        capacity: int,
        *,
        limit: int,
        batch: int,
        on_full: str,
        block_timeout: float,
        wake: Callable[[], None],
        warn: Callable[[str, str], None],
    ) -> None:
        self.id = uuid.uuid4().hex
        self.capacity = capacity
        self.limit = limit
        self.batch = batch
        self.on_full = on_full
        self.block_timeout = block_timeout
        self._wake = wake
        self._warn = warn
        self.path: Path | None = None
        self._fd: int | None = None
        size = HEADER_SIZE + DICT_SIZE + capacity
        if folder is not None:
            try:
                self._open_file(folder, size)
            except OSError as exc:  # a full or read-only disk: training goes on, the ring lives in memory
                self.path = None
                warn("journal", f"recordkit could not make its journal in {str(folder)!r} ({exc}); records "
                                "wait for the writer in memory and a killed process loses them")
        if self.path is None:
            self.mm = mmap.mmap(-1, size)
        self.durable = self.path is not None
        self.ring = HEADER_SIZE + DICT_SIZE
        # Re-entrant, with ``busy``: a signal handler may run in the middle of an append (see ``defer``).
        self.lock = threading.RLock()
        self.busy = False
        self.nested: list[tuple[int, bytes]] = []
        self.room = threading.Condition(threading.Lock())
        # The caller's side: the next entry's number, its position in the ring, and the offset (only
        # grows) where the current lap starts: the entry's offset is ``lap_base + pos`` (``head``).
        self.number = 0
        self.pos = 0
        self.lap_base = 0
        self.switches = 0  # shapes' id entries written (``items`` is the rest)
        self.bounds: collections.deque[tuple[int, int, int]] = collections.deque()  # (offset, number, next)
        self.next_cut = batch
        self.pinned: dict[int, WriteItem] = {}  # id(item) → item
        # Segments: (first entry number, kind) each time the kind of entry changes (another shape's
        # records, or items); ``kind`` is the caller's current one, ``read_kind`` the writer's.
        self.segments: collections.deque[tuple[int, int]] = collections.deque()
        self.kind = ITEMS
        self.read_kind = ITEMS
        # Shapes: (run id, keys) → id, written once to the dictionary; ``shape_rows`` is id → (run, keys).
        self.shapes: dict[tuple[str, tuple[str, ...]], int] = {}
        self.shape_rows: list[tuple[str, tuple[str, ...]]] = []
        self._dict_pos = 0
        # The writer's side: what is committed (frees bytes) and where reading goes on.
        self.tail = 0
        self.committed = 0
        self.items_committed = 0  # items (records and others, not shapes' ids): ``limit`` caps those waiting
        self._decoded_items = 0
        # record()'s whole check is two compares: ``pos + size`` within ``stop`` (the lap's end and the
        # room left, less a shape's id entry) and ``number`` below ``check_at`` (the next cut and the
        # item limit). Both are recomputed by the caller on the slow path only; ``release()`` (the
        # writer) just sets ``stop`` to -1, so a bound computed from older room is only ever too small.
        self.stop = capacity - SWITCH_SIZE
        self.check_at = min(batch, limit)
        self.read_off = 0
        self.read_number = 0
        self.closed = False
        _live.add(self)

    def _open_file(self, folder: Path, size: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.id}{SUFFIX}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held while this process lives
            # Every page allocated now: a page first touched on a full disk would kill the process (SIGBUS).
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, size)
            else:  # pragma: no cover
                os.ftruncate(fd, size)
            self.mm = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        self._fd = fd
        self.path = path
        FILE_HEADER.pack_into(self.mm, 0, MAGIC, VERSION, capacity_of(size), DICT_SIZE, self.id.encode())

    # --- the caller's side -------------------------------------------------------------------
    def record(self, shape: int, payload: bytes) -> None:
        """Write one record of ``shape`` (the hot path of ``run.log``); returns once it is in the file."""
        lock = self.lock
        lock.acquire()
        try:
            if self.busy:  # a signal handler that logs, in the middle of this thread's append
                self.nested.append((shape, payload))
                return
            self.busy = True
            size = len(payload) + ENTRY_SIZE
            pos = self.pos
            number = self.number
            if pos + size > self.stop or number >= self.check_at or shape != self.kind:
                pos = self._make_way(shape, size)  # a new lap, a cut, waiting for room, the shape's id
                if pos < 0:
                    return  # dropped (on_full)
                number = self.number
            write = _writers.get(size) or _writer_of(size)  # write_entry, inlined
            try:
                write(self.mm, self.ring + pos, b"g", size - ENTRY_SIZE, _crc32(payload, number & 0xFFFFFFFF), payload)
            except ValueError:  # unmapped under us: store.close() in another thread
                if self.closed:
                    raise RunStateError(CLOSED) from None
                raise
            self.number = number + 1
            self.pos = pos + size
            if self.nested:
                self._put_nested()
        finally:
            self.busy = False
            lock.release()
        if _deferred:
            run_deferred()

    def _make_way(self, shape: int, size: int) -> int:
        """record()'s slow path (the lock held): start a lap, cut a batch, wait for room and write the
        shape's id as needed; the position to write the record at, or -1 when it is dropped. The lap
        and the room come first, for the shape's id too: no batch may end between a shape's id and its
        record."""
        if self.pos + size + SWITCH_SIZE > self.capacity or self.closed:
            self._new_lap(size + SWITCH_SIZE)
        if self.number >= self.next_cut:
            self._cut_here()
        if not self._fits(size + SWITCH_SIZE) and not self._make_room(size + SWITCH_SIZE):
            return -1
        if shape != self.kind:
            self._switch(shape)
        self._restop()
        return self.pos

    def _restop(self) -> None:
        """Recompute record()'s bounds (the lock held)."""
        if self.closed:
            self.stop = self.check_at = -1
            return
        self.stop = min(self.capacity, self.tail + self.capacity - self.lap_base) - SWITCH_SIZE
        self.check_at = min(self.next_cut, self.items_committed + self.limit + self.switches)

    @property
    def head(self) -> int:
        """The next entry's offset (only grows; it sits at ``head % capacity``)."""
        return self.lap_base + self.pos

    @property
    def items(self) -> int:
        """Items appended (records and other items, not shapes' ids)."""
        return self.number - self.switches

    def append_item(self, item: WriteItem) -> None:
        """Journal any write item: plain fields through marshal, anything else pinned in memory."""
        code_fields = _ENCODE.get(type(item))
        pinned = None
        try:
            if code_fields is not None:
                payload = marshal.dumps([code_fields[0], code_fields[1](item)], 2)
            elif type(item) is tuple and isinstance(item[5], dict):
                try:
                    payload = marshal.dumps([RECORD, item], 2)
                except ValueError:  # datetimes, arrays, CPU tensors: tagged (_journal_values)
                    payload = marshal.dumps([RECORD, (*item[:5], encode_values(item[5], self.capacity // 8))], 2)
            else:
                raise ValueError("not a plain item")
            if len(payload) > self.capacity // 8:  # a big list or text would crowd the ring out (or not fit)
                raise ValueError("kept in memory")
        except ValueError:  # a GPU tensor, media...: durable once committed, like before the journal
            pinned = id(item)  # unique while the item is held here
            payload = marshal.dumps([PINNED, pinned], 2)
        with self.lock:
            if pinned is not None:
                self.pinned[pinned] = item
            if self.busy:  # nested in this thread's append (a signal handler): after it, in order
                self.nested.append((ITEMS, payload))
                return
            self.busy = True
            try:
                written = (self.kind == ITEMS or self._switch(ITEMS)) and self._put(payload)
                if not written and pinned is not None:
                    self.pinned.pop(pinned, None)
                if self.nested:
                    self._put_nested()
            finally:
                self.busy = False
        if _deferred:
            run_deferred()

    def append(self, payload: bytes) -> None:
        """Write one raw entry (tests; the writer never sees it as an item)."""
        with self.lock:
            self._put(payload)

    def _switch(self, kind: int) -> bool:
        """Start a segment of ``kind`` (a shape's records, or ITEMS); a shape's starts with its id.

        Every batch (see ``bounds``) starts a segment afresh, so a replay from any batch's end knows
        the shape of the records that follow."""
        number = self.number
        if kind != ITEMS:
            if not self._put(marshal.dumps(kind, 2), cut=False):
                return False
            self.switches += 1
        self.segments.append((number, kind))
        self.kind = kind
        return True

    def _put_nested(self) -> None:
        nested, self.nested = self.nested, []
        for kind, payload in nested:
            size = len(payload) + ENTRY_SIZE + SWITCH_SIZE
            if kind != ITEMS:  # as in record(): lap and room for both first, no bound between a switch and its record
                if self.pos + size > self.capacity:
                    self._new_lap(size)
                if not self._fits(size) and not self._make_room(size):
                    continue  # dropped (on_full)
            if kind == self.kind or self._switch(kind):
                self._put(payload)

    def _put(self, payload: bytes, *, cut: bool = True) -> bool:
        """Write one entry with the lock held; False when it was dropped (``on_full``). ``cut``: a
        batch may end after it (not after a shape's id: its records must follow in the same batch)."""
        size = len(payload) + ENTRY_SIZE
        if self.pos + size > self.capacity or self.closed:
            self._new_lap(size)
        if (self.head + size - self.tail > self.capacity or (cut and not self._fits(0))) and not self._make_room(size):
            return False
        number = self.number
        write_entry(self.mm, self.ring + self.pos, payload, number)
        self.number = number = number + 1
        self.pos += size
        if cut and number >= self.next_cut:  # an item (a shape's id is none)
            self._cut_here()
        self._restop()
        return True

    def _cut_here(self) -> None:
        """A batch is waiting: cut it here and wake the writer."""
        self.next_cut = self.number + self.batch
        self.bounds.append((self.head, self.number, self.head))
        self.kind = NO_KIND  # the next batch starts its own segment
        self._wake()

    def shape(self, run_id: str, keys: tuple[str, ...]) -> int | None:
        """The id of (run, keys), written to the dictionary on first use; None when it is full."""
        key = (run_id, keys)
        with self.lock:
            found = self.shapes.get(key)
            if found is not None:
                return found
            shape_id = len(self.shape_rows)
            payload = marshal.dumps((shape_id, run_id, keys), 2)
            size = len(payload) + ENTRY_SIZE
            if self._dict_pos + size > DICT_SIZE:
                return None
            self._dict_pos += write_entry(self.mm, HEADER_SIZE + self._dict_pos, payload, shape_id)
            self.shape_rows.append(key)
            self.shapes[key] = shape_id
            return shape_id

    def _new_lap(self, size: int) -> int:
        """Start the next lap (the entry does not fit before the ring's end); return the new position."""
        if self.closed:  # record() comes here once closed (its bounds are -1): one clear error, no hot-path cost
            raise RunStateError(CLOSED)
        if size > self.capacity:
            raise RunStateError(
                f"a record of {size:,} bytes does not fit in the journal ({self.capacity:,} bytes); "
                "raise RECORDKIT_JOURNAL_SIZE or log smaller values"
            )
        following = self.lap_base + self.capacity
        self.bounds.append((self.head, self.number, following))
        self.kind = NO_KIND  # the next batch starts its own segment
        self.lap_base = following
        self.pos = 0
        return 0

    def _make_room(self, size: int) -> bool:
        """The ring (or the item limit) is full: block, drop or raise as ``on_full`` says. What waits
        becomes a batch of its own, so the writer can take all of it."""
        self._bound()
        if self.on_full == "raise":
            waiting = self.items - self.items_committed
            what, setting = (
                (f"{waiting:,} items", "RECORDKIT_BUFFER_SIZE") if waiting >= self.limit
                else (f"{self.capacity:,} bytes of journal", "RECORDKIT_JOURNAL_SIZE")
            )
            raise RunStateError(
                f"the record buffer is full ({what}) because storage is slower than logging; "
                f"raise {setting}, log less often, or set on_full='block'"
            )
        if self.on_full == "block":
            self._wake()
            deadline = time.monotonic() + self.block_timeout
            with self.room:
                while not self._fits(size) and not self.closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.room.wait(min(0.05, left))
            if self._fits(size):
                return True
        self._warn(
            "dropped",
            f"recordkit dropped a record: the buffer stayed full ({self.limit:,} items or {self.capacity:,} bytes) "
            f"for {self.block_timeout if self.on_full == 'block' else 0} s; storage is failing or too slow",
        )
        return False

    def _fits(self, size: int) -> bool:
        return self.head + size - self.tail <= self.capacity and self.items - self.items_committed < self.limit

    def cut(self) -> int:
        """Make everything appended so far a batch of its own (a flush waits for it); its end number."""
        with self.lock:
            self._bound()
            return self.number

    def _bound(self) -> None:
        """End a batch at the head (the lock held); the next entry starts a segment."""
        if not self.bounds or self.bounds[-1][1] != self.number:
            self.bounds.append((self.head, self.number, self.head))
            self.kind = NO_KIND

    # --- the writer's side -------------------------------------------------------------------
    def take(self) -> tuple[list[Any], int, int, int] | None:
        """The payloads of the next batch of entries (or of several waiting in a row), the number of
        its first, and the (offset, number) it ends at; None if there is none."""
        if not self.bounds and self.number > self.read_number and self.lock.acquire(blocking=False):
            try:  # entries wait without a bound (a slow loop, a timed flush): end a batch at them
                self._bound()
            finally:
                self.lock.release()
        bounds = self.bounds
        while bounds:  # only whole batches are taken: a shape's id may follow a batch's end, not more
            end_off, end_number, following = bounds.popleft()
            if end_number == self.read_number:
                self.read_off = following  # a new lap starts there (or the same place, after a cut)
                continue
            start, first = self.read_off, self.read_number
            pieces = [(start, first, end_off, end_number)]
            # Batches waiting back to back in one lap are taken together (up to four): one transaction,
            # fewer statements, each of which gives the GIL back to a busy caller and waits to win it.
            most = first + 4 * self.batch
            while following == end_off and bounds and bounds[0][1] <= most:
                piece_start, piece_first = end_off, end_number
                end_off, end_number, following = bounds.popleft()
                pieces.append((piece_start, piece_first, end_off, end_number))
            self.read_off, self.read_number = following, end_number
            payloads: list[Any] = []
            for piece_start, piece_first, piece_end, piece_number in pieces:  # one marshal.loads each: the
                at = self.ring + piece_start % self.capacity  # caller may run between them
                raw = self.mm[at : at + piece_end - piece_start]
                payloads += marshal.loads(LIST.pack(b"[", 2 * (piece_number - piece_first)) + raw)[1::2]
            return payloads, first, end_off, end_number
        return None

    def release(self, offset: int, number: int) -> None:
        """Entries before ``number`` are committed: their bytes may be reused."""
        self.tail = offset
        self.committed = number
        self.items_committed += self._decoded_items
        self._decoded_items = 0
        self.stop = -1  # record() recomputes its bounds with the new room
        with self.room:
            self.room.notify_all()

    def decode(self, payloads: list[Any], first: int) -> list[WriteItem]:
        """Write items from the payloads of entries ``first``…: each segment of one shape's records is
        one RecordRows whose rows are the payloads themselves (a list slice: no work per record)."""
        out: list[WriteItem] = []
        segments = self.segments
        end = first + len(payloads)
        kind = self.read_kind
        i = first
        while i < end:
            if segments and segments[0][0] == i:
                kind = segments.popleft()[1]
                if kind != ITEMS:
                    i += 1  # the shape's id entry
                continue
            stop = segments[0][0] if segments and segments[0][0] < end else end
            chunk = payloads[i - first : stop - first]
            self._decoded_items += len(chunk)
            if kind == ITEMS:
                out += decode_items(chunk, self.pinned)
            elif chunk:
                run_id, keys = self.shape_rows[kind]
                out.append(RecordRows(run_id, keys, chunk))
            i = stop
        self.read_kind = kind
        return out

    def sync(self) -> None:
        """Write the journal's dirty pages to the disk (power loss; see the ``fsync`` setting)."""
        if self.durable and not self.closed:
            with contextlib.suppress(ValueError, OSError):
                self.mm.flush()

    def close(self, *, committed: bool) -> None:
        """Unmap; a committed file is deleted (nothing in it is needed), else left for a replay."""
        if self.closed:
            return
        self.closed = True
        self.stop = self.check_at = -1  # every later record() goes to _new_lap, which says the store is closed
        with self.room:
            self.room.notify_all()
        if committed and self.path is not None:
            self.path.unlink(missing_ok=True)
        with contextlib.suppress(BufferError, ValueError):
            self.mm.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def detach(self) -> None:
        """In a forked child: never write into the parent's file, nor keep its lock alive."""
        self.mm = mmap.mmap(-1, len(self.mm))
        self.durable = False
        self.path = None
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        self.lock = threading.RLock()
        self.busy = False
        self.room = threading.Condition(threading.Lock())


def decode_items(payloads: list[Any], pinned: dict[int, Any]) -> list[WriteItem]:
    """Write items from item payloads (``[code, fields]`` lists)."""
    items: list[WriteItem] = []
    for code, fields in payloads:
        if code == PINNED:
            found = pinned.pop(fields, None)
            if found is not None:  # an item this process's memory held died with it
                items.append(found)
        elif code == RECORD:
            items.append((*fields[:5], revive_values(fields[5])))
        else:
            items.append(_DECODE[code](*fields))
    return items


def decode(payloads: list[Any], shapes: list[tuple[str, tuple[str, ...]]], version: int = VERSION) -> list[
        WriteItem]:
    """Write items from any run of payloads, read back by a replay (no segments known: by type)."""
    items: list[WriteItem] = []
    shape = -1
    for p in payloads:
        if type(p) is int:
            shape = p
        elif type(p) is tuple:
            if version == 1:  # a journal left by recordkit before its records led with time and values
                p = (p[3], *p[4:-1], p[0], p[1], p[2])
            last = items[-1] if items else None
            if type(last) is RecordRows and last.keys is shapes[shape][1] and last.run_id is shapes[shape][0]:
                last.rows.append(p)
            else:
                items.append(RecordRows(*shapes[shape], [p]))
        else:
            items += decode_items([p], {})
    return items


# --- reading a journal file back (a replay) ------------------------------------------------------
class JournalFile:
    """A journal file opened by another process, to replay what its dead owner left uncommitted."""

    def __init__(self, mm: mmap.mmap) -> None:
        magic, version, capacity, dict_size, raw_id = FILE_HEADER.unpack_from(mm, 0)
        if magic != MAGIC or version not in (1, VERSION):
            raise ValueError("not a recordkit journal (or a newer version)")
        self.version = version
        self.mm = mm
        self.id = raw_id.decode("ascii")
        self.capacity = capacity
        self.dict_size = dict_size
        self.ring = HEADER_SIZE + dict_size
        self.shapes: list[tuple[str, tuple[str, ...]]] = [
            (p[1], tuple(p[2])) for _, _, p in _walk(mm, HEADER_SIZE, dict_size, 0, 0, wrap=False)
        ]

    def entries(self, offset: int, number: int) -> Iterator[tuple[int, int, Any]]:
        """(offset after, number, payload) of each intact entry from ``(offset, number)`` on."""
        return _walk(self.mm, self.ring, self.capacity, offset, number, wrap=True)


def _walk(mm: Any, base: int, capacity: int, offset: int, number: int, *, wrap: bool) -> Iterator[
        tuple[int, int, Any]]:
    """Entries in order from ``offset`` expecting ``number``; stops at the first torn or stale one."""
    walked = 0
    while walked <= capacity:
        found = _entry_at(mm, base, capacity, offset % capacity, number)
        if found is None and wrap and offset % capacity:
            skip = capacity - offset % capacity
            found = _entry_at(mm, base, capacity, 0, number)
            if found is not None:
                offset += skip
                walked += skip
        if found is None:
            return
        size, payload = found
        offset += size
        walked += size
        yield offset, number, payload
        number += 1


def _entry_at(mm: Any, base: int, capacity: int, pos: int, number: int) -> tuple[int, Any] | None:
    if pos + ENTRY_SIZE > capacity or base + pos + ENTRY_SIZE > len(mm):
        return None  # past the ring's end, or past the end of a truncated file
    tag, length, crc = ENTRY.unpack_from(mm, base + pos)
    end = base + pos + ENTRY_SIZE + length
    if tag != b"g" or pos + ENTRY_SIZE + length > capacity or end > len(mm):
        return None
    payload = mm[base + pos + ENTRY_SIZE : base + pos + ENTRY_SIZE + length]
    if crc_of(payload, number) != crc:
        return None
    try:
        return ENTRY_SIZE + length, marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None


_deferred: list[Callable[[], None]] = []


def busy_here() -> bool:
    """Whether this thread is in the middle of writing a journal entry (a signal handler interrupted it)."""
    return any(journal.busy and journal.lock._is_owned() for journal in list(_live))  # type: ignore[attr-defined]


def defer(call: Callable[[], None]) -> None:
    """Run ``call`` as soon as this thread's current append is complete (a signal handler that must
    log and flush cannot do so in the middle of an entry)."""
    _deferred.append(call)


def run_deferred() -> None:
    while _deferred:
        _deferred.pop(0)()


def _detach_after_fork() -> None:
    for journal in list(_live):
        journal.detach()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_detach_after_fork)
