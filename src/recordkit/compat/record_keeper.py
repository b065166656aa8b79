"""record-keeper's API over recordkit: ``import recordkit.compat.record_keeper as record_keeper_package``.

``RecordWriter(folder)`` opens ``folder`` as a recordkit store and starts a run in collection
``record_keeper`` (named after ``experiment_name``, else the folder). ``RecordKeeper.update_records``
finds the attributes that objects list in ``_record_these`` and names each group as the seed did
(``tuple_miner_BatchHardMiner``; a dict's plain values go to ``custom_group_name``). Each group is one
record per call in the scope ``group_name=<group>`` at step ``global_iteration``; scalars also go to
the user's own ``SummaryWriter`` (torch.utils.tensorboard or tensorboardX) as ``<group>/<series>``.
``save_records()`` writes the seed's files into the folder, as mirrors of what the store holds:
``<group>.csv`` and a table ``<group>`` in ``logs.db``, each with the ``~iteration~`` column.

>>> import recordkit.compat.record_keeper as record_keeper_package       # doctest: +SKIP
>>> writer = record_keeper_package.RecordWriter("logs")                   # doctest: +SKIP
>>> keeper = record_keeper_package.RecordKeeper(tb_writer, writer, ["_record_these"])  # doctest: +SKIP
>>> keeper.update_records({"tuple_miner": miner}, iteration)              # doctest: +SKIP
>>> rk.open("logs").collection("record_keeper").records.to_pandas()       # doctest: +SKIP
"""

from __future__ import annotations

import collections
import datetime
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import recordkit as rk
from recordkit.compat._common import safe_file_name, to_plain
from recordkit.compat._record_keeper_files import ITERATION, Database, table_rows, write_csv

__all__ = ["COLLECTION", "ITERATION", "UNGROUPED", "RecordKeeper", "RecordWriter"]

#: The collection every RecordWriter's run goes to.
COLLECTION = "record_keeper"
#: The group of plain values when neither ``custom_group_name`` nor the older
#: ``input_group_name_for_non_objects`` names one (the seed raised ValueError).
UNGROUPED = "ungrouped"
#: How deep nested dicts and objects are searched (cycles are cut earlier: each object once).
MAX_DEPTH = 12
# Containers the seed never names in a group (their items are the groups).
_UNNAMED_TYPES = ("ModuleDict", "ModuleList")

Groups = dict[str, dict[str, Any]]


class RecordKeeper:
    """Harvest ``_record_these`` into TensorBoard and a :class:`RecordWriter`, with the seed's group names.

    Parameters
    ----------
    tensorboard_writer
        Your own ``SummaryWriter`` (``torch.utils.tensorboard`` or ``tensorboardX``), or None.
    record_writer
        A :class:`RecordWriter` (the recordkit store, CSV and SQLite files), or None.
    attributes_to_search_for
        Names of the attributes that list what to record, e.g. ``["_record_these"]``.
    """

    def __init__(
        self,
        tensorboard_writer: Any = None,
        record_writer: RecordWriter | None = None,
        attributes_to_search_for: Sequence[str] | None = None,
    ) -> None:
        self.tensorboard_writer = tensorboard_writer
        self.record_writer = record_writer
        self.attributes_to_search_for = list(attributes_to_search_for or [])

    def update_records(
        self,
        record_these: Mapping[str, Any],
        global_iteration: int,
        custom_attr_func: Callable[[Any], Mapping[str, Any]] | None = None,
        custom_group_name: str | None = None,
        recursive_types: Sequence[type] | None = None,
        input_group_name_for_non_objects: str | None = None,
    ) -> Groups:
        """Record every value ``record_these`` holds or leads to, at ``global_iteration``; return them by group.

        Plain values (numbers, strings, tensors, arrays, lists) are recorded in ``custom_group_name``
        (or ``input_group_name_for_non_objects``, the older seed's name; else ``ungrouped``). A dict's
        plain values go to a group named by its key. An object's listed attributes go to
        ``<key>_<ClassName>``, nested objects that list attributes (or are ``recursive_types``) to
        ``<group>_<attribute>_<ClassName>``. With ``custom_group_name`` every group is prefixed by it.
        """
        if not isinstance(record_these, Mapping):
            raise TypeError(f"update_records() takes a dict of values and objects, not {type(record_these).__name__}")
        iteration = _iteration(global_iteration)
        walk = _Harvest(self.attributes_to_search_for, custom_attr_func, custom_group_name,
                        input_group_name_for_non_objects, tuple(recursive_types or ()))
        walk.items(record_these, 0)
        self._write(walk.groups, iteration)
        return walk.groups

    def append_data(self, group_name: str, series_name: str, value: Any, iteration: int) -> None:
        """Record one value of one series (the seed's low-level call)."""
        self._write({group_name: {series_name: _convert(value)}}, _iteration(iteration))

    def _write(self, groups: Groups, iteration: int) -> None:
        if self.record_writer is not None:  # first: the store checks the values before anything is written
            for group, values in groups.items():
                self.record_writer.append_group(group, values, iteration)
        if self.tensorboard_writer is not None:
            for group, values in groups.items():
                for series, value in values.items():
                    if isinstance(value, (bool, int, float)):
                        self.tensorboard_writer.add_scalar(f"{group}/{series}", float(value), iteration)

    def get_record(self, group_name: str) -> dict[str, dict[int, Any]]:
        """The values of a group not yet saved: ``{series: {iteration: value}}``."""
        return self._writer("get_record").records[group_name]

    def save_records(self) -> None:
        self._writer("save_records").save_records()

    def query(self, query: str, *args: Any, **kwargs: Any) -> Any:
        return self._writer("query").query(query, *args, **kwargs)

    def table_exists(self, table_name: str, *args: Any, **kwargs: Any) -> bool:
        return self._writer("table_exists").table_exists(table_name, *args, **kwargs)

    def _writer(self, action: str) -> RecordWriter:
        if self.record_writer is None:
            raise rk.RunError(f"{action}() needs a RecordWriter: RecordKeeper(tb_writer, RecordWriter(folder), ...)")
        return self.record_writer


class _Harvest:
    """The seed's walk over dicts and objects, collecting ``{group: {series: value}}``."""

    def __init__(
        self,
        attrs: Sequence[str],
        custom_attr_func: Callable[[Any], Mapping[str, Any]] | None,
        custom_group_name: str | None,
        plain_group: str | None,
        recursive_types: tuple[type, ...],
    ) -> None:
        self.attrs = attrs
        self.custom_attr_func = custom_attr_func
        self.prefix = custom_group_name
        self.plain_group = plain_group
        self.recursive_types = recursive_types
        self.groups: Groups = {}
        self.seen: set[int] = set()

    def add(self, group: str | None, series: str, value: Any) -> None:
        if group is None:
            group = self.prefix or self.plain_group or UNGROUPED
        elif self.prefix is not None:
            group = f"{self.prefix}_{group}"
        self.groups.setdefault(group, {})[series] = _convert(value)

    def items(self, record_these: Mapping[Any, Any], depth: int) -> None:
        for key, value in record_these.items():
            name = str(key)
            if value is None:
                continue
            if _is_plain(value):
                self.add(None, name, value)
            elif isinstance(value, Mapping):
                self.mapping(name, value, depth)
            else:
                self.object(name, value, depth)

    def mapping(self, group: str, values: Mapping[Any, Any], depth: int) -> None:
        nested = {}
        for key, value in values.items():
            if _is_plain(value):
                self.add(group, str(key), value)
            elif value is not None:
                nested[f"{group}_{key}"] = value
        if nested and depth < MAX_DEPTH:
            self.items(nested, depth + 1)

    def object(self, name: str, obj: Any, depth: int) -> None:
        inner = getattr(obj, "module", obj)  # DataParallel / DistributedDataParallel wrap the model
        if id(inner) in self.seen:
            return
        self.seen.update((id(obj), id(inner)))
        kind = type(inner).__name__
        group = name if kind in _UNNAMED_TYPES else f"{name}_{kind}"
        for attr in _listed(inner, self.attrs):
            try:
                value = getattr(inner, attr)
            except AttributeError:
                continue  # listed but not computed yet (the seed raised here)
            if isinstance(value, Mapping):
                self.mapping(f"{group}_{attr}", value, depth)
            else:
                self.add(group, attr, value)
        if self.custom_attr_func is not None:
            for series, value in self.custom_attr_func(inner).items():
                self.add(group, str(series), value)
        if depth >= MAX_DEPTH:
            return
        nested = {
            f"{group}_{attr}": child
            for attr, child in _attributes(inner)
            if isinstance(child, self.recursive_types) or (not _is_plain(child) and _listed(child, self.attrs))
        }
        if nested:
            self.items(nested, depth + 1)


def _listed(obj: Any, attrs: Sequence[str]) -> list[str]:
    names: list[str] = []
    for attr in attrs:
        listed = getattr(obj, attr, None)
        if isinstance(listed, str):
            listed = [listed]  # the seed added a bare string letter by letter
        if isinstance(listed, (list, tuple)):
            names.extend(n for n in listed if isinstance(n, str) and n not in names)
    return names


def _attributes(obj: Any) -> Iterator[tuple[str, Any]]:
    """An object's attributes, a torch module's children included (they live in ``_modules``)."""
    fields = getattr(obj, "__dict__", None)
    if not isinstance(fields, dict):
        return
    for attr, child in fields.items():
        if attr == "_modules" and isinstance(child, Mapping):
            yield from ((str(key), module) for key, module in child.items() if module is not None)
        elif not isinstance(child, (Mapping, list, tuple)) and child is not obj:
            yield attr, child


def _is_plain(value: Any) -> bool:
    """What the seed records as a value rather than searching it (numbers, text, lists, tensors, arrays)."""
    if isinstance(value, (bool, int, float, str, list, tuple, datetime.date)):
        return True
    return callable(getattr(value, "tolist", None))


def _convert(value: Any) -> Any:
    """The seed's conversion: text stays, several elements become a list, one element a scalar."""
    if value is None or isinstance(value, (str, bool, int, float, datetime.date)):
        return value
    plain = to_plain(value)
    if isinstance(plain, list) and len(plain) == 1:
        return plain[0]
    return plain


def _iteration(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            return int(value.__index__())  # numpy and torch integers
        except (AttributeError, TypeError):
            raise TypeError(f"global_iteration must be an int (the step of the records), not {value!r}") from None
    return value


class RecordWriter:
    """Keeps the records in a recordkit store at ``folder`` and writes the seed's CSV and SQLite files there.

    Parameters
    ----------
    folder
        The folder for the store and the files (created if missing).
    global_db_path
        A second SQLite file shared by experiments: the same tables with an ``experiment_id`` column,
        and an ``experiment_ids`` table. Needs ``experiment_name``.
    experiment_name
        The run's name (default: the folder's name) and its name in the global database.
    is_new_experiment
        Register ``experiment_name`` in the global database as a new experiment.
    save_lists
        Keep list values in the files too (JSON text, column ``<series>_list`` in SQLite); the store
        always keeps them.
    """

    def __init__(
        self,
        folder: str | Path,
        global_db_path: str | Path | None = None,
        experiment_name: str | None = None,
        is_new_experiment: bool = True,
        save_lists: bool = False,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.save_lists = save_lists
        self.experiment_name = experiment_name
        self.records: collections.defaultdict[str, dict[str, dict[int, Any]]] = collections.defaultdict(dict)
        self.local_db = Database(self.folder / "logs.db")
        self.global_db: Database | None = None
        if global_db_path is not None:
            if experiment_name is None:
                raise ValueError("RecordWriter(global_db_path=...) needs experiment_name= to tell experiments apart")
            self.global_db = Database(Path(global_db_path), experiment=experiment_name)
            if is_new_experiment:
                self.global_db.new_experiment()
            else:
                self.global_db.experiment_id()  # registered already, or a clear error now rather than at save
        self.store = rk.open(self.folder)
        self.run = self.store.collection(COLLECTION).start_run(name=experiment_name or self.folder.resolve().name)
        self._scopes: dict[str, rk.Scope] = {}

    def append_group(self, group: str, values: Mapping[str, Any], iteration: int) -> None:
        """Log one record of ``group`` at ``iteration`` and keep its values for the files."""
        scope = self._scopes.get(group)
        if scope is None:
            scope = self._scopes[group] = self.run.scope(group_name=group)
        scope.log(values, step=iteration)
        pending = self.records[group]
        for series, value in values.items():
            pending.setdefault(series, {})[iteration] = value

    def append(self, group_name: str, series_name: str, input_val: Any, iteration: int) -> None:
        """Log one value (the seed's low-level call)."""
        self.append_group(group_name, {series_name: _convert(input_val)}, _iteration(iteration))

    def save_records(self) -> None:
        """Make everything logged durable in the store, then append it to ``<group>.csv`` and ``logs.db``."""
        self.run.flush()
        for group, series in self.records.items():
            if not series:
                continue
            columns, rows = table_rows(series, self.save_lists)
            write_csv(self.folder / f"{safe_file_name(group)}.csv", columns, rows)
            self.local_db.write(group, columns, rows)
            if self.global_db is not None:
                self.global_db.write(group, columns, rows)
        self.records = collections.defaultdict(dict)

    def query(
        self, query: str, values: Sequence[Any] | Mapping[str, Any] = (), use_global_db: bool = False,
        return_dict: bool = False,
    ) -> Any:
        """Run read-only SQL over the saved tables (one per group); ``values`` are bound, never pasted.

        Returns ``sqlite3.Row`` objects, or with ``return_dict`` a dict of columns (lists).
        """
        rows = self._db(use_global_db).query(query, values)
        if not return_dict:
            return rows
        if not rows:
            return {}
        names = rows[0].keys()  # a Row iterates its values, not its names
        return {name: [row[name] for row in rows] for name in names}

    def table_exists(self, table_name: str, use_global_db: bool = False) -> bool:
        return self._db(use_global_db).table_exists(table_name)

    def close(self) -> None:
        """Save what is pending to the files and finish the run.

        At interpreter exit the run is finished by itself; values never saved are then in the store only.
        """
        self.save_records()
        self.run.finish()

    def _db(self, use_global_db: bool) -> Database:
        if not use_global_db:
            return self.local_db
        if self.global_db is None:
            raise rk.QueryError("use_global_db=True needs RecordWriter(folder, global_db_path=..., experiment_name=)")
        return self.global_db
