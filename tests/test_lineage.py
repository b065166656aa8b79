"""Sub-runs nested in their parent's folder, and links between runs read from both sides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import fast_run

import recordkit as rk

# Behaviour tests run on both engines; those that need a folder store (file system, subprocess) stay SQLite-only.
pytestmark = pytest.mark.backends("sqlite", "postgres")


def test_sub_run_folder_parent_and_children(collection: rk.Collection) -> None:
    with fast_run(collection) as parent:
        with parent.sub_run("squeeze", name="subexp_1", config={"ratio": 0.5}, capture=False) as first:
            first.log(acc=0.8)
        with parent.sub_run("squeeze", name="subexp_2", capture=False) as second:
            pass
        with parent.sub_run("eval", capture=False) as unnamed:
            pass
    assert first.folder == parent.folder / "squeeze" / "subexp_1"
    assert second.folder == parent.folder / "squeeze" / "subexp_2"
    assert unnamed.folder == parent.folder / "eval" / unnamed.id
    meta = json.loads((first.folder / "meta.json").read_text())
    assert meta["parent_id"] == parent.id and meta["config"] == {"ratio": 0.5}
    assert (first.folder / "events.jsonl").exists()
    assert [c.id for c in parent.children()] == [first.id, second.id, unnamed.id]
    assert [c.id for c in parent.children("squeeze")] == [first.id, second.id]
    assert first.parent_id == parent.id and first.parent_run is not None and first.parent_run.id == parent.id
    assert (first.kind, parent.kind, parent.parent_run) == ("squeeze", None, None)
    assert [c.number for c in parent.children()] == [1, 2, 3]  # numbered among the parent's sub-runs
    assert first.records[0]["acc"] == 0.8
    assert [e.data["run_id"] for e in parent.events.named("sub_run")] == [first.id, second.id, unnamed.id]


def test_sub_runs_do_not_disturb_top_level_numbering(collection: rk.Collection) -> None:
    with fast_run(collection) as one, one.sub_run("squeeze", capture=False):
        pass
    with fast_run(collection) as two:
        pass
    assert (one.number, two.number) == (1, 2)
    assert collection.run(1).id == one.id


def test_a_later_process_adds_a_sub_run_to_a_finished_parent(store_path: Path) -> None:
    with rk.open(store_path) as store, fast_run(store.collection("study")) as parent:
        parent.log(loss=0.1)
    with rk.open(store_path) as later:
        reopened = later.collection("study").run(1)
        assert reopened.status == "finished"
        with reopened.sub_run("squeeze", name="prune", capture=False) as sub:
            sub.log(sparsity=0.5)
        assert [c.id for c in later.run(reopened.id).children()] == [sub.id]
        assert sub.folder == Path(reopened.folder) / "squeeze" / "prune"


def test_duplicate_sub_run_name_is_refused(collection: rk.Collection) -> None:
    with fast_run(collection) as parent:
        parent.sub_run("squeeze", name="same", capture=False).finish()
        with pytest.raises(rk.InvalidNameError, match="already exists"):
            parent.sub_run("squeeze", name="same", capture=False)
    assert len(parent.children()) == 1


def test_links_are_read_from_both_sides(collection: rk.Collection) -> None:
    with fast_run(collection) as base:
        pass
    with fast_run(collection) as tuned:
        link = tuned.link(base, "fine-tunes", layers=2)
        tuned.link(base.id[:8], "compares-with")
    assert (link.source_id, link.target_id, link.relation) == (tuned.id, base.id, "fine-tunes")
    assert dict(link.data) == {"layers": 2}
    assert [(lk.source_id, lk.relation) for lk in base.links()] == [
        (tuned.id, "fine-tunes"), (tuned.id, "compares-with")
    ]
    assert [lk.other(base.id) for lk in base.links("fine-tunes")] == [tuned.id]
    assert [lk.target_id for lk in tuned.links()] == [base.id, base.id]
    assert tuned.events.named("linked")[0].data == {"relation": "fine-tunes", "run_id": base.id}


def test_sub_run_is_linked_to_its_parent(collection: rk.Collection) -> None:
    with fast_run(collection) as parent, parent.sub_run("squeeze", capture=False) as sub:
        pass
    [link] = parent.links()
    assert (link.source_id, link.target_id, link.relation) == (sub.id, parent.id, "sub_run")
    assert dict(link.data) == {"kind": "squeeze"}
    assert sub.links() == parent.links()


def test_bad_links(collection: rk.Collection) -> None:
    with fast_run(collection) as other:
        pass
    with fast_run(collection) as run:
        with pytest.raises(rk.RunNotFoundError):
            run.link("ffffffffffffffff", "x")
        with pytest.raises(ValueError, match="itself"):
            run.link(run, "self")
        with pytest.raises(rk.InvalidNameError):
            run.link(other, "")
        with pytest.raises(rk.InvalidNameError):
            run.link(other, "a//b")
        with pytest.raises(TypeError):
            run.link(42, "x")  # type: ignore[arg-type]
    assert run.links() == [] and other.links() == []
