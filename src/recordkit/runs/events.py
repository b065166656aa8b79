"""Events: the append-only log of what happened in a run, with hierarchical names.

``run.event("epoch/2/eval", acc=0.9)`` checks its arguments and appends one item to the writer's
buffer, like ``run.log``: no I/O in the caller's thread. Names are paths of ``/``-separated parts, so
``run.events.under("epoch/2")`` finds everything that happened in epoch 2; ``run.context("train")``
hands out a handle whose events are named ``train/…``. The library writes the lifecycle events itself
(``started``, ``paused``, ``resumed``, ``finished``, ``failed``, ``interrupted``, ``crashed``,
``attached``, ``referenced``, ``checkpoint``, ``linked``, ``sub_run``).

Exported as JSON Lines in the MLVLogger style (one event per line), strictly valid JSON: NaN and
infinities, datetimes and tensors are encoded with recordkit's tagged JSON (``{"$float": "nan"}``),
never written bare.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import IO, TYPE_CHECKING, Any, Protocol

from recordkit import _values as V
from recordkit._atomic import write_text
from recordkit._exceptions import InvalidNameError, RunStateError, StoreError
from recordkit.backends.base import AddEvent, Backend, EventRow

if TYPE_CHECKING:
    from recordkit.runs.handle import RunHandle

#: The event a resume writes; its data names the records it superseded (read by ``read.records``).
RESUMED = "resumed"
_MAX_NAME = 500
_BAD_NAME = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")  # lone surrogates are not UTF-8: no store holds them
# Names already checked: most loops emit the same few names again and again.
_checked_names: set[str] = set()


def check_event_name(name: object) -> str:
    """Return ``name`` if it is a valid hierarchical event name, else raise InvalidNameError."""
    if type(name) is str and name in _checked_names:
        return name
    if not isinstance(name, str):
        raise InvalidNameError(f"an event name must be a string, not {type(name).__name__} {name!r}")
    if not name or len(name) > _MAX_NAME:
        raise InvalidNameError(f"an event name must have 1 to {_MAX_NAME} characters, not {len(name)}")
    if _BAD_NAME.search(name) or any(not part.strip() for part in name.split("/")):
        raise InvalidNameError(
            f"event name {name!r} is not allowed: use parts separated by single '/' (like 'epoch/2/eval'), "
            "none of them empty, without control characters"
        )
    if len(_checked_names) < 10_000:
        _checked_names.add(name)
    return name


def check_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate an event's data in the caller's thread (tensors are only detached, as for records)."""
    return _check_own(dict(data))


def _check_own(data: dict[str, Any]) -> dict[str, Any]:
    """``check_data`` for a dict the caller no longer holds (``**data``): checked in place, not copied."""
    for key, value in data.items():
        cls = type(value)
        if cls not in _FAST:
            if not isinstance(key, str):
                raise TypeError(f"event data keys must be strings, got {key!r}")
            data[key] = V._check_value(key, value)
        elif cls is int or cls is str:
            V.check_scalar(key, value)  # an int beyond 64 bits or unstorable text fails the whole batch later
    return data


_FAST = frozenset({float, int, str, bool, type(None)})


def emit(
    run: RunHandle,
    name: str,
    data: dict[str, Any],
    *,
    duration: float | None = None,
    when: float | None = None,
    step: int | None = None,
) -> None:
    """Queue an event of ``run`` (library use: no checks of the run's state)."""
    when = time.time() if when is None else when
    run.channel.put(AddEvent(run.run_id, name, when, run.step if step is None else step, duration, data))


def user_event(run: RunHandle, name: str, data: dict[str, Any]) -> None:
    """``run.event``: check, then queue. ``data`` is the call's own ``**data`` dict (checked in place).

    Events may be written while the run is live in this process, paused included.
    """
    if run.writable is not True and not (run.row.status == "paused" and run.is_live_here()):
        raise RunStateError(
            f"cannot add an event to run {run.run_id!r}: it is {run.row.status}; events belong to a live run "
            f"(reopen it with collection.resume_run({run.row.number}))"
        )
    if data:
        _check_own(data)
    run.channel.put(AddEvent(run.run_id, check_event_name(name), time.time(), run.step, None, data))


def _join(prefix: str, name: str) -> str:
    return check_event_name(f"{prefix}/{check_event_name(name)}" if prefix else name)


class EventContext:
    """A handle whose events are named under a prefix; get one with ``run.context("train")``.

    Examples
    --------
    >>> train = run.context("train")                 # doctest: +SKIP
    >>> train.event("epoch/1", loss=0.3)              # named "train/epoch/1"
    >>> with train.timed("epoch/1/eval"): ...         # "train/epoch/1/eval" with its duration
    """

    def __init__(self, run: RunHandle, prefix: str) -> None:
        self.run = run
        self.prefix = check_event_name(prefix)

    def event(self, name: str, /, **data: Any) -> None:
        """Record an event named ``<prefix>/<name>``."""
        user_event(self.run, _join(self.prefix, name), data)  # **data: the call's own dict

    def context(self, name: str) -> EventContext:
        """A nested handle: ``run.context("train").context("epoch/2")`` names events ``train/epoch/2/…``."""
        return EventContext(self.run, _join(self.prefix, name))

    def timed(self, name: str, /, **data: Any) -> Timed:
        """Time a block; its event ``<prefix>/<name>`` carries the duration."""
        return Timed(self.run, _join(self.prefix, name), data)

    @property
    def events(self) -> Events:
        """This run's events under the prefix."""
        return Events.load(self.run, [self.run.run_id], self.prefix).under(self.prefix)

    def __repr__(self) -> str:
        return f"<EventContext {self.prefix!r} of run {self.run.run_id}>"


class Timed:
    """``with run.timed("eval"):`` records one event when the block ends, with its duration in seconds.

    The event's time and step are those when the block started. If the block raises, the event is still recorded with
    ``error`` (the exception's type name) in its data, and the exception propagates.
    """

    def __init__(self, run: RunHandle, name: str, data: Mapping[str, Any]) -> None:
        self.run = run
        self.name = check_event_name(name)
        self.data = check_data(data) if data else {}
        self.start = 0.0
        self.step = 0
        self._clock = 0.0
        #: The measured duration in seconds, once the block has ended.
        self.duration: float | None = None

    def __enter__(self) -> Timed:
        if not self.run.is_live_here():
            user_event(self.run, self.name, {})  # raises the precise RunStateError
        self.start = time.time()
        self.step = self.run.step
        self._clock = time.perf_counter()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.duration = time.perf_counter() - self._clock
        data = self.data if exc is None else {**self.data, "error": type(exc).__qualname__}
        if self.run.is_live_here():
            emit(self.run, self.name, data, duration=self.duration, when=self.start, step=self.step)


class EventSource(Protocol):
    """Where events are read from: a Store, or a run's handle (both have a backend and flush())."""

    @property
    def backend(self) -> Backend: ...

    def flush(self, timeout: float | None = None) -> None: ...


@dataclasses.dataclass(frozen=True)
class Event:
    """One stored event. ``duration`` is set for timed events; ``data`` is read-only."""

    seq: int
    run_id: str
    name: str
    time: float
    step: int
    duration: float | None
    data: Mapping[str, Any]

    @classmethod
    def from_row(cls, row: EventRow) -> Event:
        return cls(row.seq, row.run_id, row.name, row.time, row.step, row.duration, MappingProxyType(row.data))

    @property
    def parts(self) -> tuple[str, ...]:
        """The name's parts: ``"epoch/2/eval"`` → ``("epoch", "2", "eval")``."""
        return tuple(self.name.split("/"))

    def to_json(self) -> dict[str, Any]:
        """A strictly JSON-safe dict: the MLVLogger line format (ISO time in UTC, tagged NaN/datetimes)."""
        return {
            "seq": self.seq,
            "run_id": self.run_id,
            "name": self.name,
            "time": _dt.datetime.fromtimestamp(self.time, _dt.timezone.utc).isoformat(),
            "timestamp": self.time,
            "step": self.step,
            "duration": self.duration,
            "data": V.encode(dict(self.data)),
        }


class Events(Sequence[Event]):
    """The events of some runs, oldest first: index, iterate, narrow with ``under``/``named``/``where``.

    Built from the store when created (everything written so far, the caller's own pending events
    included: the writer is flushed first).

    Examples
    --------
    >>> run.events.under("epoch/2")                   # doctest: +SKIP
    >>> run.events.named("checkpoint")[-1].data       # doctest: +SKIP
    >>> col.events.to_jsonl("events.jsonl")           # doctest: +SKIP
    """

    def __init__(self, events: Sequence[Event]) -> None:
        self._events = list(events)

    @classmethod
    def load(cls, source: EventSource, run_ids: Sequence[str] | None, prefix: str | None = None) -> Events:
        """The events of ``run_ids`` (None: every run) stored in ``source``'s backend, after a flush."""
        source.flush()
        if run_ids is not None and not run_ids:
            return cls([])
        return cls([Event.from_row(row) for row in source.backend.events(run_ids, prefix)])

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return Events(self._events[index])
        return self._events[index]

    def under(self, prefix: str) -> Events:
        """Events named ``prefix`` or below it (``prefix/…``): navigation by the name's hierarchy."""
        prefix = check_event_name(prefix.rstrip("/") if isinstance(prefix, str) else prefix)
        below = prefix + "/"
        return Events([e for e in self._events if e.name == prefix or e.name.startswith(below)])

    def named(self, name: str) -> Events:
        """Events with exactly this name."""
        return Events([e for e in self._events if e.name == name])

    def where(self, **data: Any) -> Events:
        """Events whose data has these values (a callable receives the value and decides)."""
        def keep(event: Event) -> bool:
            for key, expected in data.items():
                actual = event.data.get(key)
                if not (expected(actual) if callable(expected) else actual == expected):
                    return False
            return True

        return Events([e for e in self._events if keep(e)])

    def names(self) -> list[str]:
        """Distinct names, in first-seen order."""
        return list(dict.fromkeys(e.name for e in self._events))

    def children(self, prefix: str = "") -> list[str]:
        """The next level of names below ``prefix``: for ``epoch/1/eval`` and ``epoch/2``, ``children("epoch")``
        is ``["1", "2"]``; ``children()`` lists the top level."""
        depth = 0 if not prefix else len(check_event_name(prefix).split("/"))
        below = prefix + "/" if prefix else ""
        found: dict[str, None] = {}
        for e in self._events:
            if e.name.startswith(below) and e.name != prefix:
                parts = e.name.split("/")
                if len(parts) > depth:
                    found[parts[depth]] = None
        return list(found)

    def to_dicts(self) -> list[dict[str, Any]]:
        """Each event as a strictly JSON-safe dict (see ``Event.to_json``)."""
        return [e.to_json() for e in self._events]

    def to_jsonl(self, path: str | os.PathLike[str] | IO[str] | None = None) -> str:
        """The events as JSON Lines; also written to ``path`` (a file name or a text file) when given.

        A file name is written atomically (temp file + rename). Every line is strict JSON: no bare
        NaN or Infinity, datetimes as ``{"$datetime": "…"}``.
        """
        text = "".join(json.dumps(e.to_json(), allow_nan=False, ensure_ascii=False) + "\n" for e in self._events)
        if path is None:
            return text
        if hasattr(path, "write"):
            path.write(text)
            return text
        write_text(Path(os.fspath(path)), text)  # a full disk: StorageError, no temp file left
        return text

    def to_pandas(self) -> Any:
        """A pandas DataFrame with one row per event (``pip install 'recordkit[analytics]'``)."""
        from recordkit._deps import require

        pandas = require("pandas")
        return pandas.DataFrame(
            [
                {"seq": e.seq, "run_id": e.run_id, "name": e.name, "time": e.time, "step": e.step,
                 "duration": e.duration, **{f"data.{k}": v for k, v in e.data.items()}}
                for e in self._events
            ]
        )

    def __repr__(self) -> str:
        return f"<Events: {len(self._events)} ({', '.join(self.names()[:5])}{'…' if len(self.names()) > 5 else ''})>"


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read an exported JSON Lines file back (tagged values decoded)."""
    with Path(os.fspath(path)).open(encoding="utf-8") as f:
        return [{**(line := json.loads(raw)), "data": V.decode(line["data"])} for raw in f if raw.strip()]


def write_event_log(run: RunHandle) -> None:
    """Mirror the run's events into ``<run folder>/events.jsonl`` (MLVLogger's log file) at the end.

    Read without flushing: the caller (``finish()``) has flushed, and a later background error belongs
    to a later flush.
    """
    import contextlib

    if run.root is None:
        return
    # A mirror: the database holds the truth. A full disk or a server outage leaves it for a later finish.
    with contextlib.suppress(OSError, StoreError):
        rows = run.backend.events([run.run_id])
        Events([Event.from_row(row) for row in rows]).to_jsonl(run.folder / "events.jsonl")
