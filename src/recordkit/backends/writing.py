"""``write_batch``'s pipeline, written once for every SQL engine: items in, rows and summaries out.

Records are laid into rows as given (per record, as little work as possible), then checked and
converted a column at a time, where builtins do the per-value work; a value a column cannot hold
exactly (NaN, another kind than the column's) goes to the row's ``extra`` JSON. Everything is
converted before anything is written, and written in one order in every writer so none waits on
another in a circle: the schema lock (only when a table or a column kind is new, while planning and
converting), then scopes, records, events/files/links, the runs' counters and the summary rows.

Rows come in two orders. A record item (a tuple with a dict of values) is laid out as
``[scope_id, seq, step, time, *columns, extra]`` (``ROW_ORDER``). A journal's :class:`RecordRows`
arrive as ``(time, *values, scope_id, seq, step)`` (``JOURNAL_ORDER``) and are bound as they are, with
the column names in that order, as long as every column takes its values as they come; a batch
that needs more (NaN, another kind, a widened table) lays those rows out as ``ROW_ORDER`` first.

The summary is kept per series: a key logged in a scope labelled ``phase=eval`` folds into the row
``phase=eval/loss`` (``backends/labels.py``), so train and eval values never mix in ``last``/``min``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any

from recordkit import _values as V
from recordkit._exceptions import StoreError
from recordkit.backends.base import (
    AddEvent,
    AddFile,
    AddLink,
    CreateScope,
    RecordRows,
    RemoveFile,
    UpdateRun,
    UpdateScope,
    WriteItem,
)
from recordkit.backends.dialect import INT, NO_FIT
from recordkit.backends.labels import labelled, scope_label
from recordkit.backends.tables import RecordTables, Table

NONE_TYPE = type(None)
ROW_ORDER = 0
JOURNAL_ORDER = 1
LAID_OUT = 2  # journal rows a column could not take as they were: ROW_ORDER now, converted apart
NUM_TYPES = frozenset({float, int})
INT_TYPES = {int}
STR_TYPES = {str}
BOOL_TYPES = {bool}
_INT64 = (-(2**63), 2**63 - 1)
_EXACT_IN_DOUBLE = 2**53  # ints at least this large lose digits as a double

ADD_EVENT = "INSERT INTO events (run_id, name, time, step, duration, data) VALUES (?, ?, ?, ?, ?, ?)"
ADD_FILE = (
    "INSERT INTO files (run_id, name, kind, time, step, size, sha256, path, mtime, meta)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
REMOVE_FILE = "UPDATE files SET removed = ? WHERE run_id = ? AND path = ? AND removed IS NULL"
ADD_LINK = "INSERT INTO links (source_id, target_id, relation, time, data) VALUES (?, ?, ?, ?, ?)"
_UPSERT_SUMMARY = (
    "INSERT INTO summary (run_id, key, name, last, last_step, min, max, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (run_id, key) DO UPDATE SET last = excluded.last, last_step = excluded.last_step,"
    " min = {smaller}, max = {larger}, count = summary.count + excluded.count"
)


def apply_batch(conn: Any, items: Sequence[WriteItem], registry: RecordTables) -> None:
    """Write ``items`` inside the caller's transaction on ``conn``."""
    dialect = registry.dialect
    sql = dialect.sql
    registry.begin()
    # (table, run, label, order): rows of ROW_ORDER (tuples, or lists once converted) or JOURNAL_ORDER
    groups: dict[tuple[Table, str, str, int], list[Any]] = {}
    scopes: list[CreateScope | UpdateScope] = []
    labels = registry.labels
    counters: dict[str, list[Any]] = {}
    others: list[tuple[str, tuple[Any, ...]]] = []  # events, files, links: (statement, parameters), in order
    plans = registry.plans
    # Consecutive records usually share run, scope and keys: remember the last (keys, run, scope) → group.
    last_keys: tuple[str, ...] = ()
    last_run = ""
    last_scope = -1
    last_group: list[Any] = []
    last_full = False
    for item in items:
        if type(item) is tuple:
            run_id, scope_id, seq, step, when, values = item
            keys = tuple(values)
            if keys == last_keys and scope_id == last_scope and run_id == last_run and last_full:
                last_group.append((scope_id, seq, step, when, *values.values(), None))
                continue
            plan = plans.get(keys) or registry.plan(conn, values)
            table = plan[0]
            row: Any
            if plan[1]:  # the record's keys are the table's columns, in order
                row = (scope_id, seq, step, when, *values.values(), None)
            else:
                row = [scope_id, seq, step, when, *([None] * len(table.order)), None]
                index = table.order_index
                overflow = None
                for key, value in values.items():
                    if key in index:
                        row[4 + index[key]] = value
                    else:  # beyond MAX_COLUMNS
                        overflow = overflow or {}
                        overflow[key] = value
                row[-1] = overflow
            label = labels.get(scope_id)
            if label is None:
                label = label_of(conn, registry, scope_id)
            group = groups.get((table, run_id, label, ROW_ORDER))
            if group is None:
                group = groups[(table, run_id, label, ROW_ORDER)] = []
            group.append(row)
            last_keys, last_run, last_scope, last_group, last_full = keys, run_id, scope_id, group, plan[1]
        elif type(item) is RecordRows:
            add_rows(conn, registry, groups, item)
            last_keys = ()  # the next tuple record plans afresh
        elif isinstance(item, CreateScope):
            if item.label is not None:  # a copy (sync) keeps the source's label
                labels[item.id] = item.label
            else:
                parent = "" if item.parent_id is None else labels.get(item.parent_id)
                if parent is None:
                    parent = label_of(conn, registry, item.parent_id)  # type: ignore[arg-type]
                labels[item.id] = scope_label(parent, item.fields)
            scopes.append(item)
        elif isinstance(item, UpdateScope):
            scopes.append(item)
        elif isinstance(item, UpdateRun):
            known = counters.setdefault(item.run_id, [None, None, None, None])
            for i, value in enumerate((item.step, item.epoch, item.heartbeat)):
                if value is not None:
                    known[i] = value
        elif isinstance(item, AddEvent):
            others.append((ADD_EVENT, (item.run_id, item.name, item.time, item.step, item.duration,
                                       V.dumps(item.data))))
        elif isinstance(item, AddFile):
            others.append((ADD_FILE, (item.run_id, item.name, item.kind, item.time, item.step, item.size,
                                      item.sha256, item.path, item.mtime, V.dumps(item.meta))))
        elif isinstance(item, RemoveFile):
            others.append((REMOVE_FILE, (item.time, item.run_id, item.path)))
        elif isinstance(item, AddLink):
            others.append((ADD_LINK, (item.source_id, item.target_id, item.relation, item.time, V.dumps(item.data))))
        else:  # never dropped silently: the whole batch is refused and the caller sees why
            raise StoreError(f"the {dialect.engine} store cannot write a {type(item).__name__} item; upgrade recordkit")
    stats: dict[tuple[str, str, str], list[Any]] = {}
    for (table, run_id, label, order), rows in list(groups.items()):  # convert everything before writing
        series = (run_id, label)
        if order == JOURNAL_ORDER:
            if journal_rows_fit(registry, table, rows, series, stats):
                continue
            # Some column needs more than the rows as they are: lay them out as ROW_ORDER (a group of
            # their own: a ROW_ORDER group may be converted already) and convert them.
            del groups[(table, run_id, label, order)]
            rows = groups[(table, run_id, label, LAID_OUT)] = to_row_order(rows, len(table.order))
        convert_rows(conn, registry, table, rows, series, stats)
    for scope in scopes:
        if isinstance(scope, CreateScope):
            conn.execute(
                sql("INSERT INTO scopes (id, run_id, parent_id, fields, label) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING"),
                (scope.id, scope.run_id, scope.parent_id, V.dumps(scope.fields), labels[scope.id]),
            )
        else:
            found = conn.execute(
                sql(f"SELECT fields FROM scopes WHERE id = ?{dialect.for_update}"), (scope.id,)
            ).fetchone()
            if found is not None:
                conn.execute(
                    sql("UPDATE scopes SET fields = ? WHERE id = ?"),
                    (V.dumps({**V.loads(found[0]), **scope.fields}), scope.id),
                )
    for (table, _, _, order), rows in groups.items():
        dialect.insert_rows(conn, table, rows, journal_order=order == JOURNAL_ORDER)
    start = 0
    while start < len(others):  # consecutive items of one kind in one round trip, the order kept
        end = start + 1
        while end < len(others) and others[end][0] == others[start][0]:
            end += 1
        dialect.executemany(conn, others[start][0], [params for _, params in others[start:end]])
        start = end
    # A run's records are proof of life too: its heartbeat is at least its latest record's time, so a
    # killed run (ended at its last heartbeat) never ends before its last record.
    for (_, run_id, _, order), rows in groups.items():
        known = counters.setdefault(run_id, [None, None, None, None])
        latest = rows[-1][0 if order == JOURNAL_ORDER else 3]  # rows are in log order
        known[3] = latest if known[3] is None or latest > known[3] else known[3]
    beat = dialect.greatest.format("coalesce(?, heartbeat)", "coalesce(?, heartbeat)")
    for run_id, (step, epoch, heartbeat, latest) in sorted(counters.items()):
        conn.execute(
            sql(f"UPDATE runs SET step = coalesce(?, step), epoch = coalesce(?, epoch), heartbeat = {beat}"
                " WHERE id = ?"),
            (step, epoch, heartbeat, latest, run_id),
        )
    if stats:
        summary = [
            (run, labelled(label, key), key, V.dumps(s[0]), s[1], s[2], s[3], s[4])
            for (run, label, key), s in stats.items()
        ]
        if dialect.summary_in_key_order:  # writers sharing a run take the summary rows' locks in one order
            summary.sort(key=lambda row: (row[0], row[1]))
        upsert = _UPSERT_SUMMARY.format(
            smaller=dialect.smaller.format("summary.min", "excluded.min"),
            larger=dialect.larger.format("summary.max", "excluded.max"),
        )
        dialect.executemany(conn, upsert, summary)


def add_rows(conn: Any, registry: RecordTables, groups: dict[tuple[Table, str, str, int], list[Any]],
             item: RecordRows) -> None:
    """Lay a journal's rows (``JOURNAL_ORDER``, values in ``item.keys`` order) into their groups."""
    keys, rows, run_id = item.keys, item.rows, item.run_id
    n = len(keys)
    plan = registry.plans.get(keys) or registry.plan(conn, dict(zip(keys, rows[0][1:], strict=False)))
    table = plan[0]
    labels = registry.labels
    order = JOURNAL_ORDER if plan[1] else ROW_ORDER  # the keys are the table's columns, in order
    for scope_id, same_scope in groupby(rows, itemgetter(n + 1)):  # usually one run of rows: one scope's
        label = labels.get(scope_id)
        if label is None:
            label = label_of(conn, registry, scope_id)
        group = groups.get((table, run_id, label, order))
        if group is None:
            group = groups[(table, run_id, label, order)] = []
        if order == JOURNAL_ORDER:  # the rows go in as they are
            group.extend(same_scope)
            continue
        index = table.order_index
        width = len(table.order)
        for values in same_scope:
            row: list[Any] = [scope_id, values[n + 2], values[n + 3], values[0], *([None] * width), None]
            overflow = None
            for key, value in zip(keys, values[1 : n + 1], strict=True):
                if key in index:
                    row[4 + index[key]] = value
                else:  # beyond MAX_COLUMNS
                    overflow = overflow or {}
                    overflow[key] = value
            row[-1] = overflow
            group.append(row)


def to_row_order(rows: list[Any], width: int) -> list[list[Any]]:
    """JOURNAL_ORDER rows as ROW_ORDER lists of ``width`` columns. Each row keeps its own count of
    values: a shared table widened in the batch holds rows planned before (fewer values) and after."""
    out = []
    for r in rows:
        n = len(r) - 4
        out.append([r[n + 1], r[n + 2], r[n + 3], r[0], *r[1 : n + 1], *([None] * (width - n)), None])
    return out


def journal_rows_fit(registry: RecordTables, table: Table, rows: list[Any], series: tuple[str, str],
                     stats: dict[tuple[str, str, str], list[Any]]) -> bool:
    """Whether JOURNAL_ORDER rows go in as they are: each column holds numbers (no NaN), bools or text
    of the column's own kind, as the engine binds them, and the table is no wider than when the rows
    were planned. If so, fold their summary into ``stats`` and say True; else change nothing."""
    n = len(table.order)
    if set(map(len, rows)) != {n + 4}:  # the table was widened after some of the rows were planned
        return False
    ints_stay_ints = registry.dialect.ints_stay_ints
    found = []
    last = len(rows) - 1
    for position, key in enumerate(table.order, 1):
        column, types, has_none = column_of(rows, position)
        if not types:
            continue
        kind = table.kinds[key]
        if kind == V.STR and types == STR_TYPES:
            low = high = None
            count = len(column) - column.count(None)
        else:
            if not ((kind == V.NUM and types <= NUM_TYPES and (ints_stay_ints or int not in types))
                    or (kind == INT and types == INT_TYPES) or (kind == V.BOOL and types == BOOL_TYPES)):
                return False  # another kind, or ints a double column must convert: ROW_ORDER's careful path
            present = [v for v in column if v is not None] if has_none else column
            if kind == V.NUM and (total := sum(present)) != total:
                return False  # NaN (or inf - inf): kept exactly in the extra column
            low, high, count = float(min(present)), float(max(present)), len(present)
        at = last
        while column[at] is None:
            at -= 1
        found.append((key, [column[at], rows[at][n + 3], low, high, count, rows[at][n + 2]]))
    for key, new in found:
        merge_stat(stats, series, key, new)
    return True


def convert_rows(conn: Any, registry: RecordTables, table: Table, rows: list[Any], series: tuple[str, str],
                 stats: dict[tuple[str, str, str], list[Any]]) -> None:
    """Check and convert ROW_ORDER rows of ``table`` in place, column by column (see convert_column)."""
    width = len(table.order) + 5
    if len(rows[0]) != width or len(rows[-1]) != width:  # a shared table widened by a later key set
        rows[:] = [row if len(row) == width else [*row[:-1], *([None] * (width - len(row))), row[-1]]
                   for row in rows]
    for position, key in enumerate(table.order):
        convert_column(conn, registry, table, key, 4 + position, rows, series, stats)
    if list in set(map(type, rows)):  # only lists may hold an extra value (checked at C speed)
        for row in rows:
            extra = row[-1]
            if extra is not None:
                for key, value in extra.items():
                    if key not in table.order_index:
                        stat(stats, series, key, value, row[2], row[1])
                row[-1] = V.dumps(extra)


def column_of(rows: list[Any], j: int) -> tuple[list[Any], set[type], bool]:
    """Column ``j`` of ``rows``, the types of its values other than None, and whether it holds a None."""
    column = [row[j] for row in rows]
    types = set(map(type, column))
    has_none = NONE_TYPE in types
    types.discard(NONE_TYPE)
    return column, types, has_none


def convert_column(
    conn: Any,
    registry: RecordTables,
    table: Table,
    key: str,
    j: int,
    rows: list[Any],
    series: tuple[str, str],
    stats: dict[tuple[str, str, str], list[Any]],
) -> None:
    """Check and convert column ``j`` of ``rows`` in place; fold its values into ``stats`` of ``series``
    (run id, scope label)."""
    column, types, has_none = column_of(rows, j)
    if not types:
        return
    kind = table.kinds[key]
    dialect = registry.dialect
    if (kind == V.NUM and types <= NUM_TYPES) or (kind == INT and types == INT_TYPES):
        present = [v for v in column if v is not None] if has_none else column
        total = sum(present)
        low, high = min(present), max(present)
        if kind == INT:
            fits = _INT64[0] <= low and high <= _INT64[1]
        elif int in types and not dialect.ints_stay_ints:  # a double column: ints become floats, if exactly
            fits = all(-_EXACT_IN_DOUBLE < v < _EXACT_IN_DOUBLE for v in present if type(v) is int)
            if fits and total == total:
                for i, row in enumerate(rows):
                    if type(row[j]) is int:
                        if type(row) is tuple:
                            rows[i] = row = list(row)
                        row[j] = float(row[j])
        else:
            fits = True
        if fits and total == total:  # no NaN (nor inf - inf): the fast path holds
            last = len(rows) - 1
            while column[last] is None:
                last -= 1
            merge_stat(stats, series, key, [column[last], rows[last][2], float(low), float(high), len(present),
                                            rows[last][1]])
            return
    elif kind == V.STR and types == STR_TYPES:
        last = len(rows) - 1
        while column[last] is None:
            last -= 1
        merge_stat(stats, series, key, [column[last], rows[last][2], None, None,
                                        len(column) - column.count(None), rows[last][1]])
        return
    for i, row in enumerate(rows):  # the careful path, a value at a time
        value = column[i]
        if value is None:
            continue
        if type(row) is tuple:
            rows[i] = row = list(row)
        if V.needs_materialize(value):  # a tensor or array: converted here, in the writer thread
            value = V.materialize(value)
        value_kind = dialect.kind_of(value)
        if kind is None:
            kind = registry.set_kind(conn, table, key, value_kind)
        stored = dialect.to_column(value, value_kind, kind)
        if stored is not NO_FIT:
            row[j] = stored
        else:  # NaN, a huge int, or another kind than the column's: kept exactly in the extra column
            row[j] = None
            if row[-1] is None:
                row[-1] = {}
            row[-1][key] = value
        stat(stats, series, key, value, row[2], row[1])


def stat(
    stats: dict[tuple[str, str, str], list[Any]], series: tuple[str, str], key: str, value: Any, step: int, seq: int
) -> None:
    """Fold one value into the batch's summary of (run, label, key): [last, step, min, max, count, seq]."""
    numeric = type(value) in NUM_TYPES or type(value) is bool
    low = high = float(value) if numeric and value == value else None
    merge_stat(stats, series, key, [value, step, low, high, 1, seq])


def merge_stat(
    stats: dict[tuple[str, str, str], list[Any]], series: tuple[str, str], key: str, new: list[Any]
) -> None:
    """Fold a partial summary ``[last, step, min, max, count, seq]`` into the batch's summary of
    (run, label, key)."""
    old = stats.get((*series, key))
    if old is None:
        stats[(*series, key)] = new
        return
    if new[5] >= old[5]:
        old[0], old[1], old[5] = new[0], new[1], new[5]
    for i, pick in ((2, min), (3, max)):
        if new[i] is not None:
            old[i] = new[i] if old[i] is None else pick(old[i], new[i])
    old[4] += new[4]


def label_of(conn: Any, registry: RecordTables, scope_id: int) -> str:
    """The label of a scope made in an earlier batch (or by another process), read once and cached.

    A scope the store does not hold (it was deleted) or stored before labels were kept gets its label
    rebuilt from the fields of its chain; the run's root scope has the empty label.
    """
    sql = registry.dialect.sql
    found = conn.execute(sql("SELECT parent_id, fields, label FROM scopes WHERE id = ?"), (scope_id,)).fetchone()
    if found is None or found[0] is None:
        label = ""
    elif found[2] is not None:
        label = found[2]
    else:
        parent = registry.labels.get(found[0])
        label = scope_label(parent if parent is not None else label_of(conn, registry, found[0]), V.loads(found[1]))
    registry.labels[scope_id] = label
    return label
