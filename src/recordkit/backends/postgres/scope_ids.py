"""Scope ids for the shared store, handed out from memory so that ``run.scope()`` never waits on the
network, not even while the server is down or a network cut swallows every packet.

Ids come from a block reserved on the server (one round trip per ``BLOCK`` ids, unique by the
server's counter); the first block is reserved when first needed, and the next one ahead, in a
background thread, once the current one is half used. When no reserved block is at hand (the server
is away, or a reservation hangs), a block is drawn at random from the upper half of the id space
(2**62 and up, which the server's counter never reaches): unique in the same sense as run ids are
(64 random bits), with no round trip. Such ids are final; nothing is renumbered later.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

#: Ids per block reserved on the server.
BLOCK = 1024
# Ids drawn without the server live in [2**62, 2**63): PostgreSQL's bigint holds them, and the
# server's counter (starting at 1) would need 2**62 reservations to reach them.
_OFFLINE_BASE = 2**62
# Seconds between attempts to reserve ahead after one failed (the server is down).
_RETRY = 5.0


class ScopeIds:
    """A thread-safe source of scope ids; ``reserve(count)`` asks the server for ``count`` ids, and
    ``reachable()`` says (without I/O) whether the server is believed to answer."""

    def __init__(self, reserve: Callable[[int], range], reachable: Callable[[], bool]) -> None:
        self._reserve = reserve
        self._reachable = reachable
        self._lock = threading.Lock()
        self._block = range(0)
        self._next: range | None = None
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None
        self._in_flight = False
        self._failed_at = -_RETRY
        self._stopped = False
        self._pid = os.getpid()

    def take(self, count: int) -> range:
        """``count`` consecutive ids, from memory; a round trip only for the first block, or when the
        block ahead is late although the server answers (never while a reservation hangs)."""
        with self._lock:
            if self._pid != os.getpid():  # a forked child must never hand out its parent's ids
                self._pid, self._block, self._next, self._thread = os.getpid(), range(0), None, None
                self._in_flight = False
            if len(self._block) < count:
                block, self._next = self._next, None
                if block is None or len(block) < count:
                    block = self._now(max(count, BLOCK))
                self._block = block
            ids, self._block = self._block[:count], self._block[count:]
            if len(self._block) < BLOCK // 2 and self._next is None:
                self._ask_ahead()
            return ids

    def _now(self, count: int) -> range:
        """A block at once: from the server when it answers and no reservation is stuck, else drawn."""
        if self._in_flight or self._stopped or time.monotonic() - self._failed_at < _RETRY or not self._reachable():
            return _drawn(count)
        try:
            return self._reserve(count)
        except Exception:
            self._failed_at = time.monotonic()
            return _drawn(count)

    def _ask_ahead(self) -> None:
        if self._stopped or time.monotonic() - self._failed_at < _RETRY:
            return
        self._wanted.set()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._serve, name="recordkit-scope-ids", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """The store closes: the thread ends (ids taken so far stay valid)."""
        self._stopped = True
        self._wanted.set()

    def _serve(self) -> None:
        # One long-lived thread (so one connection) per store and process; it waits until asked.
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopped:
                return
            self._in_flight = True
            try:
                block = self._reserve(BLOCK)
            except Exception:  # the server is away: the ids drawn at random serve meanwhile
                self._failed_at = time.monotonic()
                continue
            finally:
                self._in_flight = False
            with self._lock:
                self._next = block


def _drawn(count: int) -> range:
    """``count`` consecutive ids at a random place in [2**62, 2**63)."""
    start = _OFFLINE_BASE + int.from_bytes(os.urandom(8), "big") % (_OFFLINE_BASE - count)
    return range(start, start + count)
