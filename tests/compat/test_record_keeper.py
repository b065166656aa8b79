"""record-keeper's API over recordkit: the README example, the seed's own test, and the bugs fixed."""

from __future__ import annotations

import csv
import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import recordkit as rk
import recordkit.compat.record_keeper as record_keeper_package


def tensorboard_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in a TensorBoard log folder, read with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


class BaseTupleMiner:
    """Stands in for pytorch-metric-learning's base class (not a dependency): it mines a batch."""

    def mine(self, embeddings: torch.Tensor) -> None:
        distances = torch.cdist(embeddings, embeddings)
        self.hardest_pos_pair_dist = distances[0, 1]            # a 0-d tensor, as the real miner keeps
        self.hardest_neg_pair_dist = distances[0, 2:].min()
        self.hardest_triplet_dist = self.hardest_pos_pair_dist - self.hardest_neg_pair_dist


# The README's class, verbatim.
class BatchHardMiner(BaseTupleMiner):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._record_these = ["hardest_triplet_dist", "hardest_pos_pair_dist", "hardest_neg_pair_dist"]


def test_readme_example(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    your_folder_for_logs, your_tensorboard_folder = tmp_path / "logs", tmp_path / "tensorboard"
    # The README, with only the import of record_keeper changed (and miners.BatchHardMiner from the class above).
    record_writer = record_keeper_package.RecordWriter(your_folder_for_logs)
    tensorboard_writer = SummaryWriter(log_dir=your_tensorboard_folder)
    record_keeper = record_keeper_package.RecordKeeper(tensorboard_writer, record_writer, ["_record_these"])

    your_miner_dictionary = {"tuple_miner": BatchHardMiner()}

    torch.manual_seed(0)
    expected = []
    for current_iteration in range(20):
        your_miner_dictionary["tuple_miner"].mine(torch.randn(6, 3))
        expected.append(float(your_miner_dictionary["tuple_miner"].hardest_pos_pair_dist))
        record_keeper.update_records(your_miner_dictionary, current_iteration)
    record_keeper.save_records()
    tensorboard_writer.close()

    group = "tuple_miner_BatchHardMiner"  # the seed's group name: key in the dict + class name
    scalars = tensorboard_scalars(your_tensorboard_folder)
    assert set(scalars) == {f"{group}/{name}" for name in your_miner_dictionary["tuple_miner"]._record_these}
    assert [step for step, _ in scalars[f"{group}/hardest_pos_pair_dist"]] == list(range(20))
    assert [v for _, v in scalars[f"{group}/hardest_pos_pair_dist"]] == pytest.approx(expected)

    rows = read_csv(your_folder_for_logs / f"{group}.csv")
    assert rows[0] == ["~iteration~", "hardest_triplet_dist", "hardest_pos_pair_dist", "hardest_neg_pair_dist"]
    assert [int(r[0]) for r in rows[1:]] == list(range(20))
    assert [float(r[2]) for r in rows[1:]] == pytest.approx(expected)

    saved = record_keeper.query(f"SELECT * FROM {group} ORDER BY id", return_dict=True)
    assert saved["~iteration~"] == list(range(20))
    assert saved["hardest_pos_pair_dist"] == pytest.approx(expected)
    assert record_keeper.table_exists(group) and not record_keeper.table_exists("nothing")

    # The same values are ordinary records of the store in the folder.
    store = rk.open(your_folder_for_logs)
    frame = store.collection("record_keeper").records.where(group_name=group).to_pandas()
    assert frame["step"].tolist() == list(range(20))
    assert frame["hardest_pos_pair_dist"].tolist() == pytest.approx(expected)
    average = store.sql("select avg(hardest_pos_pair_dist) from records where group_name = ?", [group]).scalar()
    assert average == pytest.approx(sum(expected) / 20)


def test_the_seeds_own_test_with_tensorboardx(tmp_path: Path) -> None:
    """tests/test_record_keeper.py of the seed, on a tensorboardX writer, saved in two parts."""
    from tensorboardX import SummaryWriter

    tensorboard_writer = SummaryWriter(logdir=str(tmp_path / "tb"), max_queue=1000000, flush_secs=30)
    record_writer = record_keeper_package.RecordWriter(folder=tmp_path / "logs")
    record_keeper = record_keeper_package.RecordKeeper(
        tensorboard_writer=tensorboard_writer, record_writer=record_writer, attributes_to_search_for=["_record_these"]
    )
    for i in range(10):
        if i < 5:
            record = {"A": i, "B": 10 - np.array([i * 2]), "C": torch.tensor(i * 1.25), "D": "hello"}
        else:
            record = {"A": 500, "C": float("inf")}
        record_keeper.update_records(record, i, custom_group_name="stuff")
    record_keeper.save_records()  # the seed saved once; saving twice shows the CSV keeps one header
    record_keeper.update_records({"E": "new column"}, 11, custom_group_name="stuff")
    record_keeper.save_records()
    tensorboard_writer.close()

    def column(name: str) -> list[Any]:
        return list(record_keeper.query(f"SELECT {name} from stuff", return_dict=True)[name])

    assert column("A") == [*range(5), *[500] * 5, None]
    assert column("B") == [*(10 - np.arange(5) * 2), *[None] * 6]
    assert column("C") == [*(np.arange(5) * 1.25), *[math.inf] * 5, None]
    assert column("D") == ["hello"] * 5 + [None] * 6
    assert column("E") == [None] * 10 + ["new column"]

    rows = read_csv(tmp_path / "logs" / "stuff.csv")
    assert rows[0] == ["~iteration~", "A", "B", "C", "D", "E"]  # one header, widened (the seed wrote two)
    assert len(rows) == 12 and rows[-1] == ["11", "", "", "", "", "new column"] and rows[1][5] == ""

    scalars = tensorboard_scalars(tmp_path / "tb")
    assert scalars["stuff/A"] == [(i, float(a)) for i, a in enumerate([*range(5), *[500] * 5])]
    assert "stuff/D" not in scalars  # text never goes to TensorBoard

    records = rk.open(tmp_path / "logs").collection("record_keeper").records.where(group_name="stuff")
    assert [r["A"] for r in records] == [*range(5), *[500] * 5, None]
    assert records.where(step=11).first()["E"] == "new column"  # type: ignore[index]


class Loss:
    def __init__(self) -> None:
        self._record_these = ["loss", "not_computed_yet"]
        self.loss = 0.5
        self.distance = Distance()


class Distance:
    _record_these = "avg_dist"  # a bare string: the seed added it letter by letter

    def __init__(self) -> None:
        self.avg_dist = 2.0


class Wrapper:
    """Like torch's DataParallel: the real object is .module."""

    def __init__(self, module: object) -> None:
        self.module = module


class Embedder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = Head()
        self._record_these = ["scale"]
        self.scale = torch.tensor([3.0])


class Head(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self._record_these = ["norm"]
        self.norm = torch.tensor(1.5)


@pytest.fixture
def keeper(tmp_path: Path) -> record_keeper_package.RecordKeeper:
    return record_keeper_package.RecordKeeper(None, record_keeper_package.RecordWriter(tmp_path), ["_record_these"])


def test_groups_follow_the_seeds_names(keeper: record_keeper_package.RecordKeeper) -> None:
    groups = keeper.update_records(
        {"loss_fn": Wrapper(Loss()), "lr": 0.1, "optim": {"beta": 0.9, "inner": {"eps": 1e-8}},
         "models": {"embedder": Embedder()}},
        3,
    )
    assert groups == {
        "loss_fn_Loss": {"loss": 0.5},                    # unwrapped .module; an attribute not set yet is skipped
        "loss_fn_Loss_distance_Distance": {"avg_dist": 2.0},  # nested object found (the README's promise)
        "ungrouped": {"lr": 0.1},                          # a plain value with no group name (the seed raised)
        "optim": {"beta": 0.9},
        "optim_inner": {"eps": 1e-8},
        "models_embedder_Embedder": {"scale": 3.0},        # one-element tensors become numbers
        "models_embedder_Embedder_head_Head": {"norm": 1.5},  # a torch submodule (found in _modules)
    }
    prefixed = keeper.update_records({"lr": 0.2, "loss_fn": Loss()}, 4, custom_group_name="run1")
    assert set(prefixed) == {"run1", "run1_loss_fn_Loss", "run1_loss_fn_Loss_distance_Distance"}
    older = keeper.update_records({"acc": 0.7}, 4, input_group_name_for_non_objects="eval")
    assert older == {"eval": {"acc": 0.7}}

    keeper.save_records()
    assert keeper.query("SELECT norm FROM models_embedder_Embedder_head_Head", return_dict=True) == {"norm": [1.5]}
    writer = keeper.record_writer
    assert writer is not None
    store = rk.open(writer.folder)
    assert store.collection("record_keeper").records.where(group_name="eval").mean("acc") == pytest.approx(0.7)


def test_custom_attributes_and_recursive_types(keeper: record_keeper_package.RecordKeeper) -> None:
    class Optimizer:
        def __init__(self) -> None:
            self.state = Distance()
            self.state._record_these = []  # type: ignore[assignment]

    def lr(obj: object) -> dict[str, float]:
        return {"lr": 0.01}

    # The nested object lists nothing: only recursive_types makes the walk go in (as in the seed).
    assert keeper.update_records({"opt": Optimizer()}, 0, custom_attr_func=lr) == {"opt_Optimizer": {"lr": 0.01}}
    groups = keeper.update_records({"opt": Optimizer()}, 1, custom_attr_func=lr, recursive_types=[Distance])
    assert groups == {"opt_Optimizer": {"lr": 0.01}, "opt_Optimizer_state_Distance": {"lr": 0.01}}


def test_lists_are_kept_in_the_store_and_optionally_in_the_files(tmp_path: Path) -> None:
    plain = record_keeper_package.RecordKeeper(None, record_keeper_package.RecordWriter(tmp_path / "a"), [])
    listed = record_keeper_package.RecordKeeper(
        None, record_keeper_package.RecordWriter(tmp_path / "b", save_lists=True), []
    )
    for keeper in (plain, listed):
        keeper.update_records({"hist": torch.tensor([1.0, 2.0]), "x": 1}, 0, custom_group_name="g")
        keeper.save_records()
    assert read_csv(tmp_path / "a" / "g.csv")[0] == ["~iteration~", "x"]
    assert read_csv(tmp_path / "b" / "g.csv") == [["~iteration~", "hist", "x"], ["0", "[1.0, 2.0]", "1"]]
    assert listed.query("SELECT hist_list FROM g")[0][0] == "[1.0, 2.0]"
    for folder in ("a", "b"):
        assert rk.open(tmp_path / folder).collection("record_keeper").records.first()["hist"] == [1.0, 2.0]  # type: ignore[index]


def test_query_is_read_only_with_bound_values(keeper: record_keeper_package.RecordKeeper, tmp_path: Path) -> None:
    keeper.update_records({"x": 1}, 0, custom_group_name='odd "name"/../up')
    keeper.save_records()
    assert (tmp_path / "odd _name__.._up.csv").is_file()  # the file name cannot leave the folder
    assert not (tmp_path.parent / "up.csv").exists()
    assert keeper.query('SELECT x FROM "odd ""name""/../up" WHERE x = ?', [1])[0]["x"] == 1
    with pytest.raises(rk.QueryError, match="read-only"):
        keeper.query('DROP TABLE "odd ""name""/../up"')
    assert keeper.table_exists('odd "name"/../up')
    assert keeper.query('SELECT x FROM "odd ""name""/../up" WHERE x = ?', [2], return_dict=True) == {}
    assert not keeper.table_exists("x' OR '1'='1")  # the name is bound, not pasted into the SQL


def test_nothing_saved_yet_is_a_clear_error(tmp_path: Path) -> None:
    keeper = record_keeper_package.RecordKeeper(None, record_keeper_package.RecordWriter(tmp_path), [])
    with pytest.raises(rk.QueryError, match="save_records"):
        keeper.query("SELECT 1")
    with pytest.raises(rk.RunError, match="RecordWriter"):
        record_keeper_package.RecordKeeper(None, None, []).save_records()
    with pytest.raises(TypeError, match="global_iteration"):
        keeper.update_records({"x": 1}, "first")  # type: ignore[arg-type]


def test_global_database_across_experiments(tmp_path: Path) -> None:
    shared = tmp_path / "all.db"
    for name, value in (("exp_a", 1.0), ("exp_b", 2.0)):
        writer = record_keeper_package.RecordWriter(tmp_path / name, global_db_path=shared, experiment_name=name)
        keeper = record_keeper_package.RecordKeeper(None, writer, [])
        keeper.update_records({"acc": value}, 0, custom_group_name="eval")
        writer.close()
    with sqlite3.connect(shared) as conn:
        rows = conn.execute("SELECT experiment_name, acc FROM eval JOIN experiment_ids ON experiment_id = "
                            "experiment_ids.id ORDER BY acc").fetchall()
    assert rows == [("exp_a", 1.0), ("exp_b", 2.0)]
    assert [tuple(r) for r in keeper.query("SELECT acc FROM eval", use_global_db=True)] == [(1.0,), (2.0,)]
    with pytest.raises(ValueError, match="already has records"):
        record_keeper_package.RecordWriter(tmp_path / "again", global_db_path=shared, experiment_name="exp_a")
    with pytest.raises(ValueError, match="is_new_experiment=True"):
        record_keeper_package.RecordWriter(tmp_path / "c", global_db_path=shared, experiment_name="exp_c",
                                           is_new_experiment=False)
    more = record_keeper_package.RecordWriter(tmp_path / "d", global_db_path=shared, experiment_name="exp_b",
                                              is_new_experiment=False)
    more.append_group("eval", {"acc": 2.5}, 1)
    more.close()
    assert [tuple(r) for r in more.query("SELECT experiment_id, acc FROM eval", use_global_db=True)][-1] == (2, 2.5)
    assert rk.open(tmp_path / "exp_b").collection("record_keeper").runs()[0].name == "exp_b"
