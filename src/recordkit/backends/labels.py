"""Series labels: one key logged in two scopes is two series, named by the scopes' fields.

``loss`` logged under ``run.scope(phase="train")`` and ``run.scope(phase="eval")`` is the series
``phase=train/loss`` and the series ``phase=eval/loss``. A scope's *label* is fixed when the scope is
created: its ancestors' label, then its own fields as ``name=value`` parts, joined by ``/``. The run's
root scope has the empty label (its fields hold for every series of the run, so they tell none apart).

Counters along the x axis (``epoch``, ``step``, ``episode``) are not part of a label: a new
``run.scope(epoch=3, phase="train")`` every epoch continues the one ``phase=train/loss`` curve instead
of starting a new series per epoch. A rank's scope in a distributed run (``rank``, ``local_rank``,
``node``, ``host``) is labelled by its rank alone, the other three following from it; rank 0 logs the
run's own series (``loss``, as a single process would, and as ``rank_zero_only=True`` runs read),
the other ranks ``rank=1/loss``….

The writer stores each scope's label with the scope (``scopes.label``) and keeps the per-run summary
per labelled key, so ``run.summary()``, ``recordkit ls``, ``diff``, plots and the web page all name
series the same way. Pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from recordkit import _values as V
from recordkit._exceptions import QueryError

if TYPE_CHECKING:
    from recordkit.backends.base import ScopeRow

#: Scope fields that place a record along a curve rather than name the curve.
AXIS_FIELDS = frozenset({"epoch", "step", "episode"})
_RANK_FIELDS = frozenset({"rank", "local_rank", "node", "host"})


def scope_label(parent_label: str, fields: Mapping[str, Any]) -> str:
    """The label of a scope with ``fields`` under a scope labelled ``parent_label``."""
    if fields.keys() >= _RANK_FIELDS:
        fields = {"rank": fields["rank"]} if fields["rank"] else {}
    parts = [f"{k}={part(v)}" for k, v in fields.items() if k not in AXIS_FIELDS]
    if not parts:
        return parent_label
    return "/".join([parent_label, *parts] if parent_label else parts)


def part(value: Any) -> str:
    """A field's value as it reads in a label: text as is, anything else as JSON (``true``, ``3``)."""
    return value if isinstance(value, str) else V.dumps(value)


def labelled(label: str, key: str) -> str:
    """A key's series name in a scope labelled ``label``: ``phase=eval/loss``, or ``loss`` at the root."""
    return f"{label}/{key}" if label else key


def scope_prefix(text: str) -> str:
    """The leading ``name=value/`` parts of ``text`` (``phase=eval/`` of ``phase=eval/acc>0.9``), or "".

    A filter parser looks for its operator after them, so ``phase=eval/acc>0.9`` compares the series
    ``phase=eval/acc`` instead of reading ``phase`` equal to ``eval/acc>0.9``.
    """
    end = 0
    while True:
        slash = text.find("/", end)
        equals = text.find("=", end)
        if slash < 0 or equals < 0 or equals > slash or equals == end:
            return text[:end]
        if any(op in text[end:slash] for op in ("<", ">", "!", "~")) or text.count("=", end, slash) != 1:
            return text[:end]
        end = slash + 1


def key_of(label: str) -> str:
    """A series label's bare key: its leading ``name=value`` parts taken off (``phase=eval/loss`` → ``loss``).

    A key whose own first part holds ``=`` reads as part of the scope here; the summary's ``name``
    column is exact where it matters.
    """
    parts = label.split("/")
    start = 0
    while start < len(parts) - 1 and "=" in parts[start]:
        start += 1
    return "/".join(parts[start:])


def labels_of(rows: Mapping[int, ScopeRow]) -> dict[int, str]:
    """Each scope's label from its rows (``ScopeRow``): the stored one, else rebuilt from the fields.

    Stores written before labels were stored have none; for them the label comes from the fields the
    scopes hold now.
    """
    out: dict[int, str] = {}

    def label_for(scope_id: int) -> str:
        found = out.get(scope_id)
        if found is not None:
            return found
        row = rows[scope_id]
        label: str
        if row.label is not None:
            label = str(row.label)
        elif row.parent_id is None:
            label = ""
        else:
            parent = label_for(row.parent_id) if row.parent_id in rows else ""
            label = scope_label(parent, row.fields)
        out[scope_id] = label
        return label

    for scope_id in rows:
        label_for(scope_id)
    return out


def resolve(name: str, labels: Iterable[str], where: str) -> str | None:
    """The series label a user's metric ``name`` means among ``labels``; None when nothing matches.

    A full label (``phase=eval/loss``) is itself; a bare key (``acc``) means the one series of that key.
    Raises QueryError when a bare key is several series.
    """
    labels = list(labels)
    if name in labels:
        return name
    candidates = [label for label in labels if key_of(label) == name]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise QueryError(
            f"{name!r} is {len(candidates)} series in {where}: {', '.join(candidates)}; name one of them"
        )
    return None
