"""Listing runs: the one ``--where`` parser, run filters, sorting, and the table ``recordkit ls`` prints.

A *run row* is a flat ``dict`` describing one run, built from the stored run and its summary (never
from its records, never from its environment, so listing 10,000 runs stays well under a second):

* identity: ``collection``, ``number``, ``error_number``, ``id``, ``name``, ``status``, ``start``,
  ``duration``, ``end``, ``tags``, ``parent_id`` (times in seconds since the epoch);
* the last value of every logged series, named by its label (``loss``, ``phase=eval/loss``;
  ``metric.<key>`` when the key clashes with an identity column or starts with ``config.``/``metric.``);
  sorting by a bare key (``acc``) means its one series when it has only one;
* every config value, ``config.<dotted key>``.

Filters (``where``) compare run fields and config values for equality (in a dict, a callable value
instead tests a run-row column, metrics included: ``{"acc": lambda v: v is not None and v > 0.9}``).
As text (``--where``), ``KEY=VALUE`` is equality and ``KEY>VALUE``, ``>=``, ``<``, ``<=``, ``!=``
compare a run-row column (``acc>0.9``, ``config.lr<=0.01`` or ``lr<=0.01``, ``max(acc)>=0.95``; see
:mod:`recordkit.read.summaries` for ``last/min/max/mean(KEY[,N])``):

==========================================  ================================================
key                                         compares
==========================================  ================================================
``id``, ``name``, ``status``, ``number``,   the run field (the flat-record names ``run_id``,
``error_number``, ``had_error``,            ``run_name``, ``experiment_number`` work too)
``collection``, ``parent_id``
``tag`` (or ``tags``)                       the run carries this tag
``config.lr``, or just ``lr``               a config value; nested keys are dotted (``opt.name``)
==========================================  ================================================

A key that is no run field and in no listed run's config raises :class:`QueryError`, so a typo never
silently lists nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from recordkit import _values as V
from recordkit._exceptions import QueryError
from recordkit._formats import thaw
from recordkit.backends.base import ERROR_STATUSES, Backend, RunRow
from recordkit.read.summaries import fill, parse_summary, summary_columns
from recordkit.read.where import Compare as Compare
from recordkit.read.where import parse_value as parse_value
from recordkit.read.where import parse_where as parse_where
from recordkit.read.where import split_expression as split_expression

#: The identity columns of a run row, in the order ``recordkit ls`` shows them.
RUN_COLUMNS = ("collection", "number", "error_number", "id", "name", "status", "start", "duration")
#: Every column a run row has besides its metrics and config values.
ALL_RUN_COLUMNS = (*RUN_COLUMNS, "end", "tags", "parent_id")

# Names under which a filter finds a run field (the flat-record names work too).
RUN_FIELD_ALIASES = {
    "id": "id",
    "run_id": "id",
    "name": "name",
    "run_name": "name",
    "collection": "collection",
    "status": "status",
    "number": "number",
    "experiment_number": "number",
    "error_number": "error_number",
    "had_error": "had_error",
    "parent_id": "parent_id",
    "tag": "tags",
    "tags": "tags",
}

#: Returned by :func:`lookup` for an absent key (None is a value a config may hold).
MISSING: Any = object()

Where = Mapping[str, Any] | Iterable[str] | None


# --- the one parser (read/where.py; its names are kept here, where callers have always found them) ---

def as_conditions(where: Where) -> dict[str, Any]:
    """``where`` as a dict: a mapping is taken as is, text expressions go through :func:`parse_where`."""
    if where is None:
        return {}
    if isinstance(where, Mapping):
        return dict(where)
    return parse_where(where)


# --- plain values ----------------------------------------------------------------------------------


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level with dotted keys: ``{"opt": {"lr": 1}}`` → ``{"opt.lr": 1}``.

    Lists stay values; an empty mapping stays an (empty) value so that it is not lost.
    """
    out: dict[str, Any] = {}
    flatten_into(out, prefix, mapping)
    return out


def flatten_into(out: dict[str, Any], prefix: str, mapping: Mapping[str, Any]) -> None:
    """:func:`flatten` writing into ``out`` (no intermediate dicts: ``ls`` flattens 10,000 configs)."""
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if type(value) in _SCALARS:  # the common case, without the (slow) abstract Mapping check
            out[name] = value
        elif isinstance(value, Mapping) and value:
            flatten_into(out, f"{name}.", value)
        else:
            out[name] = thaw(value)


_SCALARS = frozenset({int, float, str, bool, type(None)})


def lookup(mapping: Mapping[str, Any], dotted: str) -> Any:
    """``mapping["a"]["b"]`` for ``"a.b"`` (a key that itself holds a dot wins); ``MISSING`` if absent."""
    if dotted in mapping:
        return mapping[dotted]
    head, dot, rest = dotted.partition(".")
    while dot:
        if head in mapping and isinstance(mapping[head], Mapping):
            return lookup(mapping[head], rest)
        more, dot, rest = rest.partition(".")
        head = f"{head}.{more}"
    return MISSING


# --- run rows --------------------------------------------------------------------------------------


def metric_column(key: str) -> str:
    """The column name of metric ``key`` in a run row (``metric.<key>`` if it would clash)."""
    if key in ALL_RUN_COLUMNS or key.startswith(("config.", "metric.")):
        return f"metric.{key}"
    return key


def make_row(
    identity: Mapping[str, Any],
    last: Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    *,
    flat_config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A run row from its identity columns, the last value per metric key, and its config.

    The config is given nested (``config``) or already flattened to dotted keys (``flat_config``).
    """
    row = dict(identity)
    columns = _metric_columns()
    for key, value in last.items():
        column = columns.get(key)
        if column is None:
            column = columns[key] = metric_column(key)
        row[column] = value
    flat = flatten(config or {}) if flat_config is None else flat_config
    for key, value in flat.items():
        row["config." + key] = value
    return row


# Metric key -> column name, remembered: 10,000 runs share a handful of keys.
_METRIC_COLUMNS: dict[str, str] = {}


def _metric_columns() -> dict[str, str]:
    if len(_METRIC_COLUMNS) > 100_000:  # a bound for long-lived processes reading many stores
        _METRIC_COLUMNS.clear()
    return _METRIC_COLUMNS


def identity(row: RunRow) -> dict[str, Any]:
    """The identity columns of a stored run."""
    end = row.end_time
    return {
        "collection": row.collection,
        "number": row.number,
        "error_number": row.error_number,
        "id": row.id,
        "name": row.name,
        "status": row.status,
        "start": row.start_time,
        "duration": None if end is None else end - row.start_time,
        "end": end,
        "tags": list(row.tags),
        "parent_id": row.parent_id,
    }


def table_row(row: RunRow, last: Mapping[str, Any]) -> dict[str, Any]:
    """One stored run and the last value of each of its keys as a run row.

    The same as ``make_row(identity(row), last, row.config)`` without its copies: ``ls`` builds 10,000.
    """
    table = identity(row)
    columns = _metric_columns()
    for key, value in last.items():
        column = columns.get(key)
        if column is None:
            column = columns[key] = metric_column(key)
        table[column] = value
    flatten_into(table, "config.", row.config)
    return table


# --- filters ---------------------------------------------------------------------------------------


def field(row: RunRow, key: str) -> Any:
    """What a filter on ``key`` compares for a run: a run field, else a config value (or MISSING)."""
    name = RUN_FIELD_ALIASES.get(key)
    if name is not None:
        if name == "had_error":
            return row.status in ERROR_STATUSES
        return getattr(row, name)
    if key.startswith("config."):
        return lookup(row.config, key[len("config.") :])
    return lookup(row.config, key)


def check_where(rows: Sequence[RunRow], conditions: Mapping[str, Any]) -> None:
    """Raise QueryError for a key that is no run field and in no run's config (a likely typo)."""
    if not rows:
        return
    for key in conditions:
        if key not in RUN_FIELD_ALIASES and all(field(row, key) is MISSING for row in rows):
            known = sorted(set(RUN_FIELD_ALIASES) | {f"config.{k}" for r in rows for k in flatten(r.config)})
            raise QueryError(f"--where key {key!r} is no run field or config key; known: {', '.join(known)}")


def matches(row: RunRow, conditions: Mapping[str, Any]) -> bool:
    """True when every condition holds for the run (``tag=x``: the run carries tag x)."""
    for key, expected in conditions.items():
        actual = field(row, key)
        if RUN_FIELD_ALIASES.get(key) == "tags":
            if expected not in actual:
                return False
        elif actual is MISSING or thaw(actual) != expected:
            return False
    return True


def filter_rows(rows: Sequence[RunRow], where: Where) -> list[RunRow]:
    """The runs matching every condition of ``where`` (checked for typos first)."""
    conditions = as_conditions(where)
    if not conditions:
        return list(rows)
    check_where(rows, conditions)
    return [row for row in rows if matches(row, conditions)]


def split_tests(where: Where) -> tuple[dict[str, Any], dict[str, Callable[[Any], bool]]]:
    """(equality conditions, column tests): a callable value of a ``where`` dict tests a run-row column."""
    conditions = as_conditions(where)
    tests = {key: value for key, value in conditions.items() if callable(value)}
    return {key: value for key, value in conditions.items() if key not in tests}, tests


def _tested(
    pairs: list[tuple[RunRow, dict[str, Any]]], tests: Mapping[str, Callable[[Any], bool]]
) -> list[tuple[RunRow, dict[str, Any]]]:
    """The runs whose run-row columns pass every test (a column a run lacks is passed as None).

    A bare config key (``lr``) tests ``config.lr``, as equality filters do; a bare metric key (``acc``)
    tests its one series (``phase=eval/acc``).
    """
    resolved: dict[str, Callable[[Any], bool]] = {}
    for column, test in tests.items():
        if pairs and not any(column in table for _, table in pairs):
            known = sorted({name for _, table in pairs for name in table})
            if any(f"config.{column}" in table for _, table in pairs):
                column = f"config.{column}"
            elif parse_summary(column) is None:  # a summary column is filled for every run, maybe None
                found = series_column(column, known)
                if found is None:
                    raise QueryError(f"--where column {column!r} is in no listed run; known: {', '.join(known)}")
                column = found
        resolved[column] = test
    return [(row, table) for row, table in pairs if all(test(table.get(col)) for col, test in resolved.items())]


# --- sorting ---------------------------------------------------------------------------------------


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, (bool, int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, V.dumps(value))


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def series_column(name: str, known: Iterable[str]) -> str | None:
    """The series column a bare key means (``acc`` → ``phase=eval/acc`` when that is its one series)."""
    from recordkit.backends.labels import resolve

    return resolve(name, known, "the listed runs")


def sort_rows(rows: Sequence[dict[str, Any]], key: str | None) -> list[dict[str, Any]]:
    """Rows ordered by column ``key`` (``-key``: descending); missing and NaN values always last.

    The sort is stable: rows that tie keep their order (oldest first).
    """
    if not key:
        return list(rows)
    descending = key.startswith("-")
    column = key.lstrip("-")
    if rows and not any(column in row for row in rows):
        known = sorted({name for row in rows for name in row})
        found = series_column(column, known)
        if found is None:
            raise QueryError(f"cannot sort by {column!r}: no such column; known: {', '.join(known)}")
        column = found
    present = [row for row in rows if not _is_blank(row.get(column))]
    blank = [row for row in rows if _is_blank(row.get(column))]
    present.sort(key=lambda row: _sort_key(row[column]), reverse=descending)
    return present + blank


def _needs_summaries(sort: str | None) -> bool:
    """Whether sorting by ``sort`` needs every run's metrics (not an identity or config column)."""
    if not sort:
        return False
    column = sort.lstrip("-")
    return column not in ALL_RUN_COLUMNS and not column.startswith("config.")


def select(
    rows: Sequence[RunRow],
    backend: Backend,
    *,
    where: Where = None,
    sort: str | None = None,
    limit: int | None = None,
    summaries: Sequence[str] = (),
) -> list[tuple[RunRow, dict[str, Any]]]:
    """Filter, sort and cut runs; return each kept run with its run row.

    ``backend.last_values(run_ids)`` reads the last value of every key of many runs at once. It is
    asked only for the runs that are kept, unless a test or sorting by a metric needs all of them.
    Summary columns (``max(acc)``, see :mod:`recordkit.read.summaries`) named by ``summaries``, a
    test or ``sort`` are added to the rows that need them.
    """
    if limit is not None and limit < 0:
        raise QueryError(f"limit must be 0 or more, not {limit!r}")
    for name in summaries:
        if parse_summary(name) is None:
            raise QueryError(f"{name!r} is no summary column; write last(KEY), min(KEY), max(KEY), mean(KEY) or "
                             "mean(KEY,N) (the last N points)")
    equal, tests = split_tests(where)
    kept = filter_rows(rows, equal)
    last_values = backend.last_values
    if tests or _needs_summaries(sort):
        found = last_values([row.id for row in kept])
        pairs = [(row, table_row(row, found.get(row.id, {}))) for row in kept]
        early = summary_columns([*tests, (sort or "").lstrip("-")])
        fill(backend, pairs, early)
        if tests:
            pairs = _tested(pairs, tests)
        order = {id(table): i for i, table in enumerate(sort_rows([table for _, table in pairs], sort))}
        pairs.sort(key=lambda pair: order[id(pair[1])])
        pairs = pairs if limit is None else pairs[:limit]
        fill(backend, pairs, [name for name in summaries if name not in early])
        return pairs
    if sort:  # an identity or config column: sort before reading any metric
        keyed = [(row, make_row(identity(row), {}, row.config)) for row in kept]
        order = {id(table): i for i, table in enumerate(sort_rows([table for _, table in keyed], sort))}
        keyed.sort(key=lambda pair: order[id(pair[1])])
        kept = [row for row, _ in keyed]
    if limit is not None:
        kept = kept[:limit]
    found = last_values([row.id for row in kept])
    pairs = [(row, table_row(row, found.get(row.id, _NOTHING))) for row in kept]
    fill(backend, pairs, summaries)
    return pairs


_NOTHING: Mapping[str, Any] = {}
