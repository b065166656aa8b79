"""Pure value normalisation: what may be logged, how it is checked, and how it is encoded.

Two halves, kept apart on purpose:

* ``check_record`` runs in the caller's thread. It must be cheap (a type lookup per value for the
  common case) and never touch a device: tensors are only detached, arrays only copied.
* ``materialize`` and the JSON codec run in the writer thread, where a CUDA tensor may sync.

The tagged JSON codec stores values exactly: NaN/inf and datetimes survive a round trip through
strictly valid JSON (``{"$float": "nan"}``, ``{"$datetime": "2026-01-01T00:00:00"}``).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping
from typing import Any

# Values the caller's thread accepts with a single type lookup.
_FAST_TYPES = frozenset({float, int, str, bool, type(None)})

# Flat-read fields that recordkit adds to every record; a logged key may not shadow them.
RESERVED_KEYS = frozenset(
    {
        "step",
        "time",
        "run_id",
        "run_name",
        "collection",
        "status",
        "experiment_number",
        "error_number",
        "had_error",
        "experiment_start_time",
        "experiment_end_time",
        "experiment_duration",
    }
)

# Column kinds: how a key's values are held in a typed column.
NUM, BOOL, STR, DATETIME, DATE, JSON = "num", "bool", "str", "datetime", "date", "json"


class LazyValues(dict):  # type: ignore[type-arg]
    """A record holding tensors or arrays: the writer thread converts it, never the caller's."""


# Key sets already checked (string keys, none reserved): most loops log the same keys every step.
_checked_keys: set[tuple[str, ...]] = set()


def check_record(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a record in the caller's thread and return a new dict (the caller's is never mutated).

    Raises ``TypeError`` naming the key for a value that cannot be stored, ``ValueError`` for a
    reserved or empty key. Tensors are detached and arrays copied; both are converted later, and the
    record is then returned as a ``LazyValues``.
    """
    out = dict(values)
    keys = tuple(out)
    if keys not in _checked_keys:
        for key in keys:
            _check_key(key)
        if len(_checked_keys) < 10_000:
            _checked_keys.add(keys)
    if _FAST_TYPES.issuperset(map(type, out.values())):  # the common case, checked at C speed
        return out
    lazy = False
    for key, value in out.items():
        if type(value) not in _FAST_TYPES:
            value = out[key] = _check_value(key, value)
            lazy = lazy or needs_materialize(value)
    return LazyValues(out) if lazy else out


def _check_key(key: Any) -> None:
    if not isinstance(key, str):
        raise TypeError(f"record keys must be strings, got {key!r} ({type(key).__name__})")
    if not key:
        raise ValueError("record keys must not be empty")
    if key in RESERVED_KEYS:
        raise ValueError(
            f"key {key!r} is reserved: recordkit adds it to every flat record; "
            f"log it under another name (e.g. {key + '_value'!r})"
        )


def _check_value(key: str, value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)):  # subclasses such as IntEnum
        return _plain_scalar(value)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value
    if _is_tensor(value):
        # Detach only: .item()/.cpu() would force a device sync in the training thread.
        return value.detach()
    if _is_numpy(value):
        if hasattr(value, "shape") and getattr(value, "ndim", 0) > 0:
            return value.copy()  # the caller may overwrite its buffer after log() returns
        return value.item()
    if isinstance(value, (list, tuple, dict)):
        try:
            return _plain_json(value)
        except TypeError as exc:
            raise TypeError(f"value for key {key!r} cannot be stored: {exc}") from None
    raise TypeError(
        f"value for key {key!r} cannot be stored: {type(value).__name__} {value!r:.80}; "
        "log numbers, strings, booleans, None, datetimes, numpy/torch values or JSON-able lists and dicts"
    )


def _plain_scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def _plain_json(value: Any) -> Any:
    """A deep copy of a JSON-able value with numpy scalars made plain; raises TypeError otherwise."""
    if type(value) in _FAST_TYPES:
        return value
    if isinstance(value, (bool, int, float, str)):
        return _plain_scalar(value)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain_json(item) for item in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"dict keys must be strings, got {k!r}")
            out[k] = _plain_json(v)
        return out
    if _is_numpy(value) or _is_tensor(value):
        return materialize(value)
    raise TypeError(f"{type(value).__name__} {value!r:.80} is not JSON-able")


def _is_tensor(value: Any) -> bool:
    # By type name so that torch is never imported here; subclasses (Parameter, user types) count.
    return any(c.__name__ == "Tensor" and c.__module__ == "torch" for c in type(value).__mro__)


def _is_numpy(value: Any) -> bool:
    return type(value).__module__ == "numpy" and hasattr(value, "item")


def materialize(value: Any) -> Any:
    """Turn a (detached) tensor or numpy value into plain Python; writer thread only.

    One-element tensors and arrays become scalars, longer ones nested lists.
    """
    if _is_tensor(value):
        value = value.cpu()
        return value.item() if value.numel() == 1 else value.tolist()
    if _is_numpy(value):
        if getattr(value, "size", 1) == 1:
            return value.item() if getattr(value, "ndim", 0) == 0 else value.reshape(-1)[0].item()
        return value.tolist()
    return value


def needs_materialize(value: Any) -> bool:
    """True for values the writer must convert before storing."""
    return type(value) not in _FAST_TYPES and (_is_tensor(value) or _is_numpy(value))


def kind_of(value: Any) -> str | None:
    """The column kind of a plain value; None for None (it fits any column)."""
    cls = type(value)
    if cls is float or cls is int:
        return NUM
    if cls is bool:
        return BOOL
    if cls is str:
        return STR
    if value is None:
        return None
    if cls is _dt.datetime:
        return DATETIME
    if cls is _dt.date:
        return DATE
    return JSON


def to_column(value: Any, kind: str) -> Any:
    """The SQL representation of ``value`` in a column of ``kind``, or raise ValueError if it has none."""
    if kind == NUM:
        if value != value:  # NaN: SQL engines cannot hold it; the exact value goes to overflow
            raise ValueError("nan")
        return value
    if kind == BOOL:
        return 1 if value else 0
    if kind in (DATETIME, DATE):
        return value.isoformat()
    if kind == JSON:
        return dumps(value)
    return value


def from_column(value: Any, kind: str) -> Any:
    """Inverse of ``to_column``."""
    if value is None:
        return None
    if kind == BOOL:
        return bool(value)
    if kind == DATETIME:
        return _dt.datetime.fromisoformat(value)
    if kind == DATE:
        return _dt.date.fromisoformat(value)
    if kind == JSON:
        return loads(value)
    return value


# --- tagged JSON: strict JSON that round-trips NaN, inf and datetimes ---------------------------------


def encode(value: Any) -> Any:
    """A JSON-safe structure for ``value`` (tags for non-finite floats and datetimes)."""
    cls = type(value)
    if cls is float:
        if math.isfinite(value):
            return value
        return {"$float": "nan" if value != value else ("inf" if value > 0 else "-inf")}
    if cls in _FAST_TYPES:
        return value
    if isinstance(value, _dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, _dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        encoded = {str(k): encode(v) for k, v in value.items()}
        if len(encoded) == 1 and next(iter(encoded)).startswith("$"):
            return {"$dict": encoded}  # a user dict that looks like a tag stays a dict
        return encoded
    return encode(materialize(value)) if needs_materialize(value) else str(value)


def decode(value: Any) -> Any:
    """Inverse of ``encode``."""
    if isinstance(value, list):
        return [decode(item) for item in value]
    if isinstance(value, dict):
        if len(value) == 1:
            ((tag, raw),) = value.items()
            if tag == "$float":
                return float(raw)
            if tag == "$datetime":
                return _dt.datetime.fromisoformat(raw)
            if tag == "$date":
                return _dt.date.fromisoformat(raw)
            if tag == "$dict" and isinstance(raw, dict):
                return {k: decode(v) for k, v in raw.items()}
        return {k: decode(v) for k, v in value.items()}
    return value


def dumps(value: Any) -> str:
    """Strict JSON text for any storable value."""
    return json.dumps(encode(value), separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def loads(text: str | None) -> Any:
    """Inverse of ``dumps``; None stays None."""
    if text is None:
        return None
    if '"$' not in text:  # every tag is a key starting with "$": without one, there is nothing to decode
        return json.loads(text)
    return decode(json.loads(text))
