"""One key of one run, read narrow: the points of a series, per scope, without building a record per row.

A chart of a million points (the web page's compare view) needs ``(seq, step, time, value)`` of one key,
not whole records: one SELECT per records table and scope reads only that column, plus the rows whose
value sits in the ``extra`` overflow (NaN, a value of another kind than the column's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from recordkit import _values as V

if TYPE_CHECKING:
    from recordkit.backends.core import SQLBackend

Point = tuple[int, int, float, Any]
# Column kinds whose values come back from either engine as they were logged.
_PLAIN = {V.NUM, V.STR, "int", None}


def read_series(
    backend: SQLBackend, run_id: str, key: str, after_seq: int, superseded: Sequence[tuple[str, int, int]]
) -> dict[int, list[Point]]:
    """See :meth:`recordkit.backends.base.Backend.series`."""
    dialect = backend.dialect
    cut = "".join(" AND NOT (step > ? AND seq < ?)" for run, _, _ in superseded if run == run_id)
    cut_params = [n for run, after, before in superseded if run == run_id for n in (after, before)]
    has_extra, extra_params = dialect.extra_has(key)
    out: dict[int, list[Point]] = {}
    with backend._errors(f"reading the series {key!r} of run {run_id!r}"):
        conn = backend._conn()
        scope_ids = [r[0] for r in conn.execute(dialect.sql("SELECT id FROM scopes WHERE run_id = ? ORDER BY id"),
                                                (run_id,))]
        for table in backend._tables_for_read():
            col, kind = table.cols.get(key), table.kinds.get(key)
            for scope_id in scope_ids:
                head = f"SELECT seq, step, time, {{}} FROM {table.name} WHERE scope_id = ? AND seq > ?{cut} AND "
                params = [scope_id, after_seq, *cut_params]
                rows: list[Point] = []
                if col is not None:
                    rows = conn.execute(dialect.sql(head.format(col) + f"{col} IS NOT NULL ORDER BY seq"),
                                        params).fetchall()
                    if kind not in _PLAIN:
                        rows = [(q, s, t, V.from_column(v, kind)) for q, s, t, v in rows]  # type: ignore[arg-type]
                spilled = conn.execute(
                    dialect.sql(head.format("extra") + (f"{col} IS NULL AND " if col else "")
                                + has_extra + " ORDER BY seq"),
                    [*params, *extra_params],
                ).fetchall()
                if spilled:
                    rows = sorted([*rows, *((q, s, t, V.loads(e)[key]) for q, s, t, e in spilled)])
                if rows:
                    have = out.get(scope_id)
                    out[scope_id] = rows if have is None else sorted([*have, *rows])
    return out
