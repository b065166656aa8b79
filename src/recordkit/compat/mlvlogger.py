"""MLVLogger's API over recordkit: ``from recordkit.compat.mlvlogger import Exp``.

``Exp(savedir, name, params, kind)`` creates ``<savedir>/<name>/`` with MLVLogger's two files:
``meta.json`` (params, kind, git, environment and command, captured once by recordkit, secrets
redacted; the experiment ``id`` is a hash of the rest of it) and ``log.jsonl``, one strict JSON event per
line, written and flushed as each event happens. Underneath, the experiment is a run of collection
``mlvlogger`` in the store at ``savedir`` (``params`` are its frozen config) and every event is a
recordkit event. An ``Exp`` whose ``savedir`` lies inside another experiment's folder (the seed's
``init_squeeze_exp`` pattern, ``<parent>/squeeze/subexp_1``) is a sub-run of that experiment's run,
in that experiment's store, even when the parent's script has long finished.

>>> exp = Exp("/storage", "my_exp_1", {"lr": 0.1})                        # doctest: +SKIP
>>> exp.logger.child("epoch/1").event("eval", acc=0.9)                   # "epoch/1/eval" in log.jsonl
>>> with exp.logger.timed("train"): ...                                  # doctest: +SKIP
>>> squeeze = Exp("/storage/my_exp_1/squeeze", "subexp_1", {"ratio": 0.5}, kind="squeeze")  # doctest: +SKIP
>>> rk.open("/storage").collection("mlvlogger").events.to_pandas()        # doctest: +SKIP
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import recordkit as rk
from recordkit.compat._common import safe_file_name, to_plain, write_atomically

#: The collection of top-level experiments.
COLLECTION = "mlvlogger"
#: Marks an MLVLogger meta.json (recordkit's own run folders hold a meta.json too).
FORMAT = "recordkit.compat.mlvlogger/1"


def _tagged(value: Any) -> Any:
    """``value`` in recordkit's tagged JSON (NaN, infinities, datetimes encoded), as its events are."""
    return rk.Event(0, "", "value", 0.0, 0, None, {"value": value}).to_json()["data"]["value"]


def experiment_id(meta: Mapping[str, Any]) -> str:
    """The hash of a meta.json's content without its ``id``: anyone can recompute it from the file."""
    content = {key: value for key, value in meta.items() if key != "id"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class Exp:
    """One experiment: its folder, meta.json, live log.jsonl, and a :class:`Logger` (``exp.logger``).

    Parameters
    ----------
    savedir
        The folder the experiment folder is made in. Inside another experiment's folder, this
        experiment is that one's sub-experiment.
    name
        The experiment folder's name (and the run's).
    params
        The meta parameters (frozen, like recordkit's config).
    kind
        What sort of experiment this is (``"squeeze"``); also a tag of the run.
    store
        For a top-level experiment: the store to use (default: ``savedir``).
    capture
        What recordkit captures for ``meta.json`` (True: everything, git included).
    """

    def __init__(
        self,
        savedir: str | os.PathLike[str],
        name: str,
        params: Mapping[str, Any] | None = None,
        kind: str | None = None,
        *,
        store: str | os.PathLike[str] | rk.Store | None = None,
        capture: bool | Sequence[str] = True,
    ) -> None:
        if not isinstance(name, str) or safe_file_name(name) != name:
            raise rk.InvalidNameError(f"an experiment name is one folder name, without slashes or a leading dot; "
                                      f"not {name!r}")
        self.savedir = Path(savedir).absolute()
        self.name, self.kind, self.params = name, kind, dict(params or {})
        self.folder = self.savedir / name
        if (self.folder / "meta.json").exists():
            raise FileExistsError(f"{str(self.folder)!r} already holds an experiment (its meta.json); "
                                  "give the new experiment another name")
        parent = _find_parent(self.savedir)
        if parent is None:
            self.store = store if isinstance(store, rk.Store) else rk.open(self.savedir if store is None else store)
            root = self.store.path
            if root is not None and root.absolute() == self.savedir and name in (COLLECTION, "blobs"):
                raise rk.InvalidNameError(f"{name!r} is a folder of the store in {str(self.savedir)!r}; "
                                          "name the experiment otherwise")
            tags = [kind] if kind else []
            self.run = self.store.collection(COLLECTION).start_run(self.params, name=name, tags=tags, capture=capture)
            self.parent_id: str | None = None
        else:
            parent_folder, parent_meta = parent
            self.store = rk.open(parent_folder / parent_meta["recordkit"]["store"], create=False)
            parts = self.savedir.relative_to(parent_folder).parts
            sub_kind = "_".join(parts) if parts else (kind or "sub")
            parent_run = self.store.run(parent_meta["recordkit"]["run_id"])
            self.run = parent_run.sub_run(sub_kind, name=name, config=self.params, capture=capture)
            self.parent_id = parent_meta["id"]
        self.folder.mkdir(parents=True, exist_ok=True)
        self.meta = self._meta()
        self.id = self.meta["id"]
        write_atomically(self.folder / "meta.json", json.dumps(self.meta, indent=2, allow_nan=False) + "\n")
        self._lock = threading.Lock()
        self._seq = 0
        self._log: IO[str] | None = (self.folder / "log.jsonl").open("a", encoding="utf-8")
        self.logger = Logger(self)
        self._line("started", {"id": self.id, "name": name, "kind": kind, "parent": self.parent_id})

    def _meta(self) -> dict[str, Any]:
        if self.store.path is None:
            raise rk.StoreError(f"MLVLogger experiments need a store with a folder; {self.store.url!r} has none")
        env = to_plain(self.run.env)
        process = env.get("process") or {}
        meta: dict[str, Any] = _tagged({
            "format": FORMAT,
            "name": self.name,
            "kind": self.kind,
            "params": self.params,
            "git": env.get("git"),
            "environment": {key: value for key, value in env.items() if key not in ("git", "process")},
            "command": {"argv": process.get("argv"), "cwd": process.get("cwd")},
            "parent": self.parent_id,
            "created": datetime.datetime.fromtimestamp(self.run.start_time, datetime.timezone.utc).isoformat(),
            "recordkit": {"store": os.path.relpath(self.store.path.absolute(), self.folder),
                          "collection": self.run.collection.name, "run_id": self.run.id},
        })
        return {"id": experiment_id(meta), **meta}

    # --- the log -------------------------------------------------------------------------------
    def _line(self, name: str, data: Mapping[str, Any], *, when: float | None = None, step: int | None = None,
              duration: float | None = None) -> None:
        with self._lock:
            if self._log is None:
                raise rk.RunStateError(f"experiment {self.name!r} is closed; its log takes no more events")
            self._seq += 1
            event = rk.Event(self._seq, self.run.id, name, time.time() if when is None else when,
                             self.run.step if step is None else step, duration, dict(data))
            self._log.write(json.dumps(event.to_json(), allow_nan=False, ensure_ascii=False) + "\n")
            self._log.flush()  # live: a reader (or a crash) sees every event written so far

    def attach(self, source: Any, name: str | None = None) -> rk.FileInfo:
        """Store a file (path, bytes or file object) with the experiment and log an ``attached`` event."""
        info = self.run.attach(source, name)
        self._line("attached", {"name": info.name, "sha256": info.sha256, "size": info.size})
        return info

    def reference(self, path: str | os.PathLike[str], *, hash: bool = False) -> rk.FileInfo:
        """Record a file outside the store (not copied) and log a ``referenced`` event."""
        info = self.run.reference(path, hash=hash)
        self._line("referenced", {"name": info.name, "path": os.fspath(path), "sha256": info.sha256})
        return info

    def pause(self) -> None:
        self._line("paused", {})
        self.run.pause()

    def resume(self) -> None:
        self.run.resume()
        self._line("resumed", {})

    def close(self, status: str = "finished", *, error: BaseException | None = None) -> None:
        """Log the end (``finished``, ``failed``…), finish the run and close log.jsonl."""
        if self._log is None:
            return
        data = {} if error is None else {"type": type(error).__qualname__, "message": str(error)}
        self._line(status, data)
        with self._lock:
            log, self._log = self._log, None
        log.close()
        if self.run.status in ("running", "paused"):
            self.run.finish(status, error=error)

    def __enter__(self) -> Exp:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
        elif isinstance(exc, (KeyboardInterrupt, SystemExit)):
            self.close("interrupted", error=exc)
        else:
            self.close("failed", error=exc)

    def __repr__(self) -> str:
        return f"<Exp {self.id} {str(self.folder)!r}>"


def _find_parent(savedir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The nearest experiment folder at or above ``savedir`` (its meta.json is MLVLogger's), if any."""
    for folder in (savedir, *savedir.parents):
        meta_path = folder / "meta.json"
        if meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(meta, dict) and meta.get("format") == FORMAT:
                return folder, meta
    return None


class Logger:
    """Hierarchical events of an experiment: names are paths (``epoch/2/eval``); navigate with
    ``child``, ``parent``, ``root``, ``children()`` and ``events``."""

    def __init__(self, exp: Exp, path: str = "") -> None:
        self.exp = exp
        self.path = path

    def _name(self, name: str) -> str:
        return f"{self.path}/{name}" if self.path else name

    def event(self, name: str, /, **data: Any) -> None:
        """Record an event ``<path>/<name>`` with its data; one more line in log.jsonl at once."""
        full = self._name(name)
        self.exp.run.event(full, **data)  # checks the name and the values first
        self.exp._line(full, data)

    log = event

    def timed(self, name: str, /, **data: Any) -> TimedEvent:
        """``with logger.timed("eval"):`` records an event with the block's duration (also if it raises)."""
        return TimedEvent(self.exp, self._name(name), data)

    # --- navigation ----------------------------------------------------------------------------
    def child(self, name: str) -> Logger:
        """The logger of the events below ``<path>/<name>``."""
        return Logger(self.exp, self._name(name))

    __getitem__ = child

    @property
    def parent(self) -> Logger | None:
        if not self.path:
            return None
        return Logger(self.exp, self.path.rpartition("/")[0])

    @property
    def root(self) -> Logger:
        return self.exp.logger

    @property
    def events(self) -> rk.Events:
        """This logger's events and those below it, from the store (oldest first)."""
        events = self.exp.run.events
        return events.under(self.path) if self.path else events

    def children(self) -> list[str]:
        """The next level of names below this logger (``["1", "2"]`` for ``epoch``)."""
        return self.exp.run.events.children(self.path)

    def __repr__(self) -> str:
        return f"<Logger {self.path or '/'} of {self.exp.id}>"


class TimedEvent:
    """A timed block: one event when it ends, with its duration, in the store and in log.jsonl."""

    def __init__(self, exp: Exp, name: str, data: Mapping[str, Any]) -> None:
        self.exp = exp
        self.name = name
        self.data = dict(data)
        self._timed = exp.run.timed(name, **data)

    @property
    def duration(self) -> float | None:
        return self._timed.duration

    def __enter__(self) -> TimedEvent:
        self._timed.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._timed.__exit__(kind, exc, tb)
        data = self.data if exc is None else {**self.data, "error": type(exc).__qualname__}
        self.exp._line(self.name, data, when=self._timed.start, step=self._timed.step, duration=self._timed.duration)
