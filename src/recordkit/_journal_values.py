"""Record values marshal cannot hold, in a form it can: so they reach the journal before ``log()`` returns.

A checked record may hold datetimes and dates, numpy arrays and CPU tensors. Each becomes a tagged
tuple (a checked record never holds a tuple: lists are its JSON), which the writer, or a replay in
another process, turns back into the value:

* ``("datetime", isoformat)`` and ``("date", isoformat)``;
* ``("ndarray", dtype, shape, bytes)`` for a numpy array or number and for a tensor in CPU memory
  whose dtype numpy has. The bytes are the value when ``log()`` was called (a tensor changed in place
  afterwards no longer changes the record), and the writer converts the array as it converts any.

What stays in memory until the writer stores it (``encode`` raises ValueError, the caller pins the
item): tensors on a GPU (reading one would wait for the device in the training thread), dtypes numpy
lacks (bfloat16, float8), arrays too big for the journal, and media (images, histograms, tables:
encoded by the writer).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from recordkit._values import LazyValues, _is_numpy, _is_tensor

_PLAIN = frozenset({float, int, str, bool, type(None), list, dict})


def encode(values: dict[str, Any], most: int) -> dict[str, Any]:
    """``values`` with every value marshal cannot hold tagged; ValueError if one must stay in memory
    (an array of more than ``most`` bytes too: it is not copied only to be refused)."""
    return {key: value if type(value) in _PLAIN else _tagged(value, most) for key, value in values.items()}


def _tagged(value: Any, most: int) -> tuple[Any, ...]:
    cls = type(value)
    if cls is _dt.datetime:
        return ("datetime", value.isoformat())
    if cls is _dt.date:
        return ("date", value.isoformat())
    if getattr(value, "nbytes", 0) > most:
        raise ValueError("too big for the journal: kept in memory until the writer stores it")
    if _is_tensor(value):
        if value.device.type != "cpu":
            raise ValueError("a tensor on a device: read by the writer, not the training thread")
        try:
            value = value.numpy(force=False)
        except (TypeError, RuntimeError) as exc:  # bfloat16, float8, a tensor that needs grad...
            raise ValueError(str(exc)) from None
    if _is_numpy(value) and hasattr(value, "dtype"):
        return ("ndarray", value.dtype.str, tuple(value.shape), value.tobytes())
    raise ValueError(f"{cls.__name__} stays in memory until the writer stores it")


def revive(values: dict[str, Any]) -> dict[str, Any]:
    """The values ``encode`` tagged, as they were (arrays as numpy, converted later by the writer)."""
    if tuple not in set(map(type, values.values())):
        return values
    out = {key: _untagged(value) if type(value) is tuple else value for key, value in values.items()}
    return LazyValues(out) if any(type(v).__module__ == "numpy" for v in out.values()) else out


def _untagged(tag: tuple[Any, ...]) -> Any:
    kind = tag[0]
    if kind == "datetime":
        return _dt.datetime.fromisoformat(tag[1])
    if kind == "date":
        return _dt.date.fromisoformat(tag[1])
    import numpy

    dtype, shape, raw = tag[1:]
    return numpy.frombuffer(raw, dtype=dtype).reshape(shape)
