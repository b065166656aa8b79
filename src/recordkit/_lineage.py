"""How runs relate: sub-runs nested in their parent's folder, and links between any two runs.

A sub-run (MLVLogger's sub-experiment) is a full run whose ``parent_id`` is its parent, living in
``<parent folder>/<kind>/<name>/``; it is numbered among its parent's sub-runs. A parent need not be
live: a later script (a pruning pass over a finished training run, say) may hang its sub-runs under
it. A link is a directed, named reference from one run to another, listed by both.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from recordkit import _lifecycle
from recordkit._events import check_data, check_event_name, emit
from recordkit._exceptions import InvalidNameError
from recordkit._names import check_name
from recordkit.backends.base import AddLink, LinkRow

if TYPE_CHECKING:
    from recordkit._run import Run

SUB_RUN = "sub_run"


@dataclasses.dataclass(frozen=True)
class Link:
    """A directed reference ``source → target`` named by ``relation`` (e.g. ``"fine-tunes"``)."""

    source_id: str
    target_id: str
    relation: str
    time: float
    data: MappingProxyType[str, Any]

    @classmethod
    def from_row(cls, row: LinkRow) -> Link:
        return cls(row.source_id, row.target_id, row.relation, row.time, MappingProxyType(row.data))

    def other(self, run_id: str) -> str:
        """The run at the other end from ``run_id``."""
        return self.target_id if self.source_id == run_id else self.source_id


def sub_run(
    parent: Run,
    kind: str,
    name: str | None = None,
    config: Any = None,
    *,
    tags: Sequence[str] = (),
    capture: bool | Sequence[str] = True,
    seed: int | None = None,
) -> Run:
    kind = check_name(kind, "sub-run kind")
    if kind in ("files", "checkpoints"):
        raise InvalidNameError(f"sub-run kind {kind!r} is the name of a run's own folder; choose another kind")
    if name is not None:
        check_name(name, "sub-run name")
    folder_of = _folder_claimer(parent, kind, name)
    child = parent.collection._start(
        config, name=name, tags=tags, capture=capture, seed=seed, parent_id=parent.id, folder_of=folder_of
    )
    now = time.time()
    child._channel.put(AddLink(child.id, parent.id, SUB_RUN, now, {"kind": kind}))
    emit(parent, SUB_RUN, {"kind": kind, "name": name, "run_id": child.id})
    return child


def _folder_claimer(parent: Run, kind: str, name: str | None) -> Callable[[str], str]:
    def claim(run_id: str) -> str:
        leaf = name or run_id
        folder = parent.folder / kind / leaf
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir()  # exclusive: two sub-runs can never share a folder, even across processes
        except FileExistsError:
            raise InvalidNameError(
                f"a sub-run folder {str(folder)!r} already exists; give the sub-run another name"
            ) from None
        # Stored like the parent's folder: relative to the store (or absolute in an older store).
        return str(Path(parent._row.folder) / kind / leaf)

    return claim


def kind_of(run: Run) -> str | None:
    """A sub-run's kind: the folder it sits in under its parent's folder."""
    if run.parent_id is None:
        return None
    return Path(run._row.folder).parent.name


def children(run: Run, kind: str | None = None) -> list[Run]:
    from recordkit._run import Run

    store = run._store
    rows = [row for row in store._rows(run._row.collection) if row.parent_id == run.id]
    if kind is not None:
        rows = [row for row in rows if Path(row.folder).parent.name == kind]
    return [_lifecycle.live_run(row.id) or Run(store, row, live=False) for row in rows]


def parent(run: Run) -> Run | None:
    if run.parent_id is None:
        return None
    return run._store.run(run.parent_id)


def link(run: Run, other: Run | str, relation: str, data: dict[str, Any]) -> Link:
    other_id = other.id if hasattr(other, "id") and not isinstance(other, str) else other
    if not isinstance(other_id, str):
        raise TypeError(f"link() takes a Run or a run id, not {other!r}")
    relation = check_event_name(relation)
    target = run._store._find_row(other_id)  # the other run must exist (a prefix is resolved)
    if target.id == run.id:
        raise ValueError(f"a run cannot link to itself ({run.id!r})")
    checked = check_data(data) if data else {}
    now = time.time()
    run._channel.put(AddLink(run.id, target.id, relation, now, checked))
    emit(run, "linked", {"relation": relation, "run_id": target.id})
    return Link(run.id, target.id, relation, now, MappingProxyType(checked))


def links(run: Run, relation: str | None = None) -> list[Link]:
    run._store.flush()
    found = [Link.from_row(row) for row in run._store.backend.links(run.id)]
    return [lk for lk in found if relation is None or lk.relation == relation]
