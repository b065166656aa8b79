"""The tracker habits new users bring (issue 14): wandb's steps and commit=, nested metric dicts,
the init/config/summary/finish shapes. Real stores, both engines."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from tests.conftest import fast_run

import recordkit as rk

pytestmark = pytest.mark.backends("sqlite", "postgres")


def _own(run: rk.Run, *keys: str) -> list[tuple[object, ...]]:
    return [(r["step"], *(r.own(k) for k in keys)) for r in run.records]


# --- steps: each rk.log call is the next step ----------------------------------------------------


def test_each_module_level_log_is_the_next_step(store_url: str) -> None:
    run = rk.init(project="p", store=store_url, capture=False)
    for i in range(3):
        rk.log({"loss": 1.0 / (i + 1)})
    rk.finish()
    assert _own(run, "loss") == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert run.history("loss") == ([0, 1, 2], [1.0, 0.5, 1 / 3])


def test_commit_false_accumulates_into_the_current_step(store_url: str) -> None:
    run = rk.init(project="p", store=store_url, capture=False)
    rk.log({"loss": 0.5})
    rk.log({"acc": 0.7}, commit=False)  # held back: no record yet, the step stays
    rk.log(lr=0.1, commit=False)
    rk.log({"loss": 0.4})               # step 1: one record with loss, acc and lr
    rk.log({"loss": 0.3}, commit=True)
    rk.finish()
    assert _own(run, "loss", "acc", "lr", "commit") == [
        (0, 0.5, None, None, None), (1, 0.4, 0.7, 0.1, None), (2, 0.3, None, None, None)
    ]
    assert "commit" not in run.summary()  # commit= is an option, never a metric


def test_an_explicit_step_is_kept_and_held_back_values_land_at_their_own_step(store_url: str) -> None:
    run = rk.init(project="p", store=store_url, capture=False)
    rk.log({"a": 1})                      # step 0, then 1
    rk.log({"b": 2}, commit=False)        # held back at step 1
    rk.log({"c": 3}, step=5)              # b is written at step 1 first; c at 5, the step stays 5
    rk.log({"d": 4})                      # step 5, then 6
    rk.log({"e": 5})                      # step 6
    rk.finish()
    assert [(r["step"], sorted(k for k in "abcde" if r.own(k) is not None)) for r in run.records] == [
        (0, ["a"]), (1, ["b"]), (5, ["c"]), (5, ["d"]), (6, ["e"])
    ]


def test_run_log_without_a_step_stays_at_run_step(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.log(loss=1.0)
        run.log(loss=0.9)
        run.next_step()
        run.log(loss=0.8)
        run.log({"acc": 0.5}, commit=False)  # commit= works on run.log too: into run.pending
        assert run.pending == {"acc": 0.5}
        run.log(loss=0.7)
    assert _own(run, "loss", "acc") == [(0, 1.0, None), (0, 0.9, None), (1, 0.8, None), (1, 0.7, 0.5)]


@pytest.mark.parametrize("call", ["module", "run"])
def test_a_dict_and_keyword_values_together_is_a_clear_error(store_url: str, call: str) -> None:
    run = rk.init(project="p", store=store_url, capture=False)
    log = rk.log if call == "module" else run.log
    log({"loss": 0.5})
    with pytest.raises(TypeError, match=r"got a dict and keyword values \(acc=\).*put it in the dict"):
        log({"loss": 0.4}, acc=0.9)
    with pytest.raises(TypeError, match=r"\(sync=\): beside a dict it takes only step=, commit= and flatten="):
        log({"loss": 0.4}, sync=True)  # an option misspelt or unknown
    with pytest.raises(TypeError, match="commit= takes True or False, not 'no'"):
        log({"loss": 0.4}, commit="no")
    with pytest.raises(TypeError, match="takes a dict of values"):
        log([("loss", 0.4)], step=3)  # type: ignore[arg-type]
    rk.finish()
    assert _own(run, "loss") == [(0, 0.5)]  # nothing of the refused calls was logged


# --- nested dicts flatten to a/b/c ----------------------------------------------------------------


def test_nested_dicts_flatten_to_slash_keys_that_plot_and_aggregate(store_url: str) -> None:
    run = rk.init(project="p", store=store_url, capture=False)
    for i in range(4):
        rk.log({"train": {"loss": 1.0 / (i + 1), "grad": {"norm": float(i)}}, "epoch": 0})
    rk.log({"empty": {}})  # an empty dict stays one (JSON) value
    rk.finish()
    assert run.history("train/loss") == ([0, 1, 2, 3], [1.0, 0.5, 1 / 3, 0.25])
    assert run.summary()["train/grad/norm"]["max"] == 3.0
    store = rk.open(store_url)
    records = store.collection("p").records
    assert records.mean("train/grad/norm") == 1.5
    last = list(records)[-1]
    assert last["empty"] == {}
    with fast_run(store.collection("p")) as other, pytest.raises(ValueError, match="'a/b' is given twice"):
        other.log({"a/b": 1, "a": {"b": 2}})
    store.close()


def test_flatten_false_keeps_a_dict_as_one_value(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.log({"cfg": {"depth": 3}}, flatten=False)
    assert run.records[0]["cfg"] == {"depth": 3}


# --- rk.init, rk.config, rk.summary, rk.run, rk.finish ---------------------------------------------


def test_init_takes_the_trackers_arguments(store_path: Path) -> None:
    run = rk.init(project="mnist", name="base", config={"lr": 0.1, "opt": {"name": "sgd"}}, tags=["cnn"],
                  notes="first try", group="sweep-1", dir=store_path, capture=False)
    assert rk.run is run and rk.current_run() is run
    assert (run.name, run.tags, run.notes) == ("base", ("cnn", "group:sweep-1"), "first try")
    assert rk.config.lr == 0.1 and rk.config["lr"] == 0.1 and rk.config.opt.name == "sgd"
    rk.config.update({"batch_size": 64})
    rk.config.epochs = 3
    with pytest.raises(rk.ConfigError):
        rk.config.lr = 0.2  # frozen once the run started
    with pytest.raises(AttributeError, match="the config has no key 'momentum'"):
        rk.config.momentum  # noqa: B018
    rk.log({"acc": 0.5})
    rk.summary["best_acc"] = 0.97
    assert rk.summary["acc"] == 0.5 and rk.summary["best_acc"] == 0.97 and "best_acc" in rk.summary
    rk.finish()
    assert rk.run is None
    again = rk.open(store_path).collection("mnist").run(1)
    assert dict(again.config) == {"lr": 0.1, "opt": {"name": "sgd"}, "batch_size": 64, "epochs": 3}
    assert again.summary()["best_acc"]["last"] == 0.97 and again.notes == "first try"
    assert [r.name for r in rk.open(store_path).runs(where=["tag=group:sweep-1"])] == ["base"]


def test_finish_with_an_exit_code_and_without_a_run(store_url: str) -> None:
    rk.finish()  # no current run: nothing to do
    ok = rk.init(project="p", store=store_url, capture=False)
    rk.finish(exit_code=0)
    failed = rk.init(project="p", store=store_url, capture=False)
    rk.log({"loss": 1.0}, commit=False)  # held back: written at finish
    rk.finish(exit_code=3)
    assert ok.status is rk.RunStatus.FINISHED and failed.status is rk.RunStatus.FAILED
    assert failed.error is not None and failed.error["message"] == "3"
    assert failed.history("loss") == ([0], [1.0])
    with pytest.raises(TypeError, match="a status or an exit_code"):
        rk.init(project="p", store=store_url, capture=False)
        rk.finish("failed", exit_code=1)
    rk.finish()


def test_resume_by_id(store_url: str) -> None:
    first = rk.init(project="p", id="exp-1", store=store_url, config={"lr": 0.1}, capture=False)
    rk.log({"loss": 1.0})
    rk.finish(exit_code=1)
    with pytest.raises(rk.RunStateError, match="pass resume='allow'"):
        rk.init(project="p", id="exp-1", store=store_url, capture=False)
    with pytest.raises(rk.RunStateError, match="pass resume='allow'"):
        rk.init(project="p", id="exp-1", resume="never", store=store_url, capture=False)
    with pytest.raises(rk.RunNotFoundError, match="resume='must'"):
        rk.init(project="p", id="exp-2", resume="must", store=store_url, capture=False)
    again = rk.init(project="p", id="exp-1", resume="must", store=store_url, config={"seed": 1}, capture=False)
    assert again.id == first.id == "exp-1" and dict(again.config) == {"lr": 0.1, "seed": 1}
    rk.log({"loss": 0.5})
    rk.finish()
    assert again.history("loss") == ([0, 1], [1.0, 0.5]) and again.status is rk.RunStatus.FINISHED
    fresh = rk.init(project="p", id="exp-3", resume="allow", store=store_url, capture=False)
    rk.finish()
    assert fresh.id == "exp-3" and fresh.number == 2
    for bad in ("3", "a/b", "-x", "x" * 65):
        with pytest.raises(rk.InvalidNameError, match="a run id is a letter"):
            rk.init(project="p", id=bad, store=store_url, capture=False)
    for wrong, message in (({"resume": "yes"}, "resume is"), ({"mode": "cloud"}, "mode is"),
                           ({"resume": "must"}, "needs the id=")):
        with pytest.raises(ValueError, match=message):
            rk.init(project="p", store=store_url, **wrong)  # type: ignore[arg-type]


def test_unnamed_runs_get_a_readable_name_fixed_by_their_id(collection: rk.Collection) -> None:
    from recordkit.runs.naming import friendly_name

    with fast_run(collection) as run, run.sub_run("fold", config={}, capture=False) as sub:
        pass
    assert run.name == friendly_name(run.id) and re.fullmatch(r"[a-z]+-[a-z]+-\d{1,2}", run.name)
    assert collection.run(1).name == run.name  # stored, so every reader sees it
    assert sub.name is None  # a sub-run's name is its folder's; it stays as given
    assert friendly_name("r0123456789abcde") == friendly_name("r0123456789abcde") != friendly_name("r1")


def test_mode_disabled_records_nothing_and_every_call_works(store_path: Path) -> None:
    run = rk.init(project="p", mode="disabled", config={"lr": 0.1}, dir=store_path)
    rk.log({"loss": 1.0})
    run.scope(phase="eval").log(acc=0.5)
    run.event("epoch/1")
    rk.summary["best"] = 1.0
    assert rk.config.lr == 0.1 and dict(rk.summary) == {} and run.history("loss") == ([], [])
    rk.finish()
    assert not store_path.exists()  # not even a store was created


def test_mode_offline_is_a_local_folder_never_a_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECORDKIT_STORE", "postgresql://postgres@127.0.0.1:1/none")
    monkeypatch.chdir(tmp_path)
    run = rk.init(project="p", mode="offline", capture=False)
    rk.log({"x": 1})
    rk.finish()
    assert (tmp_path / "records" / "recordkit.db").exists() and run.history("x") == ([0], [1])
    run.collection.store.close()  # waits for the background sealing, before tmp_path goes
    with pytest.raises(ValueError, match="mode='offline' records into a local folder"):
        rk.init(project="p", mode="offline", store="postgresql://postgres@127.0.0.1:1/none")


# --- small defects (issue 14) ---------------------------------------------------------------------


def test_a_seed_sets_pythonhashseed_for_its_run_only(
    collection: rk.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    with collection.start_run(seed=3, capture=["env_vars"]) as seeded:
        assert os.environ["PYTHONHASHSEED"] == "3"  # child processes of the run hash alike
    assert "PYTHONHASHSEED" not in os.environ
    with collection.start_run(capture=["env_vars"]) as later:
        pass
    assert seeded.env["seed"]["seed"] == 3 and "seed" not in later.env
    assert "PYTHONHASHSEED" not in later.env["env_vars"]  # the later run was not seeded, and says so
    monkeypatch.setenv("PYTHONHASHSEED", "11")  # the user's own value comes back after a seeded run
    with collection.start_run(seed=4, capture=False):
        assert os.environ["PYTHONHASHSEED"] == "4"
    assert os.environ["PYTHONHASHSEED"] == "11"


def test_summary_right_after_logging_on_a_live_run(collection: rk.Collection) -> None:
    with collection.start_run(capture=False) as run:  # the default flush interval: nothing written yet
        run.log(loss=0.5)
        assert run.summary()["loss"]["last"] == 0.5
        run.scope(phase="eval").log(acc=0.9)
        assert run.summary()["phase=eval/acc"]["count"] == 1


def test_every_returned_path_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    store = rk.open("records")  # a relative path, as users type it
    col = store.collection("c")
    with col.start_run(capture=False) as run:
        run.log(x=1.0, step=0)
        run.log(x=2.0, step=1)
        attached = run.attach(b"hi", name="a.txt")
    paths = [store.path, run.folder, attached.path, run.plot("x"), run.plot("x", path="mine.png"),
             col.plot("x"), col.plot("x", path="col.png"), *store.export_parquet("out"),
             *store.export("csv-out", format="csv"), *(info.path for info in run.files)]
    assert all(p is not None and Path(p).is_absolute() and Path(p).exists() for p in paths), paths
    monkeypatch.chdir(tmp_path.parent)  # the store's paths do not move with the working directory
    assert store.path == tmp_path / "records" and run.folder.is_relative_to(tmp_path)
    store.close()


@pytest.mark.parametrize("name", ["my study", "résumé 2", "exp_1.v2"])
def test_names_the_rule_allows_the_message_agrees(fresh_store: rk.Store, name: str) -> None:
    with fast_run(fresh_store.collection(name)) as run:
        pass
    assert run.collection.name == name and run.folder.parent.name == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("evil\u202egnp.exe", "RIGHT-TO-LEFT OVERRIDE", id="rtl-override"),
        pytest.param("a\u2066b", "LEFT-TO-RIGHT ISOLATE", id="isolate"),
        pytest.param("zero\u200bwidth", "ZERO WIDTH SPACE", id="zero-width"),
        pytest.param("bell\x07", "not allowed", id="control"),
        pytest.param(" padded", "leading or trailing blanks", id="blank"),
        pytest.param("a/b", "one folder name", id="slash"),
    ],
)
def test_names_that_hide_or_escape_are_refused(fresh_store: rk.Store, name: str, message: str) -> None:
    with pytest.raises(rk.InvalidNameError, match=message):
        fresh_store.collection(name)
    col = fresh_store.collection("c")
    if "/" not in name and name.strip() == name and "\x07" not in name:
        with pytest.raises(rk.InvalidNameError, match=message):
            col.start_run(name=name, capture=False)  # a run name is shown in every listing
        with pytest.raises(rk.InvalidNameError, match=message):
            col.start_run(tags=["ok", name], capture=False)
        with fast_run(col) as run, pytest.raises(rk.InvalidNameError, match=message):
            run.name = name
    assert all(run.name != name for run in fresh_store.runs())  # nothing was started under it
