"""A run's series: one key's values per scope label, picked by keyword filters as ``where`` does.

Series identity is key plus scope (``backends/labels.py``): ``loss`` under ``phase=train`` and under
``phase=eval`` are two series. ``run.series(key)`` returns them all; ``run.history(key, phase="eval")``
picks one, and a call that matches several raises ``QueryError`` naming the series and the filters that
tell them apart, rather than merging two curves into one zig-zag. Metric names given by users
(``recordkit ls --sort -acc``, a checkpoint's retention metric) are resolved the same way: a full label,
or a bare key logged in one series only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from recordkit._exceptions import QueryError
from recordkit.backends.base import merged_scope_fields
from recordkit.backends.labels import key_of, labels_of, resolve

if TYPE_CHECKING:
    from recordkit._store import Store
    from recordkit.read.records import Series


def run_series(store: Store, run_id: str, root_scope: int, key: str, *, after_seq: int = -1) -> list[Series]:
    """Every series of ``key`` in run ``run_id``, one per scope label, in the order scopes were made."""
    from recordkit.read.records import Series, superseded_ranges

    if not isinstance(key, str) or not key:
        raise TypeError(f"series() takes a key name, not {key!r}")
    backend = store.backend
    found = backend.series(run_id, key, after_seq=after_seq, superseded=superseded_ranges(backend, [run_id]))
    rows = backend.scopes([run_id]) if found else {}
    labels = labels_of(rows)
    merged = merged_scope_fields(rows)
    shared = rows[root_scope].fields if root_scope in rows else {}
    groups: dict[str, list[int]] = {}
    for sid in sorted(found):
        groups.setdefault(labels.get(sid, ""), []).append(sid)
    out = []
    for label, sids in groups.items():
        # What every scope of the series holds (a per-epoch scope's epoch differs, so it drops out).
        fields = {k: v for k, v in merged.get(sids[0], {}).items() if k not in shared}
        for sid in sids[1:]:
            other = merged.get(sid, {})
            fields = {k: v for k, v in fields.items() if k in other and other[k] == v}
        points = found[sids[0]] if len(sids) == 1 else sorted(p for sid in sids for p in found[sid])
        out.append(Series(key, tuple(sids), fields, points, label))
    return out


def matches(series: Series, filters: Mapping[str, Any]) -> bool:
    """Whether a series' scope fields pass every filter (a value, or a callable given the value)."""
    for name, wanted in filters.items():
        have = series.scope.get(name)
        if callable(wanted):
            if not wanted(have):
                return False
        elif name not in series.scope or have != wanted:
            return False
    return True


def pick_one(
    series_of: Callable[[str], list[Series]], key: str, filters: Mapping[str, Any], where: str
) -> Series | None:
    """:func:`pick` among ``series_of(key)``; a label given as the key (``phase=eval/loss``) names its series."""
    found = series_of(key)
    bare = key_of(key)
    if not found and bare != key:
        labelled = [s for s in series_of(bare) if s.label == key]
        if labelled:
            return pick(labelled, key, filters, where)
    return pick(found, key, filters, where)


def pick(found: list[Series], key: str, filters: Mapping[str, Any], where: str) -> Series | None:
    """The one series of ``found`` matching ``filters``; None when the key was never logged.

    Raises QueryError when the filters match none of the series there are, or several.
    """
    if not found:
        return None
    chosen = [s for s in found if matches(s, filters)]
    if len(chosen) == 1:
        return chosen[0]
    labels = ", ".join(s.label for s in found)
    if not chosen:
        given = ", ".join(f"{k}={v!r}" for k, v in filters.items())
        raise QueryError(f"no series of {key!r} in {where} has {given}; its series are: {labels}")
    hint = " or ".join(f"{k}={v!r}" for k, values in _telling(chosen).items() for v in values)
    raise QueryError(
        f"{key!r} is {len(chosen)} series in {where}: {', '.join(s.label for s in chosen)}; pick one with a "
        f"scope filter ({hint}), or read them all with run.series({key!r})"
    )


def _telling(found: Iterable[Series]) -> dict[str, list[Any]]:
    """Per field that tells series apart, its values among them, first seen first."""
    found = list(found)
    names: dict[str, list[Any]] = {}
    for series in found:
        for name, value in series.scope.items():
            if any(other.scope.get(name) != value for other in found):
                values = names.setdefault(name, [])
                if value not in values:
                    values.append(value)
    return names


__all__ = ["matches", "pick", "pick_one", "resolve", "run_series"]
