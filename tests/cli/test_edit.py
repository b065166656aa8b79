"""``recordkit tag`` and ``recordkit edit``, as real processes: a run changes, its records do not."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import python_m, strict_json

import recordkit as rk


class _Seen:
    """What the store holds of one run, read in a fresh store (closed after)."""

    def __init__(self, path: Path, number: int) -> None:
        with rk.open(path, create=False) as store:
            run = store.collection("c").run(number)
            self.name, self.tags, self.notes = run.name, run.tags, run.notes
            self.records = [(r["step"], r["loss"], r["run_name"]) for r in run.records]


_run = _Seen


def test_tag_adds_and_removes_with_plus_and_minus(small_store: Path) -> None:
    before = [(step, loss) for step, loss, _ in _run(small_store, 2).records]
    first = python_m("tag", "c/2", "+best", "-slow", "candidate", "--store", str(small_store))
    assert first.returncode == 0, first.stderr
    assert "best, candidate" in first.stdout
    # -slow and -s: a word that merely starts like the --store option is a tag to remove.
    done = python_m("tag", "2", "-candidate", "-slow", "-s", str(small_store), "-f", "json")
    assert done.returncode == 0, done.stderr
    assert strict_json(done.stdout)["tags"] == ["best"]
    run = _run(small_store, 2)
    assert run.tags == ("best",) and [(step, loss) for step, loss, _ in run.records] == before
    assert _run(small_store, 1).tags == ()  # only the run named
    listed = python_m("ls", "--where", "tag=best", "-f", "json", "--store", str(small_store))
    assert [row["number"] for row in strict_json(listed.stdout)] == [2]


def test_edit_renames_and_annotates(small_store: Path) -> None:
    done = python_m("edit", "c/3", "--name", "baseline", "--notes", "lr too high", "--store", str(small_store))
    assert done.returncode == 0, done.stderr
    run = _run(small_store, 3)
    assert (run.name, run.notes) == ("baseline", "lr too high")
    assert {name for _, _, name in run.records} == {"baseline"} and len(run.records) == 3
    shown = strict_json(python_m("show", "c/3", "-f", "json", "--store", str(small_store)).stdout)["run"]
    assert (shown["name"], shown["notes"]) == ("baseline", "lr too high")
    cleared = python_m("edit", "c/3", "--notes", "", "--store", str(small_store))
    assert cleared.returncode == 0 and _run(small_store, 3).notes is None


def test_bad_edits_are_clean_errors(small_store: Path) -> None:
    nothing = python_m("edit", "c/3", "--store", str(small_store))
    assert nothing.returncode == 2 and "give --name and/or --notes" in nothing.stderr
    both = python_m("tag", "c/3", "+x", "-x", "--store", str(small_store))
    assert (both.returncode, both.stdout) == (1, "")
    assert both.stderr.startswith("Error: tag 'x' is both added and removed")
    assert _run(small_store, 3).tags == ()
