"""record's API (MongoDB documents) over recordkit: ``from recordkit.compat.record import Record``.

A MongoDB database is a recordkit store (``database="experiments"`` is the folder ``./experiments``,
or pass a path, a ``postgresql://`` URL or an ``rk.Store``), a MongoDB collection is a collection, and
a document is a run. The run's first record is the system-information document (python, machine,
processor, os, os_name, os_ver, memory, storage, user, gpus); each ``update`` is one more record with
the keys it sets, so the document is the run's records folded in order (later values win) and every
key is a column of ``rk.open("experiments").collection(name).records``. An ``argparse.Namespace`` or
``ConfigParser`` also goes into the run's frozen config. ``_id`` is a MongoDB ObjectId made of the run's
start time and id, so a document exported as Extended JSON imports with ``mongoimport`` unchanged.

>>> rec = Record(database="experiments", collection="Nov-27-2020")    # doctest: +SKIP
>>> rec.update(args); rec.update(all_models, key="models")            # doctest: +SKIP
>>> Record(_id=rec._id, database="experiments", collection="Nov-27-2020")["models"]   # doctest: +SKIP
>>> export_extended_json("Nov-27-2020.json", "Nov-27-2020")           # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import atexit
import base64
import configparser
import copy
import datetime
import getpass
import json
import math
import os
import platform
import shutil
import sys
import warnings
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import recordkit as rk
from recordkit.compat._common import to_plain, write_atomically

# Records of this process whose run they write: saved (in-place changes logged) at interpreter exit,
# before recordkit finishes the runs.
_open: weakref.WeakSet[Record] = weakref.WeakSet()
_exit_hook = False


class Record(dict):  # type: ignore[type-arg]
    """One experiment document: a dict whose changes are recorded in the store as they are made.

    Parameters
    ----------
    _id
        Retrieve this document (an ObjectId, its 24 hex characters, or the run id); None starts a new one.
    host, port
        Accepted for the seed's signature; there is no server (a non-default value warns).
    database
        The store: a folder name or path (``"experiments"``), a ``postgresql://`` URL, or an ``rk.Store``.
    collection
        The collection (MongoDB's collection name, e.g. ``"Nov-27-2020"``).
    save_dir
        Also write ``<save_dir>/<_id>.json`` (Extended JSON) at each ``save()``.
    """

    def __init__(
        self,
        _id: Any = None,
        host: str = "localhost",
        port: int = 27017,
        database: str | os.PathLike[str] | rk.Store = "experiments",
        collection: str = "results",
        save_dir: str | os.PathLike[str] = "",
    ) -> None:
        super().__init__()
        if (host, port) != ("localhost", 27017):
            warnings.warn(f"Record(host={host!r}, port={port!r}) is ignored: documents go to the recordkit store "
                          f"{database!r}", rk.RecordkitWarning, stacklevel=2)
        self.store = database if isinstance(database, rk.Store) else rk.open(database)
        self.database = database if isinstance(database, str) else self.store.url
        self.collection = collection
        self.save_dir = os.fspath(save_dir)
        self._col = self.store.collection(collection)
        self._saved: dict[str, Any] = {}
        self._mine = False
        if _id:
            self._run = _find(self.store, collection, str(_id))
            # Held open by this process (say, a document being written here): the store hands out that very run.
            self._mine = self._run.status in ("running", "paused") and self._run is self.store.run(self._run.id)
            self._load()
        else:
            self._run = self._col.start_run()
            self._mine = True
            self._log(system_info(self._run))
        self._id = object_id(self._run)
        _remember(self)

    # --- reading -------------------------------------------------------------------------------
    def _load(self) -> None:
        self._run.flush()  # a run live here may be written through another store object: its own channel
        for record in self._run.records:
            changes = {key: record.own(key) for key in record if record.own(key) is not None}
            super().update(changes)
        self._saved = copy.deepcopy(dict(self))

    @property
    def run(self) -> rk.Run:
        """The run that holds this document."""
        return self._run

    # --- writing -------------------------------------------------------------------------------
    def update(self, value: Any = None, key: str | None = None, **more: Any) -> None:  # type: ignore[override]
        """Set keys: from a dict, an ``argparse.Namespace`` or a ``ConfigParser`` (also added to the run's
        frozen config), or, with ``key``, the whole ``value`` under ``key`` (merged into a dict already there).

        Tensors, arrays and pandas objects are converted to lists at any depth.
        """
        if value is None and key is None:
            value = {}
        config = None
        if isinstance(value, argparse.Namespace):
            value = config = vars(value)
        elif isinstance(value, configparser.RawConfigParser):
            value = config = {"config": {name: dict(section.items()) for name, section in value.items()}}
        value = to_plain(value)
        if key is not None:
            if not isinstance(key, str):
                raise TypeError(f"update(value, key=...) takes the key as a string, not {key!r}")
            old = self.get(key)
            changes = {key: {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value}
        elif isinstance(value, Mapping):
            changes = dict(value)
        else:
            raise TypeError(f"update() takes a dict, argparse.Namespace or ConfigParser, or a value with key=..., "
                            f"not {type(value).__name__}")
        changes.update(to_plain(more))
        if config is not None:
            self._writable().update_config(to_plain(config))
        self._log(changes)

    def __setitem__(self, key: str, value: Any) -> None:
        self._log({key: to_plain(value)})

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def _refuse(self, *args: Any) -> Any:
        raise TypeError("a recorded document keeps every key it was given (records are append-only); "
                        "set the key to a new value instead")

    __delitem__ = pop = popitem = clear = _refuse  # type: ignore[assignment]

    def _log(self, changes: Mapping[str, Any]) -> None:
        if "_id" in changes:
            raise ValueError("'_id' is the document's identity (its run); it cannot be set")
        if not changes:
            return
        self._writable().log(changes, flatten=False)  # the seed keeps dicts as values
        super().update(changes)
        self._saved.update(copy.deepcopy(dict(changes)))

    def _writable(self) -> rk.Run:
        if not self._mine:  # a document read back: reopen its run to go on writing it
            if self._run.status not in ("running", "paused"):
                self._run = self._col.resume_run(self._run.id, from_checkpoint=False)
            self._mine = True
        return self._run

    def save(self) -> str:
        """Record values changed in place (``rec["models"]["m0"]["losses"].append(...)``), make everything
        durable, write ``<save_dir>/<_id>.json`` when ``save_dir`` is set; return ``_id``."""
        changed = {key: value for key, value in self.items() if key not in self._saved or self._saved[key] != value}
        if changed:
            self._log(changed)
        if self._mine:
            self._run.flush()
        if self.save_dir:
            folder = Path(self.save_dir)
            folder.mkdir(parents=True, exist_ok=True)
            write_atomically(folder / f"{self._id}.json", self.to_extended_json() + "\n")
        return self._id

    def close(self) -> None:
        """Save, then finish the document's run (at interpreter exit this happens by itself)."""
        self.save()
        if self._mine and self._run.status in ("running", "paused"):
            self._run.finish()
        self._mine = False
        _open.discard(self)

    def remove(self) -> bool:
        """Delete this document (its run and everything recorded for it); True if it was there."""
        if self._mine and self._run.status in ("running", "paused"):
            self._run.finish()
        self._mine = False
        _open.discard(self)
        try:
            report = self.store.delete_run(self._run.id)
        except rk.RunNotFoundError:
            return False
        return bool(report.run_ids)

    def to_extended_json(self) -> str:
        """The document as one line of MongoDB Extended JSON (relaxed), as ``mongoimport`` reads it."""
        return json.dumps(extended_json({"_id": {"$oid": self._id}, **self}, top=True), allow_nan=False)

    def __repr__(self) -> str:
        return f"Record(_id={self._id!r}, {dict(self)!r})"

    __hash__ = object.__hash__  # type: ignore[assignment]  # a live handle, kept in a weak set; dict's equality stays


def _find(store: rk.Store, collection: str, _id: str) -> rk.Run:
    # An ObjectId ends in the run's id: 16 hex characters (older stores) or, for an id "r" + 15 hex,
    # "0" + those 15 (see object_id).
    candidates = [_id[8:], "r" + _id[9:]] if len(_id) == 24 else [_id]
    run = None
    for run_id in candidates:
        try:
            run = store.run(run_id)
            break
        except rk.RunNotFoundError:
            continue
    if run is None or run.collection.name != collection:
        raise rk.RunNotFoundError(f"no document with _id {_id!r} in collection {collection!r} of {store.url!r}")
    return run


def object_id(run: rk.Run) -> str:
    """A run's document id: a MongoDB ObjectId of its start time (4 bytes) and its id (8 bytes; an id
    ``r`` + 15 hex characters is written ``0`` + those 15, since an ObjectId is all hex)."""
    hex_id = "0" + run.id[1:] if run.id.startswith("r") else run.id
    return f"{int(run.start_time) & 0xFFFFFFFF:08x}{hex_id}"


def system_info(run: rk.Run) -> dict[str, Any]:
    """The seed's system document, from the run's captured environment where it has the value."""
    env = run.env
    system = env.get("system") or {}
    hardware = env.get("hardware") or {}
    memory = hardware.get("memory_total")
    gpus = [device.get("name") for device in (env.get("gpu") or {}).get("devices") or []]
    torch = sys.modules.get("torch")
    if not gpus and torch is not None and torch.cuda.is_available():  # the seed's source, if torch is in use
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "python": (env.get("python") or {}).get("version") or platform.python_version(),
        "machine": system.get("machine") or platform.machine(),
        "processor": platform.processor() or hardware.get("cpu_model") or "",
        "os": os.name,
        "os_name": system.get("os_name") or platform.system(),
        "os_ver": system.get("os_version") or platform.release(),
        "memory": f"{int(memory) // 2**30} GB" if memory else None,
        "storage": f"{shutil.disk_usage(os.path.abspath(os.sep)).total // 2**30} GB",
        "user": system.get("user") or getpass.getuser(),  # the seed's os.getlogin() fails without a terminal
        "gpus": gpus,
    }


def extended_json(value: Any, *, top: bool = False) -> Any:
    """``value`` in MongoDB Extended JSON v2, relaxed mode (non-finite floats, dates and bytes tagged)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else {"$numberDecimal": str(value)}
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"$numberDouble": "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, datetime.date):
        return _date(value)
    if isinstance(value, (bytes, bytearray)):
        return {"$binary": {"base64": base64.b64encode(bytes(value)).decode(), "subType": "00"}}
    if isinstance(value, Mapping):
        if not top and len(value) == 1 and "$oid" in value:
            return dict(value)
        return {str(k): extended_json(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [extended_json(item) for item in value]
    return str(value)


def _date(value: datetime.date) -> dict[str, Any]:
    if not isinstance(value, datetime.datetime):
        value = datetime.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)  # naive datetimes are taken as UTC, as pymongo does
    moment = value.astimezone(datetime.timezone.utc)
    if 1970 <= moment.year <= 9999:
        return {"$date": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"}
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return {"$date": {"$numberLong": str((moment - epoch) // datetime.timedelta(milliseconds=1))}}


def _store_of(database: str | os.PathLike[str] | rk.Store) -> rk.Store:
    return database if isinstance(database, rk.Store) else rk.open(database)


def find(collection: str, database: str | os.PathLike[str] | rk.Store = "experiments") -> list[Record]:
    """Every document of a collection, oldest first (``db[collection].find({})``)."""
    store = _store_of(database)
    return [Record(_id=object_id(run), database=store, collection=collection)
            for run in store.collection(collection).runs()]


def export_extended_json(
    path: str | os.PathLike[str], collection: str, database: str | os.PathLike[str] | rk.Store = "experiments"
) -> int:
    """Write a collection as Extended JSON lines for ``mongoimport --collection <name> --file <path>``.

    Returns how many documents were written.
    """
    documents = find(collection, database)
    write_atomically(Path(path), "".join(doc.to_extended_json() + "\n" for doc in documents))
    return len(documents)


def drop_collection(collection: str, database: str | os.PathLike[str] | rk.Store = "experiments") -> int:
    """Delete a collection's documents (``db[collection].drop()``); documents of this process are
    finished first. Returns how many were deleted."""
    store = _store_of(database)
    removed = 0
    for record in list(_open):
        # Through the document's own store: it waits for the run's background seal before deleting.
        if record.collection == collection and record.store.url == store.url and record.remove():
            removed += 1
    runs = [run for run in store.collection(collection).runs() if run.parent_id is None]
    for run in runs:
        store.delete_run(run.id)
    return removed + len(runs)


def _remember(record: Record) -> None:
    global _exit_hook
    _open.add(record)
    if not _exit_hook:
        # Registered after the first run started, so it runs before recordkit's own exit handler.
        atexit.register(_save_all)
        _exit_hook = True


def _save_all() -> None:
    for record in list(_open):
        try:
            record.save()
        except Exception as exc:  # keep saving the others; say why this one failed
            print(f"recordkit.compat.record: could not save document {record._id}: {exc}", file=sys.stderr)
