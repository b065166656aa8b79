"""The flat Records view: every record merged with its scopes' and run's fields, filterable.

A ``Records`` object is a lazy query: ``where`` returns a narrower one, iteration and ``len`` run it.
Equality filters on record keys, scope fields, run fields and ``step`` are handed to the backend as a
``RecordQuery`` (run in SQL); callables run in Python on the merged records. Every record yielded is
checked against the equality filters once more, so the result is exact whatever the engine did.

Every record also carries its run's config, as ``config.<dotted key>`` columns after the run fields
(``config.lr``, ``config.opt.name``), so a sweep reads as one table. A filter on a key that no record,
scope, run field or config of the selected runs has is a :class:`QueryError` naming similar keys: a
typo never reads as "nothing matched".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from recordkit import _values as V
from recordkit._deps import require
from recordkit._exceptions import QueryError
from recordkit.backends.base import RUN_FIELDS as RUN_FIELDS  # where read modules have always found it
from recordkit.backends.base import RawRecord, RecordQuery, RunRow, merged_scope_fields
from recordkit.read.where import parse_where
from recordkit.runs.events import RESUMED
from recordkit.runs.meta import run_fields

if TYPE_CHECKING:
    from recordkit._store import Store
    from recordkit.backends.base import Backend

_PUSHABLE_KINDS = (V.NUM, V.BOOL, V.STR)


class Record(Mapping[str, Any]):
    """One flat record: own values, then scope fields (nearest wins), then run fields, step, time.

    A missing key reads as None; ``in`` is True only for keys the record has.
    """

    __slots__ = ("_run", "_scope", "_values", "scope_id", "step", "time")

    def __init__(self, raw: RawRecord, scope: Mapping[str, Any], run: Mapping[str, Any]) -> None:
        self._values = raw.values
        self._scope = scope
        self._run = run
        self.scope_id = raw.scope_id
        self.step = raw.step
        self.time = raw.time

    def __getitem__(self, key: str) -> Any:
        values = self._values
        if key in values:
            return values[key]
        if key in self._scope:
            return self._scope[key]
        if key == "step":
            return self.step
        if key == "time":
            return self.time
        return self._run.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._values or key in self._scope or key in self._run or key in ("step", "time")

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for key in itertools.chain(self._values, self._scope, ("step", "time"), self._run):
            if key not in seen:
                seen.add(key)
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def own(self, key: str) -> Any:
        """The record's own value for ``key`` (not a scope's or the run's), or None."""
        return self._values.get(key)

    def to_dict(self) -> dict[str, Any]:
        return {key: self[key] for key in self}

    def __repr__(self) -> str:
        return f"Record({self.to_dict()!r})"


Predicate = Callable[[Record], bool]


class Records:
    """A lazy, filterable view of flat records. Get one from ``collection.records`` or ``run.records``."""

    def __init__(
        self,
        store: Store,
        *,
        collection: str | None = None,
        run_ids: Sequence[str] | None = None,
        equals: Mapping[str, Any] | None = None,
        predicates: Sequence[Predicate] = (),
        having: Sequence[str] = (),
        with_config: bool = True,
        with_superseded: bool = False,
    ) -> None:
        self._store = store
        self._with_config = with_config
        self._with_superseded = with_superseded
        self._collection = collection
        self._run_ids = list(run_ids) if run_ids is not None else None
        self._equals: dict[str, Any] = dict(equals or {})
        self._predicates = list(predicates)
        self._having = list(having)

    def where(self, *predicates: Predicate | str, **equals: Any) -> Records:
        """Records matching every condition.

        Keyword arguments compare a key (record value, scope field, run field, ``config.<key>`` or
        ``step``) for equality, or pass its value to a callable. Positional callables receive the whole
        record; positional texts are filters as ``--where`` writes them (``"loss<0.5"``,
        ``"phase=eval"``, ``"config.lr<=0.01"``: see ``read/where.py``).

        Examples
        --------
        >>> col.records.where(training=True, model="model1")            # doctest: +SKIP
        >>> col.records.where(loss=lambda v: v is not None and v < 0.5)  # doctest: +SKIP
        >>> col.records.where("loss<0.5", "config.lr<=0.01")             # doctest: +SKIP
        >>> col.records.where(lambda r: r["index"] < 500)                # doctest: +SKIP
        """
        texts = [p for p in predicates if isinstance(p, str)]
        if texts:
            parsed = parse_where(texts)
            for key in parsed:
                if key in equals:
                    raise QueryError(f"{key!r} is filtered twice; combine the conditions in one callable")
            equals = {**parsed, **equals}
        callables: list[Predicate] = []
        for predicate in predicates:
            if isinstance(predicate, str):
                continue
            callables.append(predicate)
            if not callable(predicate):
                raise QueryError(
                    f"where() takes callables or filter texts positionally and key=value filters by name; "
                    f"got {predicate!r}"
                )
        for key in equals:
            if key in self._equals:
                raise QueryError(f"{key!r} is filtered twice; combine the conditions in one callable")
        return Records(
            self._store,
            collection=self._collection,
            run_ids=self._run_ids,
            equals={**self._equals, **equals},
            predicates=[*self._predicates, *callables],
            having=self._having,
            with_config=self._with_config,
            with_superseded=self._with_superseded,
        )

    def with_config(self) -> Records:
        """The same records with the run's config values as ``config.<key>`` columns (dotted for nesting).

        Records carry them by default; this stays for code written when they did not.
        """
        widened = self.where()
        widened._with_config = True
        return widened

    def with_superseded(self) -> Records:
        """Also the records a resumed run superseded (``resume_run(..., after_checkpoint="supersede")``)."""
        widened = self.where()
        widened._with_superseded = True
        return widened

    def having(self, *keys: str) -> Records:
        """Only records that logged a value for every one of ``keys`` themselves."""
        narrowed = self.where()
        narrowed._having = [*self._having, *keys]
        return narrowed

    # --- planning ----------------------------------------------------------------------------
    def _runs(self) -> list[RunRow]:
        if self._run_ids is not None:
            rows = [self._store._find_row(run_id) for run_id in self._run_ids]
        else:
            rows = self._store._rows(self._collection)
        run_filters = {k: v for k, v in self._equals.items() if k in RUN_FIELDS or k.startswith("config.")}
        if rows and any(k.startswith("config.") for k in run_filters):  # before the runs are narrowed
            _check_keys({k: v for k, v in run_filters.items() if k.startswith("config.")}, [], {}, rows)
        if run_filters:
            rows = [row for row in rows if _matches(self._run_fields(row, True), run_filters)]
        return rows

    def _run_fields(self, row: RunRow, config: bool) -> dict[str, Any]:
        fields = run_fields(row)
        if config:
            fields.update(V.flatten_config(row.config, "config."))
        return fields

    def _plan(self) -> _Plan:
        """What one read needs, asked of the store once: the runs, the query, the scope fields, and
        whether the SQL alone decides the result (``exact``)."""
        rows = self._runs()
        run_ids = [row.id for row in rows]
        scopes = merged_scope_fields(self._store.backend.scopes(run_ids)) if run_ids else {}
        exact = not self._predicates
        pushed: list[tuple[str, Any, frozenset[int]]] = []
        only_scopes: frozenset[int] | None = None
        record_keys: list[str] | None = None
        known: set[str] = set()
        if self._equals and rows:
            record_keys = list(self._store.backend.keys(run_ids))
            known = set(record_keys)
            _check_keys(self._equals, record_keys, scopes, rows)
        low: int | None = None
        high: int | None = None
        for key, value in self._equals.items():
            if key in RUN_FIELDS or key.startswith("config."):
                continue
            if key == "step" and type(value) is int:
                low = high = value
                continue
            if callable(value) or key == "time" or V.kind_of(value) not in _PUSHABLE_KINDS:
                exact = False
                continue
            fallback = frozenset(sid for sid, fields in scopes.items() if key in fields and fields[key] == value)
            if record_keys is None:
                record_keys = list(self._store.backend.keys(run_ids)) if run_ids else []
                known = set(record_keys)
            if key not in known:
                # Only scopes carry this key: the scope ids alone decide, which the engine answers
                # from the (scope_id, seq) clustering instead of testing every row.
                only_scopes = fallback if only_scopes is None else only_scopes & fallback
                continue
            pushed.append((key, value, fallback))

        query = RecordQuery(
            run_ids=run_ids,
            scope_ids=only_scopes,
            equals=pushed,
            steps=(low, high),
            keys=frozenset(self._having) if self._having else None,
            superseded=() if self._with_superseded else superseded_ranges(self._store.backend, run_ids),
        )
        if self._having:
            exact = False  # having() needs every key, the engine checks only for any
        plan = _Plan(rows, query, scopes, exact, record_keys)
        plan._backend = self._store.backend
        return plan

    # --- running -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Record]:
        return self._records(self._plan())

    def _records(self, plan: _Plan, having: Sequence[str] = ()) -> Iterator[Record]:
        """The records of a plan, checked exactly (``having`` adds keys that must be the record's own)."""
        rows, query, scopes = plan.rows, plan.query, plan.scopes
        fields = {row.id: self._run_fields(row, self._with_config) for row in rows}
        # Run-level filters (run fields, config values) were applied to the runs already.
        equals = {k: v for k, v in self._equals.items() if k not in RUN_FIELDS and not k.startswith("config.")}
        predicates = self._predicates
        having = [*self._having, *having]
        empty: dict[str, Any] = {}
        for run_id, raw in self._store.backend.iter_records(query):
            record = Record(raw, scopes.get(raw.scope_id, empty), fields[run_id])
            if equals and not _matches(record, equals):
                continue
            if having and not all(key in raw.values for key in having):
                continue
            if predicates and not all(p(record) for p in predicates):
                continue
            yield record

    def __len__(self) -> int:
        return self._count(self._plan())

    def _count(self, plan: _Plan) -> int:
        if not plan.rows:
            return 0
        if plan.exact:
            return self._store.backend.count_records(plan.query)
        return sum(1 for _ in self._records(plan))

    def __bool__(self) -> bool:
        return next(iter(self), None) is not None

    def __getitem__(self, index: int) -> Record:
        """The index-th record (negative indexes count from the end)."""
        if not isinstance(index, int):
            raise TypeError(f"records are indexed by position (int), not {index!r}; use where() to filter")
        plan = self._plan()
        if index < 0:
            index += self._count(plan)
        found = next(itertools.islice(self._records(plan), index, None), None) if index >= 0 else None
        if found is None:
            raise IndexError(f"record index {index} is out of range")
        return found

    def first(self) -> Record | None:
        return next(iter(self), None)

    # --- aggregates (in the engine) ----------------------------------------------------------
    def _aggregate(self, key: str, function: str) -> Any:
        plan = self._plan()
        if not plan.rows:
            return 0 if function == "count" else None
        if plan.exact:
            return self._store.backend.aggregate(plan.query, key, function)
        values = [
            float(v) for r in self._records(plan, (key,)) if isinstance(v := r.own(key), (int, float)) and v == v
        ]
        if function == "count":
            return len(values)
        if not values:
            return 0.0 if function == "sum" else None
        if function == "avg":
            return sum(values) / len(values)
        if function == "sum":
            return sum(values)
        return min(values) if function == "min" else max(values)

    def mean(self, key: str) -> float | None:
        """Average of a key's own numeric values (NaN skipped), computed by the engine."""
        return self._aggregate(key, "avg")  # type: ignore[no-any-return]

    def sum(self, key: str) -> float:
        return self._aggregate(key, "sum")  # type: ignore[no-any-return]

    def min(self, key: str) -> float | None:
        return self._aggregate(key, "min")  # type: ignore[no-any-return]

    def max(self, key: str) -> float | None:
        return self._aggregate(key, "max")  # type: ignore[no-any-return]

    def count(self, key: str) -> int:
        """How many records have a numeric value for ``key``."""
        return self._aggregate(key, "count")  # type: ignore[no-any-return]

    # --- conversion --------------------------------------------------------------------------
    def columns(self) -> list[str]:
        """Column order of the table forms: step, time, record keys, scope fields, run fields."""
        return self._columns(self._plan())

    def _columns(self, plan: _Plan) -> list[str]:
        rows, scopes = plan.rows, plan.scopes
        keys = plan.keys() if rows else []
        scope_keys: dict[str, None] = {}
        for fields in scopes.values():
            scope_keys.update(dict.fromkeys(fields))
        config_keys: dict[str, None] = {}
        if self._with_config:
            for row in rows:
                config_keys.update(dict.fromkeys(V.flatten_config(row.config, "config.")))
        ordered = dict.fromkeys(["step", "time", *keys, *scope_keys, *RUN_FIELDS, *config_keys])
        return list(ordered)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [record.to_dict() for record in self]

    def to_columns(self) -> dict[str, list[Any]]:
        """A dict of equal-length lists, one per column (missing values are None)."""
        plan = self._plan()
        names = self._columns(plan)
        data: dict[str, list[Any]] = {name: [] for name in names}
        appenders = [(name, data[name].append) for name in names]
        for record in self._records(plan):
            for name, append in appenders:
                append(record[name])
        return data

    def to_pandas(self) -> Any:
        """A pandas DataFrame (``pip install 'recordkit[analytics]'``)."""
        pandas = require("pandas")
        return pandas.DataFrame(self.to_columns())

    def to_polars(self) -> Any:
        """A polars DataFrame (``pip install 'recordkit[analytics]'``)."""
        polars = require("polars")
        return polars.DataFrame(self.to_columns(), strict=False, infer_schema_length=None)

    def to_arrow(self) -> Any:
        """A pyarrow Table (``pip install 'recordkit[analytics]'``)."""
        pyarrow = require("pyarrow")
        columns = self.to_columns()
        return pyarrow.table({name: _arrow_column(pyarrow, values) for name, values in columns.items()})

    def __repr__(self) -> str:
        scope = f"collection {self._collection!r}" if self._collection else f"runs {self._run_ids!r}"
        return f"<Records of {scope} where {self._equals!r}>"


def _check_keys(
    equals: Mapping[str, Any],
    record_keys: Sequence[str],
    scopes: Mapping[int, Mapping[str, Any]],
    rows: Sequence[RunRow],
) -> None:
    """Raise QueryError for a filter key that nothing of these runs has (a likely typo)."""
    unknown = [key for key in equals if key not in RUN_FIELDS and key not in ("step", "time")]
    if not unknown:
        return
    known = dict.fromkeys(record_keys)
    for fields in scopes.values():
        known.update(dict.fromkeys(fields))
    for row in rows:
        known.update(dict.fromkeys(V.flatten_config(row.config, "config.")))
    for key in unknown:
        if key not in known:
            import difflib

            names = [*known, "step", "time", *RUN_FIELDS]
            similar = difflib.get_close_matches(key, names, n=5, cutoff=0.6)
            hint = f"similar: {', '.join(similar)}" if similar else (
                f"known: {', '.join(names[:12])}{'…' if len(names) > 12 else ''}")
            raise QueryError(f"no record, scope, run or config key {key!r} in the selected runs; {hint}")


def _matches(record: Mapping[str, Any], equals: Mapping[str, Any]) -> bool:
    for key, expected in equals.items():
        actual = record[key] if isinstance(record, Record) else record.get(key)
        if callable(expected):
            if not expected(actual):
                return False
        elif actual != expected:
            return False
    return True


def _arrow_column(pyarrow: Any, values: list[Any]) -> Any:
    try:
        return pyarrow.array(values)
    except (pyarrow.ArrowInvalid, pyarrow.ArrowTypeError):
        # Mixed kinds in one column (a number here, a string there): keep them exactly as text.
        return pyarrow.array([None if v is None else V.dumps(v) for v in values])


def superseded_ranges(backend: Backend, run_ids: list[str]) -> list[tuple[str, int, int]]:
    """(run_id, after_step, before_seq) for every resume that superseded records (see RecordQuery)."""
    if not run_ids:
        return []
    ranges = []
    for event in backend.events(run_ids, RESUMED):
        data = event.data
        if event.name == RESUMED and "superseded_after_step" in data:
            ranges.append((event.run_id, int(data["superseded_after_step"]), int(data["superseded_before_seq"])))
    return ranges


class _Plan:
    """One read's answers from the store (see ``Records._plan``), so a read asks for them only once."""

    __slots__ = ("_backend", "_keys", "exact", "query", "rows", "scopes")

    def __init__(
        self,
        rows: list[RunRow],
        query: RecordQuery,
        scopes: dict[int, dict[str, Any]],
        exact: bool,
        keys: list[str] | None,
    ) -> None:
        self.rows = rows
        self.query = query
        self.scopes = scopes
        self.exact = exact
        self._keys = keys
        self._backend: Backend | None = None

    def keys(self) -> list[str]:
        """Every record key of the plan's runs, in first-seen order (asked of the backend at most once)."""
        if self._keys is None:
            assert self._backend is not None
            self._keys = list(self._backend.keys(self.query.run_ids))
        return self._keys


class Series:
    """One key's values as logged in one scope label of a run: what ``run.series(key)`` returns.

    ``seqs``, ``steps``, ``times`` and ``values`` are equal-length lists in log order. Series identity
    is key plus scope label (``backends/labels.py``): scopes with the same label (a new
    ``scope(epoch=e, phase="train")`` each epoch) make one series, listed in ``scope_ids``. ``label``
    names it: ``"loss"``, ``"phase=eval/loss"``, ``"model=m1/phase=eval/loss"``, as ``run.summary()``,
    ``recordkit ls``, plots and the web page do. ``scope`` holds the fields all its scopes share (merged
    with their ancestors', less the run's own fields), which ``run.history(key, **filters)`` matches.
    """

    __slots__ = ("key", "prefix", "scope", "scope_ids", "seqs", "steps", "times", "values")

    def __init__(
        self,
        key: str,
        scope_ids: tuple[int, ...],
        scope: Mapping[str, Any],
        rows: Sequence[tuple[int, int, float, Any]],
        prefix: str = "",
    ) -> None:
        self.key = key
        self.scope_ids = scope_ids
        self.scope = dict(scope)
        self.prefix = prefix
        # One comprehension per column: four times faster than zip(*rows) on a million rows.
        self.seqs: list[int] = [r[0] for r in rows]
        self.steps: list[int] = [r[1] for r in rows]
        self.times: list[float] = [r[2] for r in rows]
        self.values: list[Any] = [r[3] for r in rows]

    @property
    def label(self) -> str:
        return f"{self.prefix}/{self.key}" if self.prefix else self.key

    def __len__(self) -> int:
        return len(self.seqs)

    def __repr__(self) -> str:
        return f"<Series {self.label!r} of {len(self)} points>"
