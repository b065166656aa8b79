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


def log_checked(scope: Scope, values: Mapping[str, Any], step: int | None, commit: bool | None = None,
                flatten: bool = True) -> None:
    """``scope.log(values, step=step, commit=commit, flatten=flatten)`` for a record not on the hot path."""
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
        shape = handle.shapes.get(keys)
        if shape is None:
            shape = journal.shape(handle.run_id, keys)
            if shape is not None:
                handle.shapes[keys] = shape  # the keys are checked: later records take the hot path
        if shape is not None:
            payload = (scope.scope_id, next(handle.seq), step, time.time(), *record.values(), None)
            journal.record(shape, marshal.dumps(payload, 2))
            return
    handle.channel.put((handle.run_id, scope.scope_id, next(handle.seq), step, time.time(), record))
