"""Series identity is key plus scope (issue 14): `loss` under phase=train and phase=eval stay apart in
history, summaries, listings and plots, on both engines."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from tests.conftest import fast_run

import recordkit as rk
from recordkit.backends.labels import key_of, scope_label, scope_prefix

pytestmark = pytest.mark.backends("sqlite", "postgres")


def _train_and_eval(collection: rk.Collection) -> rk.Run:
    """The issue's case: 3 epochs of 10 train steps, an eval at the end of each, in per-epoch scopes."""
    with fast_run(collection, name="sweep") as run:
        for epoch in range(3):
            in_epoch = run.scope(epoch=epoch)
            train, evaluate = in_epoch.scope(phase="train"), in_epoch.scope(phase="eval")
            for _ in range(10):
                train.log(loss=1.0 / (run.step + 1), acc=0.5)
                run.next_step()
            evaluate.log(loss=2.0 + epoch, acc=0.9)
    return run


def test_a_key_in_two_scopes_is_two_series(collection: rk.Collection) -> None:
    run = _train_and_eval(collection)
    found = run.series("loss")
    assert [(s.label, len(s), s.scope) for s in found] == [
        ("phase=train/loss", 30, {"phase": "train"}), ("phase=eval/loss", 3, {"phase": "eval"})
    ]
    # A new per-epoch scope continues the curve: steps go up, none twice.
    train = found[0]
    assert train.steps == list(range(30)) and len(set(found[1].steps)) == 3


def test_history_picks_a_series_by_its_scope_and_refuses_to_merge(collection: rk.Collection) -> None:
    run = _train_and_eval(collection)
    assert run.history("loss", phase="eval") == ([10, 20, 30], [2.0, 3.0, 4.0])
    assert run.history("phase=eval/loss") == run.history("loss", phase="eval")  # by its label too
    steps, values = run.history("loss", phase=lambda p: p == "train")
    assert steps == list(range(30)) and values[0] == 1.0
    with pytest.raises(rk.QueryError) as ambiguous:
        run.history("loss")
    message = str(ambiguous.value)
    assert "'loss' is 2 series" in message and "phase=train/loss, phase=eval/loss" in message
    assert "phase='train' or phase='eval'" in message
    with pytest.raises(rk.QueryError, match=r"no series of 'loss' .* has phase='test'; its series are"):
        run.history("loss", phase="test")
    assert run.history("never_logged") == ([], [])


def test_summary_keeps_each_series_apart(collection: rk.Collection) -> None:
    run = _train_and_eval(collection)
    summary = run.summary()
    assert sorted(summary) == ["phase=eval/acc", "phase=eval/loss", "phase=train/acc", "phase=train/loss"]
    assert summary["phase=eval/loss"] == {"last": 4.0, "last_step": 30, "min": 2.0, "max": 4.0, "count": 3}
    assert summary["phase=train/loss"]["count"] == 30 and summary["phase=train/loss"]["last_step"] == 29
    # Record keys stay bare: the flat view and the records' columns know `loss`, not labels.
    assert sorted(collection.store.backend.keys([run.id])) == ["acc", "loss"]
    assert collection.records.where(phase="eval").mean("loss") == 3.0


def test_run_table_sorts_by_a_series_and_a_bare_key_means_its_only_series(collection: rk.Collection) -> None:
    first = _train_and_eval(collection)
    with fast_run(collection, name="other") as second:
        second.scope(phase="eval").log(loss=0.5, acc=0.95)
    rows = collection.run_table(sort="-phase=eval/acc")
    assert [row["name"] for row in rows] == ["other", "sweep"]
    assert rows[1]["phase=eval/loss"] == 4.0 and rows[1]["phase=train/loss"] == pytest.approx(1 / 30)
    with pytest.raises(rk.QueryError, match="'acc' is 2 series"):
        collection.run_table(sort="-acc")
    with fast_run(collection, name="third") as third:
        third.scope(phase="test").log(f1=0.3)
    assert collection.run_table(sort="-f1")[0]["name"] == "third"  # f1 is one series: phase=test/f1
    assert [r["name"] for r in collection.run_table(where={"f1": lambda v: v is not None})] == ["third"]
    assert first.status is rk.RunStatus.FINISHED
    # Summary functions read one series only: the mean of the last 2 eval points, not of train's.
    row = collection.run_table(where=["name=sweep"], summaries=["mean(phase=eval/loss,2)", "max(phase=train/acc)"])[0]
    assert (row["mean(phase=eval/loss,2)"], row["max(phase=train/acc)"]) == (3.5, 0.5)
    assert [r["name"] for r in collection.run_table(where=["phase=eval/loss>3"])] == ["sweep"]


def test_plots_draw_each_series_as_its_own_line(collection: rk.Collection) -> None:
    pytest.importorskip("matplotlib")
    image = pytest.importorskip("PIL.Image")
    run = _train_and_eval(collection)
    path = run.plot("loss")
    with image.open(path) as png:
        lines = json.loads(png.text["recordkit.series"])
    assert lines == [{"label": "phase=train/loss", "points": 30}, {"label": "phase=eval/loss", "points": 3}]
    by = run.plot("loss", by="phase")
    assert by != path and path.exists() and by.name == "loss-by-phase.png"  # --by never overwrites


def test_a_field_added_later_does_not_rename_a_series(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        model = run.scope(model="m1")
        model.log(loss=1.0)
        model["note"] = "added later"  # every record sees it; the series keeps its name
        model.log(loss=0.5)
    assert [s.label for s in run.series("loss")] == ["model=m1/loss"]
    assert run.summary()["model=m1/loss"]["count"] == 2
    assert [r["note"] for r in run.records] == ["added later", "added later"]


def test_labels() -> None:
    assert scope_label("", {"phase": "eval"}) == "phase=eval"
    assert scope_label("model=m1", {"training": True, "epoch": 3}) == "model=m1/training=true"
    assert scope_label("", {"epoch": 1, "step": 2, "episode": 3}) == ""
    assert scope_label("", {"rank": 0, "local_rank": 0, "node": 0, "host": "h"}) == ""
    assert scope_label("", {"rank": 2, "local_rank": 0, "node": 1, "host": "h"}) == "rank=2"
    assert key_of("phase=eval/loss") == "loss" and key_of("train/loss") == "train/loss" and key_of("a=b") == "a=b"
    assert scope_prefix("phase=eval/acc>0.9") == "phase=eval/" and scope_prefix("acc>=0.9") == ""


def test_a_version_3_store_gains_labels_and_keeps_its_summary(store_kind: str, store_path: Path) -> None:
    if store_kind != "sqlite":
        pytest.skip("the PostgreSQL upgrade is tested in tests/backends/postgres")
    with rk.open(store_path) as store, fast_run(store.collection("c")) as old:
        old.scope(phase="eval").log(loss=0.5)
    conn = sqlite3.connect(store_path / "recordkit.db", isolation_level=None)
    conn.execute("ALTER TABLE scopes DROP COLUMN label")
    conn.execute("ALTER TABLE summary DROP COLUMN name")
    conn.execute("UPDATE summary SET key = 'loss'")  # as version 3 summed it: one row per bare key
    conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    conn.close()
    with rk.open(store_path) as store:
        run = store.run(old.id)
        assert run.summary() == {"loss": {"last": 0.5, "last_step": 0, "min": 0.5, "max": 0.5, "count": 1}}
        assert store.backend.keys([run.id]) == ["loss"]
        assert [s.label for s in run.series("loss")] == ["phase=eval/loss"]  # rebuilt from the fields
        resumed = store.collection("c").resume_run(run.id)
        eval_scope = resumed.scope(phase="eval")
        eval_scope.log(loss=0.25)
        resumed.finish()
        assert resumed.summary()["phase=eval/loss"]["last"] == 0.25
