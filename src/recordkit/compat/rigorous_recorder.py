"""rigorous-recorder's API over recordkit: ``from recordkit.compat.rigorous_recorder import RecordKeeper``.

``ExperimentCollection("records/my_study")`` is the collection ``my_study`` of the store ``records``
(the seed's ``records/my_study.pickle``); ``new_experiment()`` starts a run in it, numbered as the seed
numbered experiments (failed runs in a row keep the number and count ``error_number``). A keeper is a
scope: ``sub_record_keeper(model="model1")`` stores its fields once, ``add_record`` /
``pending_record`` + ``commit_record`` log records in it, and every record reads flat with its
ancestors' fields and the six experiment keys (``experiment_number``, ``error_number``, ``had_error``,
``experiment_start_time``, ``experiment_end_time``, ``experiment_duration``), which are run fields.

>>> collection = ExperimentCollection("records/my_study")             # doctest: +SKIP
>>> with collection.new_experiment() as keeper:                       # doctest: +SKIP
...     keeper.sub_record_keeper(model="m1").add_record({"loss": 0.3})
>>> rk.open("records").collection("my_study").records.to_pandas()     # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import recordkit as rk

#: The collection of a RecordKeeper made on its own (not by ``ExperimentCollection.new_experiment``).
STANDALONE_COLLECTION = "rigorous_recorder"


class RecordKeeper:
    """A node of parent data; records committed here carry it and every ancestor's, stored once.

    ``RecordKeeper(**parent_data)`` on its own starts a run in the collection ``rigorous_recorder`` of
    the default store (``RECORDKIT_STORE``, else ``./records``); ``collection.new_experiment()`` hands
    out the keeper of a new experiment instead.
    """

    def __init__(self, data: Mapping[str, Any] | None = None, /, **parent_data: Any) -> None:
        fields = {**(data or {}), **parent_data}
        run = rk.open().collection(STANDALONE_COLLECTION).start_run()
        self._bind(run, run.scope(**fields) if fields else run, None, fields)

    @classmethod
    def _of(cls, run: rk.Run, scope: rk.Scope, parent: RecordKeeper | None, fields: dict[str, Any]) -> RecordKeeper:
        keeper = cls.__new__(cls)
        keeper._bind(run, scope, parent, fields)
        return keeper

    def _bind(self, run: rk.Run, scope: rk.Scope, parent: RecordKeeper | None, fields: dict[str, Any]) -> None:
        self.run = run
        self.scope = scope
        self.parent_record_keeper = parent
        #: This keeper's own fields (its parents' are not copied here).
        self.local_data = fields
        self.sub_record_keepers: list[RecordKeeper] = []

    # --- building the tree ---------------------------------------------------------------------
    def sub_record_keeper(self, **fields: Any) -> RecordKeeper:
        """A child keeper with these fields; siblings with equal fields stay distinct."""
        child = RecordKeeper._of(self.run, self.scope.scope(**fields), self, dict(fields))
        self.sub_record_keepers.append(child)
        return child

    def __setitem__(self, key: str, value: Any) -> None:
        """Add or change a field of this keeper; all its records, earlier ones too, read it."""
        self.scope[key] = value
        self.local_data[key] = value

    def __getitem__(self, key: str) -> Any:
        """The pending record's value for ``key``, else the nearest keeper's field, else None."""
        if key in self.scope.pending:
            return self.scope.pending[key]
        return self.scope.fields.get(key)

    # --- records -------------------------------------------------------------------------------
    @property
    def pending_record(self) -> dict[str, Any]:
        """The record being built: set keys, then ``commit_record()``."""
        return self.scope.pending

    def commit_record(self, *, additional_info: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Log the pending record (plus ``additional_info``) and start a new one; return it, read flat."""
        if additional_info:
            self.scope.pending.update(additional_info)
        committed = {**self.scope.fields, **self.scope.pending}
        self.scope.commit()
        return committed

    def add_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Log ``record`` here (merged into any pending values); return it, read flat."""
        return self.commit_record(additional_info=record)

    def _scope_ids(self) -> set[int]:
        ids = {self.scope.scope_id}
        for child in self.sub_record_keepers:
            ids |= child._scope_ids()
        return ids

    @property
    def records(self) -> rk.Records:
        """The records of this keeper and every keeper below it (not its siblings', even equal ones)."""
        self.run.flush()
        if self.scope is self.run:
            return self.run.records
        ids = self._scope_ids()
        return self.run.records.where(lambda record: record.scope_id in ids)

    def __iter__(self) -> Iterator[rk.Record]:
        return iter(self.records)

    def __len__(self) -> int:
        if self.scope is self.run:
            self.run.flush()
            return len(self.run.records)
        ids = sorted(self._scope_ids())
        query = f"select count(*) from records where run_id = ? and scope_id in ({', '.join('?' * len(ids))})"
        return int(self.run.collection.store.sql(query, [self.run.id, *ids]).scalar())

    @property
    def number_of_records(self) -> int:
        return len(self)

    def __repr__(self) -> str:
        return f"<RecordKeeper {self.local_data!r} of run {self.run.id}>"


class Experiment:
    """What ``new_experiment()`` returns: ``with`` it to get the experiment's keeper."""

    def __init__(self, run: rk.Run, keeper: RecordKeeper) -> None:
        self.run = run
        self.keeper = keeper

    def __enter__(self) -> RecordKeeper:
        return self.keeper

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # The run stores the status (failed, with the traceback) and every record, then the error propagates.
        self.run.__exit__(kind, exc, tb)


class ExperimentCollection:
    """Experiments saved under a path: ``"records/my_study"`` is collection ``my_study`` of store ``records``.

    ``extension`` is accepted for the seed's signature and ignored: nothing is pickled.
    """

    def __init__(self, file_path: str | os.PathLike[str], records: Any = None, extension: str = ".pickle") -> None:
        path = Path(file_path)
        self.collection_name = path.name
        self.file_path = str(path)
        self.store = rk.open(path.parent)
        self.collection = self.store.collection(self.collection_name)

    def new_experiment(self, **experiment_info: Any) -> Experiment:
        """Start the next experiment; ``experiment_info`` becomes its config and a field of all its records.

        It is numbered after the last successful one; after a failure the number stays and
        ``error_number`` counts up. Records are stored as they are logged, so a failed experiment keeps
        them, and its traceback.
        """
        run = self.collection.start_run(config=experiment_info or None)
        scope: rk.Scope = run.scope(**experiment_info) if experiment_info else run
        return Experiment(run, RecordKeeper._of(run, scope, None, dict(experiment_info)))

    @property
    def records(self) -> rk.Records:
        """Every record of every experiment, read flat (``collection.records.to_pandas()`` works too)."""
        return self.collection.records

    @property
    def experiment_numbers(self) -> tuple[int, ...]:
        return tuple(sorted({run.number for run in self.collection.runs()}))

    def __getitem__(self, number: int) -> rk.Records:
        """The records of experiment ``number`` (its failed attempts too); negative numbers count from the latest."""
        if number < 0:
            numbers = self.experiment_numbers  # sorted: the seed indexed an unordered set here
            if -number > len(numbers):
                return self.collection.records.where(lambda record: False)  # no such experiment
            number = numbers[number]
        return self.collection.records.where(experiment_number=number)

    def __len__(self) -> int:
        return len(self.collection.records)

    def __repr__(self) -> str:
        return f"<ExperimentCollection {self.collection_name!r} in {self.store.url!r}>"
