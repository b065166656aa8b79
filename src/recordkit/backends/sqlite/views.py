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
    ``scope_id, seq``.
``scopes``
    ``scope_id, run_id, parent_id, fields`` (the scope's own fields as JSON text).

``events``, ``files``, ``links``
    the store's tables of the same names, as they are, when the store has them.

The views are listed in :data:`VIEWS`: a new one is one entry there.

Then ``guard.guard`` (``PRAGMA query_only``, an authorizer that allows only reading and a list of
functions, a length limit) makes sure nothing can write, attach, change settings or allocate without
bound, and ``guard.limit_time`` stops a query past the ``sql_timeout`` setting; parameters are bound by
SQLite. Errors are mapped by ``errors.translate`` like every other sqlite3 error.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from recordkit import _values as V
from recordkit.backends.base import RUN_FIELDS, ScopeRow, merged_scope_fields
from recordkit.backends.sqlite.errors import translate
from recordkit.backends.sqlite.guard import guard, limit_time

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


# Config columns the records view holds at most, less the record keys and scope fields it has.
_MAX_CONFIG_COLUMNS = 1500
# Record tables per compound SELECT in the records view (SQLite's limit is 500 terms).
_ARMS_PER_SELECT = 400


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _extra_value(extra: str | None, key: str) -> Any:
    """A value kept in a record's ``extra`` column, as SQL sees it (NaN reads as NULL, as in aggregates)."""
    return None if extra is None else _sql_value(V.loads(extra).get(key))


def _records_view(conn: sqlite3.Connection) -> None:
    """``records``: a UNION ALL of the record tables, each joined to the scope fields and the run."""
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
    scope_keys = list(dict.fromkeys(k for fields in merged.values() for k in fields))
    configs = {
        run_id: flatten_config(V.loads(text), "config.")
        for run_id, text in conn.execute("SELECT id, config FROM main.runs")
    }
    config_keys = list(dict.fromkeys(k for flat in configs.values() for k in flat))
    # SQLite allows 2000 columns a table or SELECT: the record keys and scope fields come first.
    config_keys = config_keys[: max(0, _MAX_CONFIG_COLUMNS - len(keys) - len(scope_keys))]
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
            own = f"coalesce(t.{cols[key]}, {extra})" if key in cols else "NULL"
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


def flatten_config(config: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``{"opt": {"lr": 1}}`` → ``{"config.opt.lr": 1}``, as ``runs.meta.flatten_config`` (which is
    above this layer) names the columns of Records and Parquet."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            flat.update(flatten_config(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _sql_value(value: Any) -> Any:
    """A JSON-able value as an SQL column would hold it (NaN reads as NULL, as in aggregates)."""
    if value is None or type(value) in (int, str):
        return value
    if type(value) is float:
        return None if value != value else value
    if type(value) is bool:
        return int(value)
    return V.to_column(value, V.kind_of(value))  # type: ignore[arg-type]


def _table_view(name: str, table: str) -> Callable[[sqlite3.Connection], None]:
    """A view that shows a store table as it is, when the store has it (older stores may not)."""

    def build(conn: sqlite3.Connection) -> None:
        if conn.execute("SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone():
            conn.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM main.{table}")

    return build


#: The views ``store.sql`` offers, built in this order on every query's connection.
VIEWS: dict[str, Callable[[sqlite3.Connection], object]] = {
    "runs": lambda conn: conn.execute(_RUNS_VIEW),
    "scopes": lambda conn: conn.execute(_SCOPES_VIEW),
    "records": _records_view,
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
            for build in VIEWS.values():
                build(conn)
            guard(conn)
            cursor = conn.execute(query, params)
            columns = [d[0] for d in cursor.description or ()]
            rows = cursor.fetchall()
    finally:
        conn.close()
    return columns, rows
