"""Values as CSV and JSON text: the cell formats shared by the CLI, the CSV mirror and ``export``.

A *row* is a plain ``dict`` from column name to a raw value (floats stay floats, times stay seconds
since the epoch). Formatting happens last, per output format:

* CSV: :func:`csv_cell` (shortest exact float text, ``nan``/``inf``, ISO times in UTC for the
  columns named as times);
* JSON and JSON lines: :func:`json_value` / :func:`json_row`, strictly valid JSON; NaN and
  infinities use recordkit's tagged form ``{"$float": "nan"}`` (as in ``meta.json``), so nothing is
  lost.

A leaf module: it imports only :mod:`recordkit._values`, so any part of the library may use it
(the table text the CLI prints is :mod:`recordkit.cli.formatting`).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from recordkit import _values as V


def thaw(value: Any) -> Any:
    """Plain dicts and lists for a run's frozen config or env (mapping proxies and tuples)."""
    if isinstance(value, Mapping):
        return {str(k): thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


def utc_iso(seconds: float) -> str:
    """``1700000000.5`` → ``"2023-11-14T22:13:20.500000+00:00"``."""
    return _dt.datetime.fromtimestamp(seconds, tz=_dt.timezone.utc).isoformat()


def plain_text(value: Any) -> str:
    """Text for a value in any text format (numbers are handled by the callers)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    return V.dumps(thaw(value))


def csv_cell(column: str, value: Any, *, times: frozenset[str] = frozenset()) -> str:
    """A value as CSV text: exact floats (``repr``), ``nan``/``inf``, ISO UTC for ``times`` columns."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if column in times:
            return utc_iso(value)
        return repr(value)  # the shortest text that reads back as the same float
    return plain_text(value)


def csv_lines(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, times: frozenset[str] = frozenset()
) -> Iterator[list[str]]:
    """The header, then one list of cells per row; rows are consumed one at a time."""
    yield list(columns)
    for row in rows:
        cells: list[str] = []
        for column in columns:
            value = row.get(column)
            if isinstance(value, str):
                cells.append(value)
            elif value is None:
                cells.append("")
            else:
                cells.append(csv_cell(column, value, times=times))
        yield cells


def json_value(column: str, value: Any, *, times: frozenset[str] = frozenset()) -> Any:
    """A value ready for strict JSON: tagged non-finite floats and datetimes, ISO UTC for ``times``."""
    if column in times and isinstance(value, (int, float)) and not isinstance(value, bool):
        return utc_iso(value)
    return V.encode(thaw(value))


def json_dumps(value: Any) -> str:
    """Strict JSON text (never ``NaN``), non-ASCII kept as is."""
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


_JSON_AS_IS = frozenset({str, int, bool, type(None)})


def json_row(row: Mapping[str, Any], *, times: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A row ready for strict JSON (see :func:`json_value`); plain values are passed through as they are."""
    out = {}
    for column, value in row.items():
        kind = type(value)
        if column in times:
            out[column] = json_value(column, value, times=times)
        elif kind in _JSON_AS_IS or (kind is float and math.isfinite(value)):
            out[column] = value
        else:
            out[column] = json_value(column, value, times=times)
    return out


def json_array_chunks(objects: Iterable[Any]) -> Iterator[str]:
    """A JSON array written piece by piece, so a caller can stream it in constant memory."""
    first = True
    for obj in objects:
        yield ("[\n" if first else ",\n") + json_dumps(obj)
        first = False
    yield "[]\n" if first else "\n]\n"
