"""Read-only SQL over documented views of a folder store (``store.sql``).

Each query gets its own read-only connection (``mode=ro``) on which the views are built as TEMP
objects, which SQLite resolves before the tables of the same name:

``runs``
    one row per run: ``run_id, collection, experiment_number, error_number, run_name, status, had_error,
    experiment_start_time, experiment_end_time, experiment_duration, tags, parent_id, step, epoch,
    config, host, pid, folder, notes`` (``tags`` and ``config`` are JSON text; ``json_extract(config, '$.lr')``).
``records``
    every record flat: ``step, time``, one column per record key, one per scope field (a record's own
    value wins over its scope's), the run fields of :data:`recordkit.backends.base.RUN_FIELDS`, one
    ``config.<dotted key>`` column per config value of any run (quote it: ``"config.lr"``), then
    ``scope_id, seq``. SQLite allows 2,000 columns: past :data:`MAX_VIEW_COLUMNS`, the view holds the
    columns the query names, then as many keys, fields and config values as fit, in that order.
``record_values``
    every logged value in long form, one row per record and key: ``run_id, scope_id, seq, step, time,
    key, value``; it holds every key of any store, however many.
``scopes``
    ``scope_id, run_id, parent_id, fields`` (the scope's own fields as JSON text).

``events``, ``files``, ``links``
    the store's tables of the same names, as they are, when the store has them.

The views are listed in :data:`VIEWS`: a new one is one entry there. Only the views a query names are
built (and ``runs``, which ``records`` reads).

Then ``guard.guard`` (``PRAGMA query_only``, an authorizer that allows only reading and a list of
functions, a length limit) makes sure nothing can write, attach, change settings or allocate without
bound, and ``guard.limit_time`` stops a query past the ``sql_timeout`` setting; parameters are bound by
SQLite. Errors are mapped by ``errors.translate`` like every other sqlite3 error.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from recordkit import _values as V
from recordkit.backends.base import RUN_FIELDS, ScopeRow, merged_scope_fields
from recordkit.backends.sqlite.errors import translate
from recordkit.backends.sqlite.guard import guard, limit_time
from recordkit.backends.tables import MAX_COLUMNS, MAX_TABLES

_RUNS_VIEW = """
CREATE TEMP VIEW runs AS SELECT
    r.id AS run_id, c.name AS collection, r.number AS experiment_number, r.error_number AS error_number,
    r.name AS run_name, r.status AS status, r.status IN ('failed', 'interrupted', 'crashed') AS had_error,
    r.start_time AS experiment_start_time, r.end_time AS experiment_end_time,
    r.end_time - r.start_time AS experiment_duration, r.tags AS tags, r.parent_id AS parent_id,
    r.step AS step, r.epoch AS epoch, r.config AS config, r.host AS host, r.pid AS pid, r.folder AS folder,
    r.notes AS notes
FROM main.runs r JOIN main.collections c ON c.id = r.collection_id
"""
_SCOPES_VIEW = """
CREATE TEMP VIEW scopes AS SELECT id AS scope_id, run_id, parent_id, fields FROM main.scopes
"""


#: The most columns the records view has (SQLite's limit is 2,000 for a table or a SELECT).
MAX_VIEW_COLUMNS = 1800
# Record tables (or columns, in record_values) per compound SELECT (SQLite's limit is 500 terms).
_ARMS_PER_SELECT = 400
# Columns of a shared table read in one pass by record_values (json_array takes at most 127 arguments).
_COLUMNS_PER_CHUNK = 100
# Identifiers of a query: "quoted", [bracketed], `backticked` or bare; text in '...' is skipped.
_TOKEN = re.compile(r"'(?:[^']|'')*'|\"((?:[^\"]|\"\")*)\"|\[([^\]]*)\]|`((?:[^`]|``)*)`|([A-Za-z_][\w$]*)")


def query_names(query: str) -> frozenset[str]:
    """The identifiers ``query`` mentions, lower-cased (SQLite compares names without case)."""
    names = set()
    for match in _TOKEN.finditer(query):
        quoted, bracketed, ticked, bare = match.groups()
        if quoted is not None:
            names.add(quoted.replace('""', '"').lower())
        elif bracketed is not None:
            names.add(bracketed.lower())
        elif ticked is not None:
            names.add(ticked.replace("``", "`").lower())
        elif bare is not None:
            names.add(bare.lower())
    return frozenset(names)


def _quote(name: str) -> str:
    # SQL text cannot hold NUL: a key stored before NUL was refused (issue 13) shows as "\x00" in its name.
    return '"' + name.replace('"', '""').replace("\x00", "\\x00") + '"'


def _literal(text: str) -> str:
    if "\x00" in text:  # spelled with char(0), so the view's SQL holds no NUL and the key matches exactly
        return "(" + " || char(0) || ".join(_literal(part) for part in text.split("\x00")) + ")"
    return "'" + text.replace("'", "''") + "'"


def _extra_value(extra: str | None, key: str) -> Any:
    """A value kept in a record's ``extra`` column, as SQL sees it (NaN reads as NULL, as in aggregates)."""
    return None if extra is None else _sql_value(V.loads(extra).get(key))


def _records_view(conn: sqlite3.Connection, wanted: frozenset[str]) -> None:
    """``records``: a UNION ALL of the record tables, each joined to the scope fields and the run.

    Past :data:`MAX_VIEW_COLUMNS`, the columns named in ``wanted`` come first (see the module docstring).
    """
    tables: dict[str, dict[str, str]] = {}
    for table, key, col in conn.execute(
        "SELECT table_name, key, col FROM main.record_columns"
        " ORDER BY CAST(substr(table_name, 9) AS INT), CAST(substr(col, 2) AS INT)"
    ):
        tables.setdefault(table, {})[key] = col
    for (table,) in conn.execute("SELECT name FROM main.record_tables ORDER BY CAST(substr(name, 9) AS INT)"):
        tables.setdefault(table, {})
    scope_rows = {
        r[0]: ScopeRow(r[0], r[1], r[2], V.loads(r[3]))
        for r in conn.execute("SELECT id, run_id, parent_id, fields FROM main.scopes")
    }
    merged = merged_scope_fields(scope_rows)
    keys = list(dict.fromkeys(key for cols in tables.values() for key in cols))
    if any(len(cols) >= MAX_COLUMNS for cols in tables.values()):  # keys past a table's columns sit in extra
        known = set(keys)
        keys += [k for (k,) in conn.execute("SELECT DISTINCT key FROM main.summary") if k not in known]
    scope_keys = list(dict.fromkeys(k for fields in merged.values() for k in fields))
    configs = {
        run_id: V.flatten_config(V.loads(text), "config.")
        for run_id, text in conn.execute("SELECT id, config FROM main.runs")
    }
    config_keys = list(dict.fromkeys(k for flat in configs.values() for k in flat))
    # SQLite column names ignore case: the second of `Loss` and `loss` reads as `loss_2`.
    names: dict[tuple[str, str], str] = {}
    taken: set[str] = {n.lower() for n in ("step", "time", *RUN_FIELDS)}
    origins = [("key", k) for k in keys] + [("scope", k) for k in scope_keys if k not in keys]
    for origin, key in origins + [("config", k) for k in config_keys]:
        name, n = key, 1
        while name.lower() in taken:
            n += 1
            name = f"{key}_{n}"
        taken.add(name.lower())
        names[(origin, key)] = name
    room = MAX_VIEW_COLUMNS - 4 - len(RUN_FIELDS)
    if len(names) > room:  # too many for one view: those the query names, then the first that fit
        chosen = {column: name for column, name in names.items() if name.lower() in wanted}
        for column, name in names.items():
            if len(chosen) >= room:
                break
            chosen.setdefault(column, name)
        names = {column: name for column, name in names.items() if column in chosen}
        keys = [k for k in keys if ("key", k) in names]
        scope_keys = [k for k in scope_keys if ("scope", k) in names or ("key", k) in names]
        config_keys = [k for k in config_keys if ("config", k) in names]
    internal = [n for n in ("scope_id", "seq") if n.lower() not in taken]  # a user's own column wins
    scope_cols = {key: f"s{i}" for i, key in enumerate(scope_keys)}
    # A run's config values sit on each of its scopes' rows: no join more per record.
    config_cols = {key: f"k{i}" for i, key in enumerate(config_keys)}
    conn.execute(
        "CREATE TEMP TABLE _rk_scope (scope_id INTEGER PRIMARY KEY, run_id TEXT"
        + "".join(f", {c}" for c in (*scope_cols.values(), *config_cols.values()))
        + ")"
    )
    no_config: dict[str, Any] = {}
    conn.executemany(
        f"INSERT INTO temp._rk_scope VALUES ({','.join('?' * (2 + len(scope_cols) + len(config_cols)))})",
        [
            (
                sid, scope_rows[sid].run_id, *(_sql_value(fields.get(k)) for k in scope_keys),
                *(_sql_value(configs.get(scope_rows[sid].run_id, no_config).get(k)) for k in config_keys),
            )
            for sid, fields in merged.items()
        ],
    )
    config_select = [f"s.{config_cols[key]} AS {_quote(names[('config', key)])}" for key in config_keys]
    arms = []
    for table, cols in tables.items():
        select = ["t.step AS step", "t.time AS time"]
        for key in keys:
            extra = f"CASE WHEN t.extra IS NULL THEN NULL ELSE rk_extra(t.extra, {_literal(key)}) END"
            # A key set wider than the column limit keeps its other keys in extra.
            wide = len(cols) >= MAX_COLUMNS
            own = f"coalesce(t.{cols[key]}, {extra})" if key in cols else (extra if wide else "NULL")
            if key in scope_cols:
                own = f"coalesce({own}, s.{scope_cols[key]})"
            select.append(f"{own} AS {_quote(names[('key', key)])}")
        for key in scope_keys:
            if key not in keys:
                select.append(f"s.{scope_cols[key]} AS {_quote(names[('scope', key)])}")
        select += [f"r.{field} AS {field}" for field in RUN_FIELDS]
        select += config_select
        select += [f"t.{n} AS {n}" for n in internal]
        arms.append(
            f"SELECT {', '.join(select)} FROM main.{table} t JOIN temp._rk_scope s ON s.scope_id = t.scope_id"
            " JOIN temp.runs r ON r.run_id = s.run_id"
        )
    if not arms:
        empty = ["NULL AS step", "NULL AS time", *(f"NULL AS {f}" for f in RUN_FIELDS),
                 *(f"NULL AS {_quote(names[('config', k)])}" for k in config_keys), *(f"NULL AS {f}" for f in internal)]
        arms.append(f"SELECT {', '.join(empty)} WHERE 0")
    if len(arms) > _ARMS_PER_SELECT:  # SQLite allows 500 terms in one compound SELECT: nest them
        arms = [
            "SELECT * FROM (" + " UNION ALL ".join(arms[i : i + _ARMS_PER_SELECT]) + ")"
            for i in range(0, len(arms), _ARMS_PER_SELECT)
        ]
    conn.execute("CREATE TEMP VIEW records AS " + " UNION ALL ".join(arms))


def _sql_value(value: Any) -> Any:
    """A JSON-able value as an SQL column would hold it (NaN reads as NULL, as in aggregates)."""
    if value is None or type(value) in (int, str):
        return value
    if type(value) is float:
        return None if value != value else value
    if type(value) is bool:
        return int(value)
    return V.to_column(value, V.kind_of(value))  # type: ignore[arg-type]


def _values_view(conn: sqlite3.Connection, wanted: frozenset[str]) -> None:
    """``record_values``: one arm per record column and one per table's ``extra``, in long form.

    A shared table (past ``MAX_TABLES``: many columns, few set per row) is read in chunks of columns
    instead: one pass per chunk finds a row's set columns (``json_each`` over ``json_array`` of the
    chunk), where an arm per column would read the whole table once per column (5,000 keys: 15 s).
    """
    head = "SELECT s.run_id AS run_id, t.scope_id AS scope_id, t.seq AS seq, t.step AS step, t.time AS time"
    joined = "JOIN main.scopes s ON s.id = t.scope_id"
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, key, col in conn.execute(
        "SELECT table_name, key, col FROM main.record_columns ORDER BY CAST(substr(col, 2) AS INT)"
    ):
        columns.setdefault(table, []).append((key, col))
    names = [r[0] for r in conn.execute("SELECT name FROM main.record_tables ORDER BY CAST(substr(name, 9) AS INT)")]
    arms = []
    for number, table in enumerate(names):
        cols = columns.get(table, [])
        if number >= MAX_TABLES:
            for start in range(0, len(cols), _COLUMNS_PER_CHUNK):
                arms.append(_chunk_arm(head, joined, table, cols[start : start + _COLUMNS_PER_CHUNK]))
        else:
            arms += [f"{head}, {_literal(key)} AS key, t.{col} AS value FROM main.{table} t {joined}"
                     f" WHERE t.{col} IS NOT NULL" for key, col in cols]
        arms.append(f"{head}, j.key AS key, rk_extra(t.extra, j.key) AS value FROM main.{table} t {joined},"
                    " json_each(t.extra) j WHERE t.extra IS NOT NULL")
    if not arms:
        arms.append("SELECT NULL AS run_id, NULL AS scope_id, NULL AS seq, NULL AS step, NULL AS time,"
                    " NULL AS key, NULL AS value WHERE 0")
    if len(arms) > _ARMS_PER_SELECT:
        arms = ["SELECT * FROM (" + " UNION ALL ".join(arms[i : i + _ARMS_PER_SELECT]) + ")"
                for i in range(0, len(arms), _ARMS_PER_SELECT)]
    conn.execute("CREATE TEMP VIEW record_values AS " + " UNION ALL ".join(arms))


def _chunk_arm(head: str, joined: str, table: str, cols: list[tuple[str, str]]) -> str:
    """One pass over ``table`` yielding the set values of ``cols``: their positions from ``json_each``
    (SQLite allows 127 arguments to ``json_array``), the values themselves from the columns (exact)."""
    keys = ", ".join(f"({i}, {_literal(key)})" for i, (key, _) in enumerate(cols))
    values = " ".join(f"WHEN {i} THEN t.{col}" for i, (_, col) in enumerate(cols))
    listed = ", ".join(f"t.{col}" for _, col in cols)
    return (f"{head}, m.column2 AS key, CASE j.key {values} END AS value FROM main.{table} t {joined},"
            f" json_each(json_array({listed})) j JOIN (VALUES {keys}) m ON m.column1 = j.key"
            " WHERE j.type <> 'null'")


def _table_view(name: str, table: str) -> Callable[[sqlite3.Connection, frozenset[str]], None]:
    """A view that shows a store table as it is, when the store has it (older stores may not)."""

    def build(conn: sqlite3.Connection, wanted: frozenset[str]) -> None:
        if conn.execute("SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone():
            conn.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM main.{table}")

    return build


#: The views ``store.sql`` offers, built in this order on a query's connection when the query names them.
VIEWS: dict[str, Callable[[sqlite3.Connection, frozenset[str]], object]] = {
    "runs": lambda conn, wanted: conn.execute(_RUNS_VIEW),
    "scopes": lambda conn, wanted: conn.execute(_SCOPES_VIEW),
    "records": _records_view,
    "record_values": _values_view,
    "events": _table_view("events", "events"),
    "files": _table_view("files", "files"),
    "links": _table_view("links", "links"),
}

def sqlite_query(
    path: Path, query: str, params: Sequence[Any] | Mapping[str, Any], timeout: float
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run ``query`` on a fresh read-only connection to the store's database, for at most ``timeout`` s."""
    views = ", ".join(VIEWS)
    with translate("store.sql()", query=query, views=views, timeout=timeout):
        conn = sqlite3.connect(
            Path(path).resolve().as_uri() + "?mode=ro", uri=True, timeout=60, isolation_level=None
        )
    try:
        with translate("store.sql()", query=query, views=views, timeout=timeout):
            limit_time(conn, timeout)
            conn.create_function("rk_extra", 2, _extra_value, deterministic=True)
            wanted = query_names(query)
            for name, build in VIEWS.items():
                if name == "runs" or name in wanted:
                    build(conn, wanted)
            guard(conn)
            cursor = conn.execute(query, params)
            columns = [d[0] for d in cursor.description or ()]
            rows = cursor.fetchall()
    finally:
        conn.close()
    return columns, rows
