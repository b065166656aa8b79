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

# Values the caller's thread accepts with a single type lookup (ints and strings then get one check each).
_FAST_TYPES = frozenset({float, int, str, bool, type(None)})

# Ints must fit in signed 64 bits: every column, summary and export (SQL bigint, Arrow int64) holds that.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Lists and dicts nest at most this deep: deeper values would hit Python's recursion limit while stored.
MAX_DEPTH = 100

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


def check_record(values: Mapping[str, Any], flatten: bool = False) -> dict[str, Any]:
    """Validate a record in the caller's thread and return a new dict (the caller's is never mutated).

    With ``flatten`` (what ``run.log`` asks for), a dict value with text keys becomes one key per leaf,
    joined by ``/``: ``{"train": {"loss": 0.1}}`` is the key ``train/loss`` (see :func:`flatten_dicts`).

    Raises ``TypeError`` naming the key for a value of a type that cannot be stored, ``ValueError``
    for a reserved, empty or unstorable key and for a value no store can hold exactly (an int outside
    signed 64 bits, text with a NUL or a lone surrogate, lists/dicts nested deeper than ``MAX_DEPTH``).
    Tensors are detached and arrays copied; both are converted later, and the record is then returned
    as a ``LazyValues``.
    """
    out = dict(values)
    keys = tuple(out)
    if keys not in _checked_keys:
        for key in keys:
            _check_key(key)
        if len(_checked_keys) < 10_000:
            _checked_keys.add(keys)
    kinds = set(map(type, out.values()))
    if _FAST_TYPES.issuperset(kinds):  # the common case, checked at C speed
        if int in kinds or str in kinds:  # range and text checks inline: a call per value costs more
            for key, value in out.items():
                cls = type(value)
                if (cls is int and not INT64_MIN <= value <= INT64_MAX) or (
                    cls is str and ("\x00" in value or not value.isascii())
                ):
                    check_scalar(key, value)  # raises, except for valid non-ASCII text
        return out
    if flatten and dict in kinds:
        return check_record(flatten_dicts(out))
    lazy = False
    for key, value in out.items():
        cls = type(value)
        if cls not in _FAST_TYPES:
            value = out[key] = _check_value(key, value)
            lazy = lazy or needs_materialize(value) or is_media(value)
        elif (cls is int and not INT64_MIN <= value <= INT64_MAX) or (
            cls is str and ("\x00" in value or not value.isascii())
        ):
            check_scalar(key, value)  # the fast path's checks, for a record that also holds other kinds
    return LazyValues(out) if lazy else out


def flatten_dicts(values: Mapping[str, Any]) -> dict[str, Any]:
    """Nested dicts as ``a/b/c`` keys, in order: ``{"a": {"b": 1}, "c": 2}`` → ``{"a/b": 1, "c": 2}``.

    Only dicts whose keys are all text are flattened (an empty dict stays a JSON value, a dict with
    other keys is refused as before); a key met twice (``{"a/b": 1, "a": {"b": 2}}``) raises ``ValueError``.
    """
    out: dict[str, Any] = {}

    def walk(prefix: str, mapping: Mapping[str, Any], depth: int) -> None:
        for key, value in mapping.items():
            name = f"{prefix}/{key}" if prefix else key
            if type(value) is dict and value and depth < MAX_DEPTH and all(type(k) is str for k in value):
                walk(name, value, depth + 1)
            elif name in out:
                raise ValueError(f"record key {name!r} is given twice (once as a nested dict); log it once")
            else:
                out[name] = value

    walk("", values, 0)
    return out


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config as dotted keys: ``{"opt": {"lr": 0.1}}`` → ``{"opt.lr": 0.1}``.

    Here, below the backends, so that Records, Parquet files and the SQL ``records`` view name a
    run's config columns the same way (an empty dict stays one value).
    """
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            flat.update(flatten_config(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def mixed_values(values: Any, kw: Mapping[str, Any]) -> str:
    """The message for ``log({...}, name=…)``: values come as a dict or as keywords, never both."""
    if not isinstance(values, Mapping):
        return f"log() takes a dict of values (or keyword values), not {type(values).__name__}: {values!r}"
    names = ", ".join(f"{k}=" for k in kw)
    return (
        f"log() got a dict and keyword values ({names}): beside a dict it takes only step=, commit= and flatten=; "
        f"to log {', '.join(map(repr, kw))}, put it in the dict"
    )


def is_media(value: Any) -> bool:
    """True for ``rk.Image``, ``rk.Histogram`` and ``rk.Table`` (recordkit.media), and for a non-empty list
    of them: values the writer's media step stores. Known by a class attribute, so this module never
    imports the media package.
    """
    if type(value) is list:
        return bool(value) and all(getattr(type(item), "_recordkit_media", False) is True for item in value)
    return getattr(type(value), "_recordkit_media", False) is True


def check_step(step: Any) -> int:
    """``step`` as a plain int, or a ``TypeError``/``ValueError`` saying what a step may be.

    A step is a non-negative int within signed 64 bits (numpy ints count): the stores' step columns
    are 64-bit, and a float or text step would sort and compare wrongly.
    """
    if type(step) is not int:
        cls = type(step)
        is_numpy_int = cls.__module__ == "numpy" and getattr(getattr(step, "dtype", None), "kind", "") in ("i", "u")
        if isinstance(step, bool) or not (isinstance(step, int) or is_numpy_int):
            raise TypeError(
                f"step must be a non-negative int, got {step!r:.40} ({cls.__name__}); "
                "pass int(step) if it is a whole number"
            )
    number = int(step)
    if not 0 <= number <= INT64_MAX:
        raise ValueError(f"step must be a non-negative int below 2**63, got {number!r:.40}")
    return number


def _check_key(key: Any) -> None:
    if not isinstance(key, str):
        raise TypeError(f"record keys must be strings, got {key!r} ({type(key).__name__})")
    if not key:
        raise ValueError("record keys must not be empty")
    problem = text_problem(key)
    if problem:
        raise ValueError(f"record key {key!r} {problem}; use another key")
    if key in RESERVED_KEYS:
        raise ValueError(
            f"key {key!r} is reserved: recordkit adds it to every flat record; "
            f"log it under another name (e.g. {key + '_value'!r})"
        )


def check_scalar(key: str, value: Any) -> None:
    """Raise ``ValueError`` naming ``key`` for a plain int or str that no store can hold exactly."""
    problem = scalar_problem(value)
    if problem:
        raise ValueError(f"value for key {key!r} {problem}")


def scalar_problem(value: Any) -> str:
    """Why a plain int or str cannot be stored, and what to do instead; "" when it can."""
    cls = type(value)
    if cls is int:
        if not INT64_MIN <= value <= INT64_MAX:
            return (f"is an int outside signed 64 bits ({value!r:.40}): stores hold ints from -2**63 to "
                    "2**63-1; log str(value) to keep it exactly, or float(value)")
    elif cls is str:
        problem = text_problem(value)
        if problem:
            return f"{problem}; clean the text before logging it"
    return ""


def text_problem(text: str) -> str:
    """Why ``text`` cannot be stored (a NUL character or a lone surrogate), or "" when it can."""
    if "\x00" in text:
        return "holds a NUL character ('\\x00'), which PostgreSQL cannot store and SQL text functions cut short"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return (f"holds a lone surrogate {text[exc.start]!r} at position {exc.start}, which is not valid "
                    "UTF-8 (decode bytes with errors='replace', not 'surrogateescape')")
    return ""


def _check_value(key: str, value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)):  # subclasses such as IntEnum
        value = _plain_scalar(value)
        check_scalar(key, value)
        return value
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value
    if _is_tensor(value):
        problem = tensor_problem(value)  # dtype, layout and device only: reading a value would sync
        if problem:
            raise TypeError(f"value for key {key!r} {problem}")
        # Detach only: .item()/.cpu() would force a device sync in the training thread.
        return value.detach()
    if _is_numpy(value):
        kind = value.dtype.kind
        if kind in "UO":  # text and objects: checked, and made plain, now (they never live on a device)
            return _check_value(key, materialize(value))
        if kind not in "biuf":
            raise TypeError(f"value for key {key!r} {numpy_kind_problem(value.dtype)}")
        if getattr(value, "ndim", 0) > 0:
            _check_array(key, value)
            return value.copy()  # the caller may overwrite its buffer after log() returns
        value = value.item()
        check_scalar(key, value)
        return value
    if isinstance(value, (list, tuple)) and is_media(list(value)):
        return list(value)  # several images (histograms, tables) under one key
    if isinstance(value, (list, tuple, dict)):
        try:
            return _plain_json(value)
        except TypeError as exc:
            raise TypeError(f"value for key {key!r} cannot be stored: {exc}") from None
        except ValueError as exc:
            raise ValueError(f"value for key {key!r} cannot be stored: {exc}") from None
    if is_media(value):
        return value  # checked when it was made; encoded and stored by the writer
    problem = unstorable_problem(value)
    if problem:
        raise TypeError(f"value for key {key!r} {problem}")
    raise TypeError(
        f"value for key {key!r} cannot be stored: {type(value).__name__} {value!r:.80}; "
        "log numbers, strings, booleans, None, datetimes, numpy/torch values, JSON-able lists and dicts, "
        "or rk.Image / rk.Histogram / rk.Table"
    )


def _check_array(key: str, array: Any) -> None:
    problem = array_problem(array)
    if problem:
        raise ValueError(f"value for key {key!r} {problem}")


def array_problem(array: Any) -> str:
    """Why a numpy array of numbers cannot be stored exactly, or "" when it can.

    Unsigned 64-bit arrays may hold ints beyond signed 64 bits (the only numeric dtype that can).
    """
    dtype = array.dtype
    if dtype.kind == "u" and dtype.itemsize == 8 and array.size and array.max() > INT64_MAX:
        return ("is a uint64 array holding ints above 2**63-1: stores hold signed 64-bit ints; convert it "
                "(array.astype('float64') or .astype(str)) before logging")
    return ""


# What to do instead, for values no store holds (said the same for Python, numpy and torch values).
_COMPLEX = ("which no store holds as a number; log its parts under two keys (value.real and value.imag) "
            "or its magnitude abs(value)")
_BYTES = "which records do not hold; decode it to text ({decode}) or store it with run.attach()"
# numpy dtype kinds other than bool/int/uint/float ("U" text and "O" objects are made plain at the call).
_NUMPY_KINDS = {
    "c": _COMPLEX,
    "S": _BYTES.format(decode="value.astype(str)"),
    "M": "which no store holds; log datetimes (value.astype('datetime64[us]').tolist()) or value.astype('int64')",
    "m": "which no store holds; log it as a number of seconds (value / np.timedelta64(1, 's'))",
    "V": "a structured value; log each field under its own key (value['field'])",
}


def unstorable_problem(value: Any) -> str:
    """Why a complex number or bytes cannot be stored, and what to log instead; "" for other values."""
    if isinstance(value, complex):
        return f"is complex {value!r:.40}, {_COMPLEX}"
    if isinstance(value, (bytes, bytearray)):
        return f"is bytes {value!r:.40}, {_BYTES.format(decode='value.decode()')}"
    return ""


def numpy_kind_problem(dtype: Any) -> str:
    """Why a numpy value of ``dtype`` (not bool, int, uint, float, text or object) cannot be stored."""
    return f"is numpy {dtype.name}, {_NUMPY_KINDS.get(dtype.kind, 'which no store holds')}"


# Tensor dtypes whose values .tolist() turns into bools, ints within signed 64 bits or floats
# (quantized ones read back dequantized). Any other dtype is refused at the call, by name.
_TENSOR_DTYPES = frozenset(
    f"torch.{name}"
    for name in ("bool", "uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "float16",
                 "bfloat16", "float32", "float64", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2",
                 "float8_e5m2fnuz", "float8_e8m0fnu", "qint8", "quint8", "qint32")
)
# Problems by dtype and layout object, so a tensor costs two dict lookups after the first of its kind.
_tensor_dtype_problems: dict[Any, str] = {}
_tensor_layout_problems: dict[Any, str] = {}


def tensor_problem(tensor: Any) -> str:
    """Why a tensor cannot be stored exactly, from its dtype, layout and device only (never its values)."""
    dtype = tensor.dtype
    problem = _tensor_dtype_problems.get(dtype)
    if problem is None:
        name = str(dtype)
        if name in _TENSOR_DTYPES:
            problem = ""
        elif name == "torch.uint64":
            problem = ("is a torch.uint64 tensor, whose values may exceed the stores' signed 64 bits (checking "
                       "them would wait for the device); convert it (.to(torch.int64) or .double())")
        elif name.startswith("torch.complex"):
            problem = f"is a {name} tensor, {_COMPLEX}"
        else:
            problem = f"is a {name} tensor, which stores cannot read back; convert it (.float() or .long())"
        _tensor_dtype_problems[dtype] = problem
    if problem:
        return problem
    layout = tensor.layout
    problem = _tensor_layout_problems.get(layout)
    if problem is None:
        name = str(layout)
        problem = "" if name == "torch.strided" else f"is a tensor of layout {name}; log tensor.to_dense()"
        _tensor_layout_problems[layout] = problem
    if problem:
        return problem
    if tensor.is_meta:
        return "is a tensor on the meta device, which has no values; log a tensor that holds data"
    return ""


def _plain_scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def _plain_json(value: Any, depth: int = 0) -> Any:
    """A deep copy of a JSON-able value with numpy scalars made plain.

    Raises TypeError for a value that is not JSON-able, ValueError for one no store can hold (an int
    beyond 64 bits, unstorable text, nesting deeper than ``MAX_DEPTH``).
    """
    cls = type(value)
    if cls in _FAST_TYPES:
        if cls is int or cls is str:
            _refuse(scalar_problem(value))
        return value
    if isinstance(value, (bool, int, float, str)):
        value = _plain_scalar(value)
        _refuse(scalar_problem(value))
        return value
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value
    if isinstance(value, (list, tuple, dict)):
        if depth >= MAX_DEPTH:
            raise ValueError(f"lists and dicts nest deeper than {MAX_DEPTH} levels; flatten the value "
                             "or log it as a JSON string")
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    raise TypeError(f"dict keys must be strings, got {k!r}")
                problem = text_problem(k)
                if problem:
                    raise ValueError(f"dict key {k!r} {problem}")
                out[k] = _plain_json(v, depth + 1)
            return out
        return [_plain_json(item, depth + 1) for item in value]
    if _is_numpy(value):
        kind = value.dtype.kind
        if kind not in "biufUO":
            raise TypeError(f"a nested value {numpy_kind_problem(value.dtype)}")
        if getattr(value, "ndim", 0) > 0:
            _refuse(array_problem(value))
        return _plain_json(materialize(value), depth + 1)  # text and objects inside are checked too
    if _is_tensor(value):
        problem = tensor_problem(value)
        if problem:
            raise TypeError(f"a nested value {problem}")
        return _plain_json(materialize(value), depth + 1)
    problem = unstorable_problem(value)
    if problem:
        raise TypeError(f"a nested value {problem}")
    raise TypeError(f"{type(value).__name__} {value!r:.80} is not JSON-able")


def _refuse(problem: str) -> None:
    if problem:  # the caller names the top-level key
        raise ValueError(f"a nested value {problem}")


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
