"""The answer of ``store.sql()``: column names and rows. The SQL views themselves belong to the
engine (``backends/sqlite/views.py``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from recordkit._exceptions import QueryError


@dataclasses.dataclass
class SQLResult:
    """The answer of ``store.sql``: column names and rows (tuples).

    Examples
    --------
    >>> result = store.sql("select run_name, avg(loss) from records group by run_id")   # doctest: +SKIP
    >>> result.columns, result.rows                                                    # doctest: +SKIP
    >>> store.sql("select count(*) from records").scalar()                             # doctest: +SKIP
    """

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return self.rows[index]

    def scalar(self) -> Any:
        """The single value of a one-row, one-column answer."""
        if len(self.rows) != 1 or len(self.columns) != 1:
            raise QueryError(
                f"scalar() needs exactly one row and one column; the answer has {len(self.rows)} row(s) "
                f"and columns {self.columns!r}"
            )
        return self.rows[0][0]

    def to_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_columns(self) -> dict[str, list[Any]]:
        return {name: [row[i] for row in self.rows] for i, name in enumerate(self.columns)}

    def to_pandas(self) -> Any:
        """A pandas DataFrame (``pip install 'recordkit[analytics]'``)."""
        from recordkit._deps import require

        return require("pandas").DataFrame.from_records(self.rows, columns=self.columns)

    def to_polars(self) -> Any:
        """A polars DataFrame (``pip install 'recordkit[analytics]'``)."""
        from recordkit._deps import require

        return require("polars").DataFrame(self.to_columns(), strict=False, infer_schema_length=None)
