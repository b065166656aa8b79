"""MLVLogger's API over recordkit: the README's sub-experiment layout, meta.json, the live log, navigation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import recordkit as rk
from recordkit.compat.mlvlogger import Exp, experiment_id


def strict_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSON Lines file, refusing NaN and Infinity (strict JSON)."""
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not strict JSON")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


@pytest.fixture
def code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git checkout to run experiments from (meta.json records its commit)."""
    folder = tmp_path / "code"
    folder.mkdir()
    for command in (["init", "-q"], ["-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty",
                                     "-m", "start"]):
        subprocess.run(["git", *command], cwd=folder, check=True, capture_output=True)
    monkeypatch.chdir(folder)
    return folder


# The README's sub-experiment helper, in a script of its own (./squeeze.py), run after ./train.py has ended.
SQUEEZE_PY = '''
import os
import sys
from recordkit.compat.mlvlogger import Exp

def init_squeeze_exp(checkpoint, name, params):
    c = os.path.basename(checkpoint)
    # The README slices `x` here, a name it never defines (NameError); the checkpoint path is what it means.
    savedir = checkpoint[:len(checkpoint)-len(c)]
    savedir = os.path.join(savedir, "squeeze")
    return Exp(savedir, name, params, kind="squeeze")

exp = init_squeeze_exp(sys.argv[1], sys.argv[2], {"ratio": float(sys.argv[3])})
exp.logger.event("pruned", ratio=float(sys.argv[3]), acc=0.9)
exp.close()
print(exp.id)
'''


def test_readme_sub_experiments(tmp_path: Path, code: Path) -> None:
    storage = tmp_path / "storage"
    import torch

    with Exp(storage, "my_exp_1", {"lr": 0.1, "layers": [64, 32]}) as exp:
        for epoch in range(2):
            with exp.logger.child(f"epoch/{epoch}").timed("train", batches=10):
                pass
            exp.logger.child(f"epoch/{epoch}").event("eval", acc=0.5 + epoch / 10)
        torch.save({"w": torch.ones(2)}, exp.folder / "model_best.pth.tar")
    (code / "squeeze.py").write_text(SQUEEZE_PY)
    checkpoint = str(exp.folder / "model_best.pth.tar")
    ids = []
    for name, ratio in (("subexp_1", "0.5"), ("subexp_2", "0.7")):
        done = subprocess.run([sys.executable, "squeeze.py", checkpoint, name, ratio], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        ids.append(done.stdout.strip())

    # The README's tree.
    for folder in (storage / "my_exp_1", storage / "my_exp_1" / "squeeze" / "subexp_1",
                   storage / "my_exp_1" / "squeeze" / "subexp_2"):
        assert (folder / "meta.json").is_file() and (folder / "log.jsonl").is_file()
    assert (storage / "my_exp_1" / "model_best.pth.tar").is_file()

    meta = json.loads((storage / "my_exp_1" / "meta.json").read_text())
    assert meta["params"] == {"lr": 0.1, "layers": [64, 32]} and meta["kind"] is None
    assert meta["git"]["commit"] and meta["command"]["argv"] and meta["environment"]["python"]["version"]
    assert meta["id"] == exp.id == experiment_id(meta)  # recomputable from the file itself
    sub_meta = json.loads((storage / "my_exp_1" / "squeeze" / "subexp_1" / "meta.json").read_text())
    assert sub_meta["kind"] == "squeeze" and sub_meta["parent"] == exp.id and sub_meta["id"] == ids[0]
    assert sub_meta["params"] == {"ratio": 0.5} and sub_meta["command"]["argv"][0] == "squeeze.py"

    lines = strict_lines(storage / "my_exp_1" / "log.jsonl")
    assert [line["name"] for line in lines] == ["started", "epoch/0/train", "epoch/0/eval", "epoch/1/train",
                                                "epoch/1/eval", "finished"]
    assert lines[1]["duration"] >= 0 and lines[1]["data"] == {"batches": 10} and lines[2]["data"] == {"acc": 0.5}

    # Underneath: one store at /storage, the sub-experiments sub-runs of my_exp_1's run, every event recorded.
    store = rk.open(storage)
    (run,) = [r for r in store.collection("mlvlogger").runs() if r.parent_id is None]
    assert run.name == "my_exp_1" and dict(run.config) == {"lr": 0.1, "layers": [64, 32]}
    assert sorted(child.name for child in run.children("squeeze")) == ["subexp_1", "subexp_2"]
    assert run.events.under("epoch").named("epoch/1/eval")[0].data == {"acc": 0.6}
    frame = store.collection("mlvlogger").events.to_pandas()
    assert frame[frame["name"] == "pruned"]["data.ratio"].tolist() == [0.5, 0.7]
    best = store.sql("select max(json_extract(data, '$.acc')) from events where name like ?", ["epoch/%/eval"])
    assert best.scalar() == pytest.approx(0.6)


def test_the_log_is_live_and_strict(tmp_path: Path, code: Path) -> None:
    exp = Exp(tmp_path, "live", {"seed": 1}, kind="train", capture=False)
    exp.logger.event("loss", value=float("nan"), best=float("inf"))
    lines = strict_lines(exp.folder / "log.jsonl")  # read while the experiment runs
    assert lines[-1]["name"] == "loss"
    assert lines[-1]["data"] == {"value": {"$float": "nan"}, "best": {"$float": "inf"}}
    with pytest.raises(TypeError):
        exp.logger.event("bad", value=object())  # refused before anything is written
    assert len(strict_lines(exp.folder / "log.jsonl")) == 2
    exp.close()
    with pytest.raises(rk.RunStateError):
        exp.logger.event("late")
    assert exp.run.status == "finished" and exp.run.tags == ("train",)


def test_navigation(tmp_path: Path, code: Path) -> None:
    exp = Exp(tmp_path, "nav", capture=False)
    log = exp.logger
    for epoch in (1, 2):
        log.child("epoch")[str(epoch)].event("eval", acc=epoch / 10)
    log.event("done")
    epoch_2 = log.child("epoch").child("2")
    assert epoch_2.path == "epoch/2" and epoch_2.parent is not None and epoch_2.parent.path == "epoch"
    assert log.parent is None and epoch_2.root is log
    assert log.child("epoch").children() == ["1", "2"]
    assert [e.name for e in epoch_2.events] == ["epoch/2/eval"]
    assert "done" in log.children() and "epoch" in log.children()
    with pytest.raises(ZeroDivisionError), epoch_2.timed("oops"):
        raise ZeroDivisionError
    assert strict_lines(exp.folder / "log.jsonl")[-1]["data"] == {"error": "ZeroDivisionError"}
    exp.close()


def test_a_failed_experiment_keeps_its_files(tmp_path: Path, code: Path) -> None:
    with pytest.raises(RuntimeError), Exp(tmp_path, "broken", {"lr": 1.0}, capture=False) as exp:
        exp.attach(b"partial results", name="notes.txt")
        raise RuntimeError("diverged")
    names = [line["name"] for line in strict_lines(exp.folder / "log.jsonl")]
    assert names == ["started", "attached", "failed"] and exp.run.status == "failed"
    assert exp.run.open_file("notes.txt").read() == b"partial results"
    assert json.loads((exp.folder / "meta.json").read_text())["params"] == {"lr": 1.0}


def test_names_and_folders(tmp_path: Path, code: Path) -> None:
    Exp(tmp_path, "once", capture=False).close()
    with pytest.raises(FileExistsError, match="another name"):
        Exp(tmp_path, "once", capture=False)
    for bad in ("a/b", ".hidden", "mlvlogger"):
        with pytest.raises(rk.InvalidNameError):
            Exp(tmp_path, bad, capture=False)
    assert not any(Path(tmp_path).glob("a/b")) and os.path.isdir(tmp_path / "once")


def test_a_sub_experiment_of_a_live_parent(tmp_path: Path, code: Path) -> None:
    with Exp(tmp_path, "train", {"lr": 0.1}, capture=False) as parent:
        with Exp(parent.folder / "eval", "eval_1", {"split": "val"}, kind="eval", capture=False) as child:
            child.logger.event("acc", value=0.8)
        assert child.run.parent_run is not None and child.run.parent_run.id == parent.run.id
        assert child.run.kind == "eval" and json.loads((child.folder / "meta.json").read_text())["parent"] == parent.id
    nested = Exp(child.folder, "deeper", capture=False)  # an experiment folder itself as savedir
    assert nested.run.parent_run is not None and nested.run.parent_run.id == child.run.id
    nested.close()
