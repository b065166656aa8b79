"""RecordkitCallback with the real Keras 3 on its PyTorch backend, on the CPU: a tiny classifier."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras is imported: it reads the backend once

import recordkit as rk

np = pytest.importorskip("numpy")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":
    pytest.skip(f"Keras was imported with the {keras.backend.backend()} backend before this module",
                allow_module_level=True)

from recordkit.integrations.keras import RecordkitCallback  # noqa: E402


def tiny_model(lr: float = 0.01) -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def data(n: int = 40) -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64") + (x[:, 1] > 1).astype("int64")


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = rk.open(tmp_path / "records")
    yield opened
    opened.close()


def test_a_fit_is_one_finished_run_with_model_config_and_epoch_metrics(store: rk.Store) -> None:
    x, y = data()
    callback = RecordkitCallback("keras", store=store, config={"data": "gauss"}, capture=False)
    history = tiny_model(lr=0.01).fit(x, y, batch_size=10, epochs=3, validation_split=0.25, verbose=0,
                                      callbacks=[callback])

    (run,) = store.collection("keras").runs()
    assert run.status == "finished" and callback.run is not None and callback.run.id == run.id
    assert run.config["data"] == "gauss"
    assert run.config["optimizer"]["learning_rate"] == pytest.approx(0.01)
    assert run.config["optimizer"]["name"] == "adam"
    assert run.config["fit"]["epochs"] == 3 and run.config["fit"]["steps"] == 3
    assert run.config["model_class"] == "Sequential" and run.config["parameters"] == 4 * 8 + 8 + 8 * 3 + 3
    assert [layer["class_name"] for layer in run.config["model"]["layers"]] == ["InputLayer", "Dense", "Dense"]
    # 30 training samples in batches of 10: 3 batches per epoch, one record per epoch.
    assert run.history("loss") == ([3, 6, 9], pytest.approx(history.history["loss"]))
    assert run.history("val_accuracy")[1] == pytest.approx(history.history["val_accuracy"])
    assert run.history("epoch")[1] == [0, 1, 2]
    assert run.epoch == 3


def test_batches_are_recorded_in_their_own_scope_when_asked(store: rk.Store) -> None:
    x, y = data()
    callback = RecordkitCallback("keras", store=store, capture=False, log_batches=2)
    tiny_model().fit(x, y, batch_size=10, epochs=2, verbose=0, callbacks=[callback])
    (run,) = store.collection("keras").runs()
    batches = run.records.where(phase="batch")
    assert [r["step"] for r in batches] == [2, 4, 6, 8]
    assert all(isinstance(r["loss"], float) for r in batches)
    assert run.history("epoch")[0] == [4, 8]


def test_a_second_fit_is_a_second_run_and_a_users_run_stays_open(store: rk.Store) -> None:
    x, y = data()
    callback = RecordkitCallback("keras", store=store, capture=False)
    model = tiny_model()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    assert [r.status for r in store.collection("keras").runs()] == ["finished", "finished"]

    with store.collection("mine").start_run(capture=False) as own:
        tiny_model().fit(x, y, epochs=2, verbose=0, callbacks=[RecordkitCallback(run=own, prefix="k/")])
        assert own.status == "running"
        own.flush()
        assert own.history("k/epoch")[1] == [0, 1]
    assert own.status == "finished"


def test_an_evaluate_after_fit_is_recorded_in_the_same_run(store: rk.Store) -> None:
    x, y = data()
    callback = RecordkitCallback("keras", store=store, capture=False)
    model = tiny_model()
    model.fit(x, y, batch_size=10, epochs=2, validation_split=0.25, verbose=0, callbacks=[callback])
    result = model.evaluate(x, y, verbose=0, return_dict=True, callbacks=[callback])
    (run,) = store.collection("keras").runs()
    assert run.status == "finished"
    assert run.history("eval_loss") == ([6], [pytest.approx(result["loss"])])
    assert run.history("eval_accuracy")[1] == [pytest.approx(result["accuracy"])]
    assert run.history("val_loss")[0] == [3, 6]  # fit()'s validation stays val_*, no eval_* from it
    assert [e.name for e in run.events if e.name in ("finished", "resumed")] == ["finished", "resumed", "finished"]


def test_a_bad_batch_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="log_batches"):
        RecordkitCallback(log_batches=-1)


FAILING = """
import os, sys
os.environ["KERAS_BACKEND"] = "torch"
sys.path.insert(0, {tests!r})
import keras
from test_keras import data, tiny_model
from recordkit.integrations.keras import RecordkitCallback


class Boom(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("boom after epoch 1")


x, y = data()
tiny_model().fit(x, y, epochs=3, verbose=0, callbacks=[RecordkitCallback("keras", store={store!r}, capture=False),
                                                       Boom()])
"""


def test_a_fit_that_raises_leaves_a_failed_run(tmp_path: Path) -> None:
    """A real interpreter whose fit() raises: recordkit's exit handling fails the run, the epochs stay."""
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(FAILING.format(tests=str(Path(__file__).parent),
                                                     store=str(tmp_path / "records"))))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 1 and "boom after epoch 1" in done.stderr
    store = rk.open(tmp_path / "records")
    (run,) = store.collection("keras").runs()
    assert run.status == "failed" and run.error is not None and "boom after epoch 1" in run.error["message"]
    assert run.history("epoch")[1] == [0, 1]
    store.close()
