"""How runs relate: sub-runs nested in their parent's folder, and links between any two runs.

A sub-run (MLVLogger's sub-experiment) is a full run whose ``parent_id`` is its parent, living in
``<parent folder>/<kind>/<name>/``; it is numbered among its parent's sub-runs. A parent need not be
live: a later script (a pruning pass over a finished training run, say) may hang its sub-runs under
it. A link is a directed, named reference from one run to another, listed by both.

The Run facade starts the sub-run itself (through its collection); this module checks the names,
claims the folder and writes the rows, working on run handles only.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from recordkit._exceptions import InvalidNameError
from recordkit._names import check_name
from recordkit.backends.base import AddLink, LinkRow, RunRow
from recordkit.runs.events import check_data, check_event_name, emit

if TYPE_CHECKING:
    from recordkit.runs.handle import RunHandle

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


def check_sub_run(kind: str, name: str | None) -> str:
    """The sub-run's kind, checked (it names a folder inside the parent's), and its name if given."""
    kind = check_name(kind, "sub-run kind")
    if kind in ("files", "checkpoints"):
        raise InvalidNameError(f"sub-run kind {kind!r} is the name of a run's own folder; choose another kind")
    if name is not None:
        check_name(name, "sub-run name")
    return kind


def folder_claimer(parent: RunHandle, kind: str, name: str | None) -> Callable[[str], str]:
    """What ``start_run`` calls with the new run's id: claims ``<parent folder>/<kind>/<name or id>``."""

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
        return str(Path(parent.row.folder) / kind / leaf)

    return claim


def record_sub_run(parent: RunHandle, child: RunHandle, kind: str, name: str | None) -> None:
    """The child's link to its parent, and the parent's ``sub_run`` event."""
    child.channel.put(AddLink(child.run_id, parent.run_id, SUB_RUN, time.time(), {"kind": kind}))
    emit(parent, SUB_RUN, {"kind": kind, "name": name, "run_id": child.run_id})


def kind_of(row: RunRow) -> str | None:
    """A sub-run's kind: the folder it sits in under its parent's folder."""
    if row.parent_id is None:
        return None
    return Path(row.folder).parent.name


def link(run: RunHandle, target_id: str, relation: str, data: dict[str, Any]) -> Link:
    """Queue a link from ``run`` to the (existing) run ``target_id`` and a ``linked`` event."""
    relation = check_event_name(relation)
    if target_id == run.run_id:
        raise ValueError(f"a run cannot link to itself ({run.run_id!r})")
    checked = check_data(data) if data else {}
    now = time.time()
    run.channel.put(AddLink(run.run_id, target_id, relation, now, checked))
    emit(run, "linked", {"relation": relation, "run_id": target_id})
    return Link(run.run_id, target_id, relation, now, MappingProxyType(checked))


def links(run: RunHandle, relation: str | None = None) -> list[Link]:
    """Links from and to the run (of one relation, or all), oldest first."""
    run.flush()
    found = [Link.from_row(row) for row in run.backend.links(run.run_id)]
    return [lk for lk in found if relation is None or lk.relation == relation]
