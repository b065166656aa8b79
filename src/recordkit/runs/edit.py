"""Editing a run afterwards: its name, tags and notes; never its records, config, number or status.

What a person adds once a run is seen in a table (``best``, "diverged at step 3k, lr too high"):
``run.name = …``, ``run.tags = …``, ``run.notes = …`` and ``run.edit(…)``, on a live run or one read
back from the store, by any process. One statement on the run's row (``Backend.edit_run``), then the
run folder's ``meta.json`` is rewritten; flat records read the new name at once (``run_name`` is a
run field, joined when records are read, not stored with them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from recordkit._exceptions import InvalidNameError
from recordkit._names import check_label
from recordkit.runs.handle import RunHandle
from recordkit.runs.meta import write_meta


class _NotGiven:
    """The sentinel of an argument left out (None is a value: it clears a name or notes)."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()


def check_tags(tags: Any) -> list[str]:
    """Tags as a list of distinct, non-empty texts in the order given; TypeError/InvalidNameError if not."""
    if isinstance(tags, str) or not isinstance(tags, Iterable):
        raise TypeError(f"tags are a list of strings, not {tags!r} (write ['best'], not 'best')")
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise TypeError(f"a tag is a string, not {tag!r}")
        if not tag.strip() or tag != tag.strip():
            raise InvalidNameError(f"a tag is non-empty text without leading or trailing blanks, not {tag!r}")
        check_label(tag, "tag")
        if tag not in out:
            out.append(tag)
    return out


def _text(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        if value and what == "name":
            check_label(value, "run name")  # notes are free text; a name is shown in every listing
        return value or None  # an empty text clears it, as None does
    raise TypeError(f"a run's {what} is a string or None, not {value!r}")


def changes(
    current_tags: Iterable[str],
    *,
    name: Any = NOT_GIVEN,
    tags: Any = NOT_GIVEN,
    notes: Any = NOT_GIVEN,
    add_tags: Iterable[str] = (),
    remove_tags: Iterable[str] = (),
) -> dict[str, Any]:
    """The fields to store: only those given, checked (pure: no I/O).

    ``tags`` replaces the tags; ``add_tags`` and ``remove_tags`` then change them (added at the end,
    in order; removing an absent tag is no error, so an edit can be repeated).

    Examples
    --------
    >>> changes(["old", "mlp"], add_tags=["best"], remove_tags=["old"])
    {'tags': ['mlp', 'best']}
    >>> changes([], name="baseline", notes="")
    {'name': 'baseline', 'notes': None}
    """
    out: dict[str, Any] = {}
    if name is not NOT_GIVEN:
        out["name"] = _text(name, "name")
    if notes is not NOT_GIVEN:
        out["notes"] = _text(notes, "notes")
    added, removed = check_tags(add_tags), check_tags(remove_tags)
    both = [tag for tag in added if tag in removed]
    if both:
        raise InvalidNameError(f"tag {both[0]!r} is both added and removed; give it once")
    if tags is not NOT_GIVEN or added or removed:
        new = [tag for tag in check_tags(current_tags if tags is NOT_GIVEN else tags) if tag not in removed]
        out["tags"] = new + [tag for tag in added if tag not in new]
    return out


def apply(handle: RunHandle, fields: Mapping[str, Any]) -> None:
    """Store the fields on the run's row and in its ``meta.json``; the handle's row follows."""
    if not fields:
        return
    handle.backend.edit_run(handle.run_id, fields)
    for key, value in fields.items():
        setattr(handle.row, key, list(value) if key == "tags" else value)
    # meta.json from the stored row: a run read from the store may hold a stale status or counters.
    stored = handle.backend.get_run(handle.run_id)
    write_meta(stored if stored is not None else handle.row, handle.root)
