"""Harvest: `_record_these` found recursively, grouped by path, recorded as scopes that read flat."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from tests.conftest import fast_run

import recordkit as rk
from recordkit.runs.harvest import harvest


class BatchHardMiner:
    """Shaped like pytorch-metric-learning's miner in the record-keeper README."""

    def __init__(self, pos: float = 0.5) -> None:
        self._record_these = ["hardest_triplet_dist", "hardest_pos_pair_dist", "hardest_neg_pair_dist"]
        self.hardest_triplet_dist = torch.tensor(0.25)
        self.hardest_pos_pair_dist = torch.tensor([pos])
        self.hardest_neg_pair_dist = np.float32(2.0)


class Plain:
    """An object with attributes but no list: records nothing, raises nothing."""

    def __init__(self) -> None:
        self.value = 1.0


class Node:
    def __init__(self, name: str) -> None:
        self._record_these = ["visits"]
        self.visits = len(name)
        self.peer: Any = None


class Loss(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.miner_holder = torch.nn.Module()
        self.layer = torch.nn.Linear(2, 2)
        self._record_these = ["avg_loss"]
        self._record_these_stats = ["pos_pairs"]
        self.avg_loss = torch.tensor(0.75)
        self.pos_pairs = np.array([7])


def test_groups_are_named_by_path() -> None:
    trainer = Plain()
    trainer.miner = BatchHardMiner()  # type: ignore[attr-defined]
    found = harvest(
        {
            "tuple_miner": BatchHardMiner(),
            "nested": {"deep": BatchHardMiner()},
            "miners": [BatchHardMiner(), Plain(), BatchHardMiner()],
            "trainer": trainer,
        }
    )
    assert list(found) == ["tuple_miner", "nested.deep", "miners.0", "miners.2", "trainer.miner"]
    assert set(found["tuple_miner"]) == {"hardest_triplet_dist", "hardest_pos_pair_dist", "hardest_neg_pair_dist"}


def test_a_bare_object_is_named_by_its_class() -> None:
    assert list(harvest(BatchHardMiner())) == ["BatchHardMiner"]


def test_objects_without_the_list_record_nothing_and_raise_nothing(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        assert run.collect({"plain": Plain(), "number": 3, "text": "x", "none": None, "obj": object()}) == {}
    assert len(run.records) == 0


def test_cycles_are_safe_and_each_object_is_recorded_once() -> None:
    a, b = Node("a"), Node("bb")
    a.peer, b.peer = b, a
    loop: dict[str, Any] = {"a": a}
    loop["self"] = loop
    found = harvest({"root": loop, "again": a})
    assert found == {"root.a": {"visits": 1}, "root.a.peer": {"visits": 2}}


def test_torch_modules_are_walked_and_module_wrappers_unwrapped() -> None:
    loss = Loss()
    loss.miner_holder.miner = BatchHardMiner()  # type: ignore[assignment]  # a plain object on a module
    loss.layer.extra = BatchHardMiner(pos=0.1)  # type: ignore[assignment]
    found = harvest({"loss": torch.nn.DataParallel(loss)}, attrs=("_record_these", "_record_these_stats"))
    assert list(found) == ["loss", "loss.miner_holder.miner", "loss.layer.extra"]
    assert set(found["loss"]) == {"avg_loss", "pos_pairs"}  # both lists, one group


def test_several_list_names_and_a_missing_attribute(collection: rk.Collection) -> None:
    loss = Loss()
    loss._record_these_stats = ["pos_pairs", "not_computed_yet"]
    with fast_run(collection) as run:
        only_first = run.collect({"loss": loss})
        both = run.collect({"loss": loss}, attrs=("_record_these", "_record_these_stats"))
    assert set(only_first["loss"]) == {"avg_loss"}
    assert set(both["loss"]) == {"avg_loss", "pos_pairs"}


def test_harvested_values_read_flat_with_scalars_and_lists(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        m1 = run.scope(model="m1")
        for step in range(3):
            m1.collect({"tuple_miner": BatchHardMiner(pos=step / 10), "window": Window()}, step=step)
    rows = collection.records.where(group_name="tuple_miner")
    assert len(rows) == 3
    first = rows[0]
    assert first["model"] == "m1" and first["group_name"] == "tuple_miner" and first["step"] == 0
    # One-element tensors and arrays are numbers; longer ones lists.
    assert first["hardest_triplet_dist"] == 0.25 and type(first["hardest_triplet_dist"]) is float
    assert first["hardest_neg_pair_dist"] == 2.0 and type(first["hardest_neg_pair_dist"]) is float
    assert [r["hardest_pos_pair_dist"] for r in rows] == pytest.approx([0.0, 0.1, 0.2])
    assert [r["step"] for r in rows] == [0, 1, 2]
    window = collection.records.where(group_name="window")[0]
    assert window["history"] == [1.0, 2.0, 3.0] and window["best"] == [4, 5]
    assert collection.records.where(group_name="tuple_miner").mean("hardest_triplet_dist") == pytest.approx(0.25)


class Window:
    def __init__(self) -> None:
        self._record_these = ["history", "best"]
        self.history = torch.tensor([1.0, 2.0, 3.0])
        self.best = [4, 5]


def test_groups_are_scopes_created_once(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        for _ in range(4):
            run.collect({"tuple_miner": BatchHardMiner()})
            run.next_step()
    scope_ids = {r.scope_id for r in run.records}
    assert len(scope_ids) == 1
    assert [r["step"] for r in run.records] == [0, 1, 2, 3]  # the run's step by default


def test_a_value_that_cannot_be_stored_names_the_group(collection: rk.Collection) -> None:
    bad = Node("x")
    bad.visits = object()  # type: ignore[assignment]
    with fast_run(collection) as run, pytest.raises(TypeError, match=r"group 'bad'.*visits"):
        run.collect({"bad": bad})


def test_a_string_names_one_list_attribute() -> None:
    loss = Loss()
    assert set(harvest({"loss": loss}, attrs="_record_these_stats")["loss"]) == {"pos_pairs"}


def test_big_containers_and_deep_paths_are_not_searched() -> None:
    from collections import OrderedDict

    from recordkit.runs.harvest import MAX_DEPTH, MAX_ITEMS

    big = [Node("x") for _ in range(MAX_ITEMS + 1)]
    assert harvest({"dataset": big}) == {}
    deep: dict[str, Any] = {"leaf": Node("abc")}
    for _ in range(MAX_DEPTH):
        deep = {"d": deep}
    assert harvest(deep) == {}
    assert harvest({"ok": OrderedDict(inner=Node("ab"))}) == {"ok.inner": {"visits": 2}}  # any Mapping


def test_the_callers_thread_does_not_convert_tensors(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        got = run.collect({"tuple_miner": BatchHardMiner()})
        # What collect hands back is what it read: tensors stay tensors until the writer converts them.
        assert isinstance(got["tuple_miner"]["hardest_triplet_dist"], torch.Tensor)
    assert type(run.records[0]["hardest_triplet_dist"]) is float


class Slotted:
    __slots__ = ("_record_these", "value")

    def __init__(self) -> None:
        self._record_these = ["value"]
        self.value = 3


class WithProperty:
    @property
    def _record_these(self) -> list[str]:
        return ["value"]

    value = 4


def test_lists_in_slots_and_properties_are_found() -> None:
    assert harvest({"s": Slotted(), "p": WithProperty()}) == {"s": {"value": 3}, "p": {"value": 4}}
