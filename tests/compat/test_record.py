"""record's API (MongoDB documents) over recordkit: the README client, Extended JSON, and the bugs fixed."""

from __future__ import annotations

import argparse
import configparser
import datetime
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import recordkit as rk
from recordkit.compat.record import Record, drop_collection, export_extended_json, find

SYSTEM_KEYS = ("python", "machine", "processor", "os", "os_name", "os_ver", "memory", "storage", "user", "gpus")

# The README's main.py with only `from record import Record` changed. It runs unchanged otherwise: its
# visualize() reads the record back by _id while the process still runs, which the seed could not do
# (it saved the document only at exit, so `record['models']` raised KeyError there).
README_MAIN = '''
from datetime import datetime as dt

import torch
import torch.nn as nn
import torch.optim as optim
import torch.nn.functional as F
import argparse
from recordkit.compat.record import Record
import matplotlib.pyplot as plt
from pprint import pprint
import numpy as np


\'\'\'
Visualize all training losses
inputs:
record (Record) Record object containing training data
\'\'\'
def visualize(_id, experiment):
	record = Record(_id=_id, database='experiments', collection=experiment)

	for model in record['models'].values():
		plt.plot(model['losses'], c=model['color'], label=model['label'])

	plt.title('Training Losses')
	plt.legend(loc='upper right')
	plt.show()


def train(model_list, epochs, learning_rate, record):
	loss = F.nll_loss
	all_models = {}

	for i, model in enumerate(model_list):
		# collect ith model's parameters
		losses = []
		model_key = f'model_{i}'
		model_data = {'params': [p.tolist() for p in model.parameters()]}

		for e in range(epochs):
			inp = torch.randn(3, 5)
			tgt = torch.tensor([1, 0, 4])
			l = F.nll_loss(F.log_softmax(inp, dim=1), tgt)
			losses.append(l.detach().tolist())

		# collect ith model's losses
		model_data['losses'] = losses
		model_data['color'] = np.random.rand(3,).tolist()
		model_data['label'] = model_key

		# store ith model's data
		all_models[model_key] = model_data

	# add all model data to record
	record.update(all_models, key='models')


def main():

	# Save argparse parameters
	parser = argparse.ArgumentParser()
	parser.add_argument('--learning_rate', '-lr', type=float, default=0.01, help='Learning rate default: 0.01')
	parser.add_argument('--epochs', '-e', type=int, default=10, help='Training epochs default: 1')
	args = parser.parse_args()

	# Create a Record and save args
	experiment = dt.today().strftime("%b-%d-%Y")
	rec = Record(database='experiments', collection=experiment)
	rec.update(args)

	# Or save dictionaries
	rec.update({'desc': 'Example of how to use Record'})

	model_list = [nn.Linear(2,3), nn.Linear(2,3)]
	train(model_list, args.epochs, args.learning_rate, rec)

	# Retrieve the record and visualize it
	visualize(rec._id, experiment)


if __name__ == '__main__':
	main()
'''


def test_readme_client(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(README_MAIN)
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "main.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr

    store = rk.open(tmp_path / "experiments")
    (collection,) = [c.name for c in store.collections()]
    (doc,) = find(collection, database=store)
    assert list(doc)[:10] == list(SYSTEM_KEYS)
    assert doc["learning_rate"] == 0.01 and doc["epochs"] == 10 and doc["desc"] == "Example of how to use Record"
    assert doc["os"] == os.name and doc["python"].count(".") == 2 and doc["memory"].endswith(" GB")
    assert set(doc["models"]) == {"model_0", "model_1"}
    model = doc["models"]["model_0"]
    assert [len(p) for p in model["params"]] == [3, 3] and len(model["params"][0][0]) == 2
    assert len(model["losses"]) == 10 and len(model["color"]) == 3 and model["label"] == "model_0"
    assert len(doc._id) == 24

    run = doc.run
    assert run.status == "finished" and dict(run.config) == {"learning_rate": 0.01, "epochs": 10}
    frame = store.collection(collection).records.to_pandas()
    assert frame["learning_rate"].dropna().tolist() == [0.01]
    assert frame["models"].dropna().iloc[0]["model_1"]["label"] == "model_1"
    assert store.sql("select count(*) from records where desc is not null").scalar() == 1

    from bson import ObjectId, json_util  # pymongo's own Extended JSON reader, as mongoimport reads it

    assert export_extended_json(tmp_path / "out.json", collection, database=store) == 1
    (line,) = (tmp_path / "out.json").read_text().splitlines()
    loaded = json_util.loads(line)
    assert loaded["_id"] == ObjectId(doc._id)
    assert abs(loaded["_id"].generation_time.timestamp() - run.start_time) < 1
    assert loaded["models"] == doc["models"] and loaded["user"] == doc["user"]


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "experiments"


def test_updates_are_recorded_and_read_back(database: Path) -> None:
    rec = Record(database=database, collection="Nov-27-2020")
    rec.update(argparse.Namespace(lr=0.1, epochs=2))
    parser = configparser.ConfigParser()
    parser.read_string("[train]\nbatch = 32\n")
    rec.update(parser)
    rec.update({"a": 1, "b": 2}, key="nested")
    rec.update({"b": 3}, key="nested")                 # merged into the dict already there
    rec["when"] = datetime.datetime(2020, 11, 27, 12, 30, tzinfo=datetime.timezone.utc)
    rec.update({"loss": float("nan"), "best": float("inf")})
    rec["history"] = [1.0]
    rec["history"].append(2.0)                           # changed in place: recorded at save()
    assert rec.save() == rec._id

    again = Record(_id=rec._id, database=database, collection="Nov-27-2020")
    assert again["config"] == {"DEFAULT": {}, "train": {"batch": "32"}}
    assert again["nested"] == {"a": 1, "b": 3} and again["history"] == [1.0, 2.0]
    assert again["when"] == datetime.datetime(2020, 11, 27, 12, 30, tzinfo=datetime.timezone.utc)
    assert math.isnan(again["loss"]) and again["best"] == math.inf
    assert again.run is rec.run  # the same live run: a second handle writes into it
    assert dict(rec.run.config) == {"lr": 0.1, "epochs": 2, "config": {"DEFAULT": {}, "train": {"batch": "32"}}}
    with pytest.raises(rk.ConfigError):
        rec.update(argparse.Namespace(lr=0.2))          # the config is frozen; the document is not
    with pytest.raises(TypeError, match="append-only"):
        del rec["loss"]
    with pytest.raises(ValueError, match="_id"):
        rec.update({"_id": "x"})

    from bson import json_util

    exported = json.loads(rec.to_extended_json())
    assert exported["loss"] == {"$numberDouble": "NaN"} and exported["best"] == {"$numberDouble": "Infinity"}
    assert exported["when"] == {"$date": "2020-11-27T12:30:00.000Z"}
    assert json_util.loads(rec.to_extended_json())["when"] == datetime.datetime(2020, 11, 27, 12, 30)


def test_a_finished_document_reopens_to_change(database: Path) -> None:
    rec = Record(database=database, collection="results")
    rec.update({"epochs": 1})
    rec.close()
    assert rec.run.status == "finished"
    later = Record(_id=rec._id, database=database, collection="results")
    later.update({"epochs": 2, "note": "resumed"})
    later.close()
    final = Record(_id=rec._id, database=database, collection="results")
    assert final["epochs"] == 2 and final["note"] == "resumed" and final._id == rec._id
    assert len(rk.open(database).collection("results").runs()) == 1  # one document, never a copy


def test_tensors_arrays_and_frames_become_lists(database: Path) -> None:
    import numpy as np
    import pandas as pd
    import torch

    rec = Record(database=database, collection="results")
    rec.update({"w": torch.ones(2, 2), "inner": {"a": np.arange(3)}})  # nested: the seed inserted them raw
    rec.update(pd.DataFrame({"x": [1, 2]}), key="frame")               # the seed raised NameError (`pd`)
    rec.update(pd.Series([0.5]), key="series")
    assert rec["w"] == [[1.0, 1.0], [1.0, 1.0]] and rec["inner"] == {"a": [0, 1, 2]}
    assert rec["frame"] == [[1], [2]] and rec["series"] == [0.5]


def test_retrieve_remove_and_drop(database: Path, tmp_path: Path) -> None:
    first = Record(database=database, collection="old", save_dir=tmp_path / "json")
    first.update({"x": 1})
    first.save()
    assert json.loads((tmp_path / "json" / f"{first._id}.json").read_text())["x"] == 1
    second = Record(database=database, collection="old")
    assert second.remove() and not second.remove()
    with pytest.raises(rk.RunNotFoundError, match="no document"):
        Record(_id=second._id, database=database, collection="old")
    with pytest.raises(rk.RunNotFoundError, match="no document"):
        Record(_id=first._id, database=database, collection="other")  # it lives in "old"
    assert [doc["x"] for doc in find("old", database=database)] == [1]
    assert drop_collection("old", database=database) == 1
    assert find("old", database=database) == [] and first.run.status == "finished"


def test_a_server_address_is_ignored_with_a_warning(database: Path) -> None:
    with pytest.warns(rk.RecordkitWarning, match="ignored"):
        Record(host="mongo.lab", database=database, collection="results").close()
