"""A record's way into the journal when it is not on ``Scope.log``'s hot path.

The hot path (``runs/run.py``) takes a record whose keys this run has logged before and whose values
are floats, bools or None: it serialises it straight into the journal. Anything else comes here:
the record is checked in full (``_values.check_record``: keys, int ranges, text, tensors…), its key
set is journalled once as a *shape* so the next such record takes the hot path, and a record marshal
cannot hold (tensors, datetimes, media) is handed to the channel as an item (pinned in memory).
"""

from __future__ import annotations

import marshal
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from recordkit._values import INT64_MAX, check_record, check_step

if TYPE_CHECKING:
    from recordkit.runs.run import Scope

#: Values journalled as they are (marshal stores them exactly), once check_record passed them.
PLAIN = frozenset({float, int, str, bool, type(None)})
#: Values the hot path journals on their type alone: nothing about them needs checking.
HOT = frozenset({float, bool, type(None)})
#: Where marshal (version 2) puts a tuple's first element: after ``(`` and a 4-byte count.
_FIRST = 5
_FLOAT_SIZE = 9  # a marshal float: ``g`` and 8 bytes


def hot_shape(shape: int, n: int) -> tuple[int, slice, bytes]:
    """What ``Scope.log``'s hot path keeps for a key set of ``n`` keys journalled as ``shape``.

    A record is marshalled as ``(time, *values, scope_id, seq, step)``. When time and every value
    are floats, their type codes sit every 9 bytes from the start, so one slice of the bytes and
    one compare tell a record of floats (nothing to check) from any other: the first code that is not
    ``g`` is a value of another type, and every code before it anchors the next one exactly."""
    return shape, slice(_FIRST, _FIRST + _FLOAT_SIZE * (n + 1), _FLOAT_SIZE), b"g" * (n + 1)


def mixed_shape(shape: int) -> tuple[int, slice, bytes]:
    """What the hot path keeps for a key set once a record of it held something else than floats, bools
    and None (an int, text...): the types are then checked before anything is marshalled, as a record
    that needs check_record would otherwise be marshalled twice; the bytes' slice is empty."""
    return shape, slice(0, 0), b""


def log_checked(scope: Scope, values: Mapping[str, Any], step: int | None, commit: bool | None = None,
                flatten: bool = True, seq: int | None = None) -> None:
    """``scope.log(values, step=step, commit=commit, flatten=flatten)`` for a record not on the hot path
    (``seq``: the number the hot path already took for it)."""
    handle = scope._handle
    if commit is not None:
        if commit is False:
            scope.pending.update(check_record(values, flatten))
            return
        if commit is not True:
            raise TypeError(f"commit= takes True or False, not {commit!r}")
    if scope.pending:
        values, scope.pending = {**scope.pending, **values}, {}
    record = check_record(values, flatten)
    if step is None:
        step = handle.step
    else:
        if type(step) is not int or not 0 <= step <= INT64_MAX:
            step = check_step(step)
        if step > handle.step:
            handle.step = step
    if step < scope._last_step:
        scope._out_of_order(step)  # raises, or warns and logs the record anyway
    else:
        scope._last_step = step
    journal = handle.journal
    if journal is not None and type(record) is dict and PLAIN.issuperset(map(type, record.values())):
        keys = tuple(record)
        hot = handle.shapes.get(keys)
        if hot is None:
            shape = journal.shape(handle.run_id, keys)
            if shape is not None:
                hot = handle.shapes[keys] = hot_shape(shape, len(keys))  # checked: later records take the hot path
        if hot is not None:
            payload = (time.time(), *record.values(), scope.scope_id, next(handle.seq) if seq is None else seq, step)
            journal.record(hot[0], marshal.dumps(payload, 2))
            return
    handle.channel.put((handle.run_id, scope.scope_id, next(handle.seq) if seq is None else seq, step, time.time(),
                        record))
