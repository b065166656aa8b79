"""rigorous-recorder's API over recordkit: the README examples, numbering, subtrees, and the bugs fixed."""

from __future__ import annotations

from pathlib import Path

import pytest

import recordkit as rk
from recordkit.compat.rigorous_recorder import ExperimentCollection, RecordKeeper

SIX_KEYS = ("experiment_number", "error_number", "had_error", "experiment_start_time", "experiment_end_time",
            "experiment_duration")


def test_readme_parent_data_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECORDKIT_STORE", str(tmp_path / "records"))
    # "What is a Use-case Example?", with only the import changed.
    keeper = RecordKeeper()

    # parent data
    experiment_keeper = keeper.sub_record_keeper(experiment=1)
    episode_keeper    = experiment_keeper.sub_record_keeper(episode=1)

    # The README adds to `episode_data` here, the plain dict of its earlier snippet (a NameError in this
    # one); the keeper it just made is what it means.
    episode_keeper.add_record({ "x":1, "y":1, }) # timestep1
    episode_keeper.add_record({ "x":2, "y":2, }) # timestep2
    episode_keeper.add_record({ "x":3, "y":3, }) # timestep3

    records = list(episode_keeper.records)
    assert [(r["x"], r["y"], r["experiment"], r["episode"]) for r in records] == [(1, 1, 1, 1), (2, 2, 1, 1),
                                                                                  (3, 3, 1, 1)]
    assert len(keeper) == len(experiment_keeper) == 3
    store = rk.open(tmp_path / "records")
    assert store.sql("select avg(x) from records where episode = ?", [1]).scalar() == 2.0
    keeper.run.finish()


def run_readme_study() -> dict[str, float]:
    """"How do I use this?", verbatim but for the import; returns the averages its analysis computes."""
    from random import choices, random, sample  # noqa: F401
    from statistics import mean as average

    collection = ExperimentCollection("records/my_study") # <- this string is a filepath

    # automatically increments from the previous experiment number
    # data is saved to disk automatically, even when an error is thrown
    # running again (after error) won't double-increment the experiment number (same number until non-error run is achieved)  # noqa: E501
    with collection.new_experiment() as record_keeper:
        model1 = record_keeper.sub_record_keeper(model="model1")
        model2 = record_keeper.sub_record_keeper(model="model2")
        # splits^ in two different ways (like siblings in a family tree)

        #
        # training
        #
        model_1_losses = model1.sub_record_keeper(training=True)
        model_2_losses = model2.sub_record_keeper(training=True)
        for each_index in range(1000):
            # one approach
            model_2_losses.add_record({
                "index": each_index,
                "loss": random(),
            })

            # alternative approach (same outcome)
            # - this way is very handy for adding data in one class method (loss func)
            #   while calling commit_record in a different class method (update weights)
            model_1_losses.pending_record["index"] = each_index
            model_1_losses.pending_record["loss"] = random()
            model_1_losses.commit_record()
        #
        # testing
        #
        model_1_evaluation = model1.sub_record_keeper(testing=True)
        model_2_evaluation = model2.sub_record_keeper(testing=True)
        for each_index in range(50):
            # one method
            model_2_evaluation.add_record({
                "index": each_index,
                "accuracy": random(),
            })

            # alternative way (same outcome)
            model_1_evaluation.pending_record["index"] = each_index
            model_1_evaluation.pending_record["accuracy"] = random()
            model_1_evaluation.commit_record()

    #
    #
    # Analysis
    #
    #

    all_records = collection.records
    print(all_records[0]) # prints first record, which behaves just like a regular dictionary

    # first 500 training records (from both models)
    records_first_half_of_time = tuple(each for each in all_records if each["training"] and each["index"] < 500)
    # not a great example, but this wouldn't care if the loss was from model1 or model 2
    first_half_average_loss = average(tuple(each["loss"] for each in records_first_half_of_time))
    # only for model 1
    model_1_first_half_loss = average(tuple(each["loss"] for each in records_first_half_of_time if each["model"] == "model1"))  # noqa: E501
    # only for model 2
    model_2_first_half_loss = average(tuple(each["loss"] for each in records_first_half_of_time if each["model"] == "model2"))  # noqa: E501

    assert len(model_1_losses) == 1000  # its sibling model_2_losses has equal fields; the seed counted both
    return {"all": first_half_average_loss, "model1": model_1_first_half_loss, "model2": model_2_first_half_loss}


def test_readme_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    first = run_readme_study()
    second = run_readme_study()  # running again numbers the next experiment

    col = rk.open(tmp_path / "records").collection("my_study")
    assert [(run.number, run.error_number, run.status) for run in col.runs()] == [(1, 0, "finished"),
                                                                                   (2, 0, "finished")]
    frame = col.records.to_pandas()
    assert len(frame) == 2 * (2000 + 100)
    assert set(SIX_KEYS) <= set(frame.columns) and not frame["had_error"].any()
    # The analysis reads every experiment of the collection ("I don't care what experiment they're from").
    half = frame[(frame["training"] == True) & (frame["index"] < 500)]  # noqa: E712
    assert len(half) == 2 * 1000 and half["loss"].mean() == pytest.approx(second["all"])
    assert half[half["model"] == "model1"]["loss"].mean() == pytest.approx(second["model1"])
    query = ('select avg(loss) from records where experiment_number = ? and training = 1 and "index" < 500 '
             "and model = ?")
    assert col.store.sql(query, [1, "model2"]).scalar() == pytest.approx(first["model2"])
    collection = ExperimentCollection(tmp_path / "records" / "my_study")
    assert len(collection[1]) == len(collection[-1]) == 2100 and collection.experiment_numbers == (1, 2)
    assert {r["experiment_number"] for r in collection[-1]} == {2}  # the latest (the seed indexed a set)


def test_numbering_and_errors_are_saved(tmp_path: Path) -> None:
    collection = ExperimentCollection(tmp_path / "records" / "study")
    outcomes = [False, True, True, False, False]  # ok, err, err, ok, ok
    for fails in outcomes:
        with pytest.raises(RuntimeError) if fails else _nothing(), collection.new_experiment() as keeper:
            keeper.add_record({"x": 1})
            if fails:
                raise RuntimeError("diverged")
    runs = collection.collection.runs()
    assert [(r.number, r.error_number) for r in runs] == [(1, 0), (2, 1), (2, 2), (2, 0), (3, 0)]
    failed = [r for r in runs if r.status == "failed"]
    assert len(failed) == 2 and "diverged" in (failed[0].error or {})["traceback"]
    rows = collection.records.to_dicts()
    assert len(rows) == 5  # the failed experiments' records were kept
    assert [r["had_error"] for r in rows] == outcomes
    assert all(r["experiment_duration"] == r["experiment_end_time"] - r["experiment_start_time"] for r in rows)
    assert len(collection[2]) == 3  # experiment 2: both failed attempts and the successful one


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_keepers_are_scopes(tmp_path: Path) -> None:
    collection = ExperimentCollection(tmp_path / "records" / "study")
    with collection.new_experiment(lr=0.1) as keeper:
        model = keeper.sub_record_keeper(model="m1")
        train = model.sub_record_keeper(training=True)
        assert train.add_record({"loss": 0.5}) == {"lr": 0.1, "model": "m1", "training": True, "loss": 0.5}
        train.pending_record["loss"] = 0.4
        assert train["loss"] == 0.4 and train["model"] == "m1" and train["missing"] is None
        train.commit_record(additional_info={"index": 1})
        model["note"] = "added later"
        assert len(model) == len(train) == 2 and model.local_data == {"model": "m1", "note": "added later"}
        assert train.sub_record_keepers == [] and model.sub_record_keepers == [train]
    records = collection.records
    assert [r["note"] for r in records] == ["added later", "added later"]  # earlier records see it too
    assert records.where(index=1).first()["loss"] == 0.4  # type: ignore[index]
    assert collection.collection.runs()[0].config["lr"] == 0.1
