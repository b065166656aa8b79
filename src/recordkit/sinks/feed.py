"""From committed write items to mirror records: :class:`MirrorFeed`, fed by the writer thread."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recordkit import _values as V
from recordkit._exceptions import StoreError
from recordkit.backends.base import CreateScope, RecordRows
from recordkit.runs.harvest import GROUP_FIELD
from recordkit.runs.meta import run_folder
from recordkit.sinks.base import Mirror, MirrorRecord
from recordkit.sinks.csv import CSV
from recordkit.sinks.tensorboard import TensorBoard

if TYPE_CHECKING:
    from recordkit.backends.base import Backend, RunRow, WriteItem


MIRRORS: dict[str, type[Mirror]] = {"tensorboard": TensorBoard, "csv": CSV}


def make_mirrors(given: Iterable[Mirror | str]) -> list[Mirror]:
    """Mirror objects from objects or names (``"tensorboard"``, ``"csv"``)."""
    made: list[Mirror] = []
    for item in given:
        if isinstance(item, Mirror):
            made.append(item)
        elif isinstance(item, str) and item.strip().lower() in MIRRORS:
            made.append(MIRRORS[item.strip().lower()]())
        else:
            raise ValueError(
                f"unknown mirror {item!r}; give rk.TensorBoard(dir), rk.CSV(dir), or one of {sorted(MIRRORS)}"
            )
    return made


def plain_record_values(values: dict[str, Any]) -> dict[str, Any]:
    """A record's values with tensors and arrays converted (writer thread only)."""
    if type(values) is not V.LazyValues:
        return values
    return {k: V.materialize(v) if V.needs_materialize(v) else v for k, v in values.items()}


class MirrorFeed:
    """Turns committed write items into mirror records and hands them to the mirrors.

    It follows scopes from the ``CreateScope`` items it sees and asks the backend
    only for scopes made before it started (a run's root scope, a resumed run's scopes).
    """

    def __init__(self, backend: Backend, mirrors: Sequence[Mirror], root: Path | None = None) -> None:
        self.backend = backend
        self.mirrors = list(mirrors)
        self.root = root  # the store's folder: run folders are stored relative to it
        self._scopes: dict[int, tuple[int | None, dict[str, Any]]] = {}
        self._labels: dict[int, str] = {}
        self._runs: dict[str, RunRow] = {}
        self._loaded: set[str] = set()

    def prepare(self, items: list[WriteItem]) -> list[WriteItem]:
        """Materialise tensors once, before the backend sees them, so backend and mirrors agree."""
        out: list[WriteItem] = []
        for item in items:
            if type(item) is tuple and type(item[5]) is V.LazyValues:
                with contextlib.suppress(Exception):  # left as is: the backend reports the bad value
                    item = (*item[:5], plain_record_values(item[5]))
            out.append(item)
        return out

    def feed(self, items: Sequence[WriteItem]) -> None:
        records: list[MirrorRecord] = []
        for item in items:
            if type(item) is tuple:
                run_id, scope_id, _seq, step, when, values = item
                run = self._run(run_id)
                records.append(
                    MirrorRecord(
                        run_id, run.collection, self._folder(run), self._label(run_id, scope_id), step, when,
                        plain_record_values(values),
                    )
                )
            elif type(item) is RecordRows:
                run = self._run(item.run_id)
                keys, n = item.keys, len(item.keys)
                for row in item.rows:  # (time, *values, scope_id, seq, step)
                    records.append(
                        MirrorRecord(
                            item.run_id, run.collection, self._folder(run), self._label(item.run_id, row[n + 1]),
                            row[n + 3], row[0], dict(zip(keys, row[1 : n + 1], strict=True)),
                        )
                    )
            elif isinstance(item, CreateScope):
                self._scopes[item.id] = (item.parent_id, dict(item.fields))
        if not records:
            return
        for mirror in self.mirrors:
            with mirror.lock:
                mirror.write(records)

    def end_run(self, run_id: str) -> None:
        for mirror in self.mirrors:
            with mirror.lock:
                mirror.end_run(run_id)
        self._runs.pop(run_id, None)

    def close(self) -> None:
        for mirror in self.mirrors:
            with mirror.lock:
                mirror.close()

    def _folder(self, row: RunRow) -> str:
        return str(run_folder(self.root, row))

    def _run(self, run_id: str) -> RunRow:
        row = self._runs.get(run_id)
        if row is None:
            row = self.backend.get_run(run_id)
            if row is None:
                raise StoreError(f"run {run_id!r} is not in the store; cannot mirror its records")
            self._runs[run_id] = row
        return row

    def _label(self, run_id: str, scope_id: int) -> str:
        label = self._labels.get(scope_id)
        if label is not None:
            return label
        parts: list[str] = []
        current: int | None = scope_id
        while current is not None:
            scope = self._scopes.get(current)
            if scope is None and run_id not in self._loaded:
                self._loaded.add(run_id)
                for row in self.backend.scopes([run_id]).values():
                    self._scopes.setdefault(row.id, (row.parent_id, dict(row.fields)))
                scope = self._scopes.get(current)
            if scope is None:
                break
            parent, fields = scope
            if fields:
                parts.append(_scope_label(fields))
            current = parent
        label = self._labels[scope_id] = "/".join(reversed(parts))
        return label


def _scope_label(fields: Mapping[str, Any]) -> str:
    if len(fields) == 1 and GROUP_FIELD in fields:
        return str(fields[GROUP_FIELD])
    return ",".join(f"{key}={_text(value)}" for key, value in fields.items())


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return V.dumps(value) if isinstance(value, (list, dict)) else str(value)
