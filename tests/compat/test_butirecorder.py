"""buti-recorder's API over recordkit: the README example, its JSON layout, models, and the bugs fixed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import recordkit as rk
from recordkit.compat.butirecorder import Recorder


def your_model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(8, 2))


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_readme_example(tmp_path: Path) -> None:
    # The README's checkpoint example with only the import changed; its `...,  # parameters` spelled out.
    model_1 = your_model()
    model_2 = your_model()
    recorder = Recorder(
        mode="torch",
        save_mode="state_dict", save_path=str(tmp_path), recorder_name="cnn",
    )

    recorder.set_models({
        "CNN_1": model_1,
        "CNN_2": model_2,
    })

    for i in range(10) :
        recorder.checkpoint({
            "accuracy": 0.1 * i,
            "loss": 0.01,
            "QQ": True,
            "whatever you want to save": True
        })
        recorder.step()

    recorder.save_checkpoints()

    saved = json.loads((tmp_path / "cnn.json").read_text())  # one JSON object (the seed wrote a string)
    assert saved["recorder_name"] == "cnn" and saved["steps"] == 10 and saved["model_names"] == ["CNN_1", "CNN_2"]
    assert saved["data"]["accuracy"] == [[i + 1, 0.1 * i] for i in range(10)]  # (1, 0.0), (2, 0.1), …
    assert saved["data"]["loss"] == [[i + 1, 0.01] for i in range(10)]
    assert saved["data"]["QQ"] == saved["data"]["whatever you want to save"] == [[i + 1, True] for i in range(10)]
    assert recorder.steps == recorder.get_steps() == 10 and saved["id"] == recorder.id

    frame = rk.open(tmp_path).collection("butirecorder").records.to_pandas()
    assert frame["step"].tolist() == list(range(1, 11)) and frame["accuracy"].tolist() == pytest.approx(
        [0.1 * i for i in range(10)])
    assert frame["whatever you want to save"].all() and set(frame["run_name"]) == {"cnn"}

    recorder.save_models()
    recorder.epoch()
    recorder.save_checkpoints()
    recorder.run.finish()

    fresh = {"CNN_1": your_model(), "CNN_2": your_model()}
    again = Recorder(mode="torch", save_mode="state_dict", models=fresh)
    loaded = again.load(str(tmp_path / "cnn.json"))
    assert same_weights(loaded["CNN_1"], model_1) and same_weights(loaded["CNN_2"], model_2)
    assert loaded["CNN_1"] is fresh["CNN_1"]  # loaded into the modules given
    assert (again.steps, again.epochs, again.save_path) == (10, 1, str(tmp_path))
    again.checkpoint({"accuracy": 0.95})      # the same run goes on
    again.save_checkpoints()
    assert json.loads((tmp_path / "cnn.json").read_text())["data"]["accuracy"][-1] == [11, 0.95]
    runs = rk.open(tmp_path).collection("butirecorder").runs()
    assert [run.id for run in runs] == [recorder.id] and again.id == recorder.id  # no other run started
    assert [c.step for c in runs[0].checkpoints("CNN_1")] == [10]


def test_whole_models_are_saved_and_loaded(tmp_path: Path) -> None:
    model = your_model()
    recorder = Recorder("torch", "model", save_path=tmp_path, recorder_name="whole", models={"net": model})
    recorder.step()
    recorder.save_models()  # the seed's "model" mode saved nothing ("to be finished")
    recorder.save_checkpoints()
    recorder.run.finish()
    loaded = Recorder("torch", "model").load(tmp_path / "whole.json")  # names come from the file
    assert isinstance(loaded["net"], torch.nn.Sequential) and same_weights(loaded["net"], model)


def test_files_the_seed_wrote_load_and_enter_the_store(tmp_path: Path) -> None:
    model = your_model()
    torch.save(model.state_dict(), tmp_path / "old_CNN_1.pkl")
    seed_json = {"id": "6f1c2e0a9b8d11eb", "recorder_name": "old", "save_path": str(tmp_path), "mode": "torch",
                 "model_names": ["CNN_1"], "desp": "v1", "steps": 2, "epochs": 0,
                 "data": {"loss": [[1, 0.5], [2, 0.25]]}}
    (tmp_path / "old.json").write_text(json.dumps(json.dumps(seed_json)))  # double-encoded, as the seed wrote
    target = your_model()
    recorder = Recorder("torch", "state_dict", save_path=tmp_path, models={"CNN_1": target})
    assert same_weights(recorder.load(tmp_path / "old.json")["CNN_1"], model)
    assert recorder.run.history("loss") == ([1, 2], [0.5, 0.25])   # the old data is in the store now
    assert isinstance(json.loads((tmp_path / "old.json").read_text()), dict)  # rewritten as one object


def test_a_recorder_that_started_its_own_run_loads_another(tmp_path: Path) -> None:
    model = your_model()
    first = Recorder("torch", "state_dict", save_path=tmp_path, recorder_name="a", models={"m": model})
    first.checkpoint({"x": 1})
    first.save_models()
    first.save_checkpoints()
    first.run.finish()
    other = Recorder("torch", "state_dict", save_path=tmp_path, recorder_name="b", models={"m": your_model()})
    own = other.run  # b.json was written at construction, naming this run
    assert same_weights(other.load(tmp_path / "a.json")["m"], model)
    assert other.run.id == first.run.id and own.status == "finished" and other.recorder_name == "a"
    third = Recorder("torch", "state_dict", models={"m": your_model()})
    third.load(tmp_path / "a.json")
    assert third.run is other.run  # live in this process already: both handles write the one run


def test_the_seeds_rough_edges(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="only 'torch'"):
        Recorder("keras", "state_dict", save_path=tmp_path)
    with pytest.raises(ValueError, match="save_mode"):
        Recorder("torch", "pickle", save_path=tmp_path)
    with pytest.raises(rk.InvalidNameError):
        Recorder("torch", "state_dict", save_path=tmp_path, recorder_name="../escape")
    first = Recorder("torch", "state_dict", save_path=tmp_path)  # no recorder_name: the seed crashed here
    second = Recorder("torch", "state_dict", save_path=tmp_path)
    first.set_models({"a": your_model()})
    assert second.models == {}  # the seed's `models={}` default was one dict shared by every recorder
    with pytest.raises(ValueError, match="recorder_name"):
        first.save_checkpoints()
    with pytest.raises(ValueError, match="set_models"):
        second.save_models()
    with pytest.raises(ValueError, match="models to load into"):
        second.load(_json(tmp_path))


def _json(folder: Path) -> Path:
    path = folder / "x.json"
    path.write_text(json.dumps({"id": "", "recorder_name": "x", "save_path": str(folder), "mode": "torch",
                                "model_names": ["a"], "desp": "", "steps": 0, "epochs": 0, "data": {}}))
    return path
