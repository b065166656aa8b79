"""RecordkitCallback with the real Transformers Trainer on the CPU: a tiny BERT built from a config, no downloads."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

# Nothing may reach the Hub: the model is built from a config, the data are random tokens.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import recordkit as rk

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from recordkit.integrations.transformers import RecordkitCallback  # noqa: E402


class RandomTokens(torch.utils.data.Dataset):  # type: ignore[misc]
    """Sequences of random token ids; the label is whether token 1 occurs (learnable, if barely)."""

    def __init__(self, n: int, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(2, 30, (n, 8), generator=generator)
        self.ids[::2, 3] = 1
        self.labels = (self.ids == 1).any(dim=1).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(8, dtype=torch.long), "labels": self.labels[i]}


def tiny_bert() -> Any:
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=16, num_labels=2)
    return transformers.BertForSequenceClassification(config)


def arguments(tmp_path: Path, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "output_dir": str(tmp_path / "hf"), "max_steps": 6, "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 8, "learning_rate": 1e-3, "logging_steps": 2, "eval_strategy": "steps",
        "eval_steps": 3, "save_strategy": "no", "report_to": "none", "use_cpu": True, "disable_tqdm": True,
        "seed": 0,
    }
    options.update(kwargs)
    return transformers.TrainingArguments(**options)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = rk.open(tmp_path / "records")
    yield opened
    opened.close()


def test_a_training_is_one_finished_run_with_arguments_logs_and_evaluations(tmp_path: Path, store: rk.Store) -> None:
    callback = RecordkitCallback("hf", store=store, config={"data": "random"}, capture=False)
    trainer = transformers.Trainer(model=tiny_bert(), args=arguments(tmp_path), train_dataset=RandomTokens(32),
                                   eval_dataset=RandomTokens(16, seed=1), callbacks=[callback])
    trainer.train()

    (run,) = store.collection("hf").runs()
    assert run is not None and callback.run is not None and run.id == callback.run.id
    assert run.status == "finished"
    assert run.config["data"] == "random"
    assert run.config["learning_rate"] == 1e-3 and run.config["max_steps"] == 6
    assert run.config["model"]["hidden_size"] == 16 and run.config["model"]["model_type"] == "bert"
    assert not any(key.endswith("_token") for key in run.config)
    assert run.history("loss")[0] == [2, 4, 6]  # logging_steps=2
    assert run.history("learning_rate")[0] == [2, 4, 6]
    steps, losses = run.history("eval_loss")
    assert steps == [3, 6] and all(isinstance(v, float) for v in losses)  # eval_steps=3
    assert run.history("train_loss")[0] == [6]  # the Trainer's summary at the end
    assert run.history("epoch")[1][-1] == pytest.approx(0.75)  # 6 steps of 4 out of 32 samples


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_training_on_a_gpu_records_plain_numbers(tmp_path: Path, store: rk.Store) -> None:
    callback = RecordkitCallback("hf", store=store, capture=False)
    transformers.Trainer(model=tiny_bert(), args=arguments(tmp_path, use_cpu=False), train_dataset=RandomTokens(32),
                         eval_dataset=RandomTokens(16, seed=1), callbacks=[callback]).train()
    (run,) = store.collection("hf").runs()
    assert run.status == "finished" and run.config["use_cpu"] is False
    assert run.history("loss")[0] == [2, 4, 6] and run.history("eval_loss")[0] == [3, 6]
    assert all(type(v) is float for v in run.history("loss")[1] + run.history("eval_loss")[1])


def test_saved_checkpoints_are_referenced_by_the_run(tmp_path: Path, store: rk.Store) -> None:
    callback = RecordkitCallback("hf", store=store, capture=False)
    args = arguments(tmp_path, eval_strategy="no", save_strategy="steps", save_steps=3, save_total_limit=1)
    transformers.Trainer(model=tiny_bert(), args=args, train_dataset=RandomTokens(32), callbacks=[callback]).train()
    (run,) = store.collection("hf").runs()
    references = {f.name: f for f in run.files if f.kind == "reference"}
    assert sorted(references) == ["checkpoints/checkpoint-3", "checkpoints/checkpoint-6"]
    assert Path(str(references["checkpoints/checkpoint-6"].path)) == (tmp_path / "hf" / "checkpoint-6").resolve()
    assert (tmp_path / "hf" / "checkpoint-6" / "model.safetensors").is_file()


def test_evaluate_and_predict_after_train_continue_the_same_run(tmp_path: Path, store: rk.Store) -> None:
    callback = RecordkitCallback("hf", store=store, capture=False)
    trainer = transformers.Trainer(model=tiny_bert(), args=arguments(tmp_path, eval_strategy="no"),
                                   train_dataset=RandomTokens(32), callbacks=[callback])
    trainer.train()
    metrics = trainer.evaluate(RandomTokens(16, seed=1))
    trainer.predict(RandomTokens(8, seed=2))
    (run,) = store.collection("hf").runs()
    assert run.status == "finished"
    assert run.history("eval_loss") == ([6], [pytest.approx(metrics["eval_loss"])])
    assert run.history("test_loss")[0] == [6]
    assert [e.name for e in run.events if e.name in ("finished", "resumed")] == ["finished", "resumed"] * 2 + [
        "finished"]


def test_an_evaluation_without_training_is_a_run_of_its_own(tmp_path: Path, store: rk.Store) -> None:
    callback = RecordkitCallback("hf", store=store, capture=False)
    trainer = transformers.Trainer(model=tiny_bert(), args=arguments(tmp_path), eval_dataset=RandomTokens(16),
                                   callbacks=[callback])
    first = trainer.evaluate()
    trainer.evaluate()
    (run,) = store.collection("hf").runs()
    assert run.status == "finished"
    assert run.history("eval_loss") == ([0, 0], [pytest.approx(first["eval_loss"])] * 2)
    assert run.config["model"]["num_hidden_layers"] == 1


def test_processes_other_than_the_main_one_record_nothing(tmp_path: Path, store: rk.Store) -> None:
    callback = RecordkitCallback("hf", store=store, capture=False)
    args = arguments(tmp_path)
    state = transformers.TrainerState(is_world_process_zero=False)
    control = transformers.TrainerControl()
    callback.on_train_begin(args, state, control, model=tiny_bert())
    callback.on_log(args, state, control, logs={"loss": 0.5})
    callback.on_train_end(args, state, control)
    assert callback.run is None
    assert store.collection("hf").runs() == []


def test_a_run_the_user_started_is_logged_into_and_left_open(tmp_path: Path, store: rk.Store) -> None:
    with store.collection("mine").start_run(capture=False) as own:
        callback = RecordkitCallback(run=own, prefix="hf/")
        transformers.Trainer(model=tiny_bert(), args=arguments(tmp_path, eval_strategy="no"),
                             train_dataset=RandomTokens(32), callbacks=[callback]).train()
        assert own.status == "running"
        own.flush()
        assert own.history("hf/loss")[0] == [2, 4, 6]
    assert own.status == "finished"


FAILING = """
import os, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
import transformers
from test_transformers import RandomTokens, arguments, tiny_bert
from recordkit.integrations.transformers import RecordkitCallback


class Boom(transformers.TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 3:
            raise RuntimeError("boom at step 3")


callback = RecordkitCallback("hf", store={store!r}, capture=False)
transformers.Trainer(model=tiny_bert(), args=arguments(Path({tmp!r}), logging_steps=1, eval_strategy="no"),
                     train_dataset=RandomTokens(32), callbacks=[callback, Boom()]).train()
"""


def test_a_training_that_raises_leaves_a_failed_run(tmp_path: Path) -> None:
    """A real interpreter whose training raises: no callback event, recordkit's exit handling fails the run."""
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(FAILING.format(tests=str(Path(__file__).parent),
                                                     store=str(tmp_path / "records"), tmp=str(tmp_path))))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 1 and "boom at step 3" in done.stderr
    store = rk.open(tmp_path / "records")
    (run,) = store.collection("hf").runs()
    assert run.status == "failed"
    assert run.error is not None and "boom at step 3" in run.error["message"]
    assert run.history("loss")[0] == [1, 2]  # step 3 raised before its log
    store.close()
