"""A bare number names a run by its number, never by an id prefix; ids never look like numbers.

The commands run as real ``python -m recordkit`` processes: ``rm 1 --yes`` once deleted the run whose id
started with ``1``.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from tests.cli.helpers import python_m, strict_json

import recordkit as rk
from recordkit._cleanup import is_run_folder_name
from recordkit.runs.meta import new_run_id


def test_new_ids_start_with_a_letter_and_are_run_folder_names() -> None:
    ids = {new_run_id() for _ in range(200)}
    assert len(ids) == 200
    for run_id in ids:
        assert re.fullmatch(r"r[0-9a-f]{15}", run_id)
        assert is_run_folder_name(run_id)
    assert is_run_folder_name("0123456789abcdef")  # an older store's id
    assert not is_run_folder_name("x123456789abcdef")


def _give_id(path: Path, run_id: str, new_id: str) -> None:
    """Rename a run in the database (as an older store's all-hex id would read)."""
    conn = sqlite3.connect(path / "recordkit.db")
    with conn:
        for table, column in (("runs", "id"), ("scopes", "run_id"), ("summary", "run_id"), ("events", "run_id")):
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (new_id, run_id))
    conn.close()


@pytest.fixture
def three_runs(store_path: Path) -> tuple[Path, list[str]]:
    """Runs c/1, c/2, c/3, where run 3's id starts with "1" (an older store's all-hex id)."""
    store = rk.open(store_path)
    ids = []
    for lr in (0.1, 0.2, 0.3):
        with store.collection("c").start_run(config={"lr": lr}, name=f"lr={lr}", capture=False) as run:
            run.log(loss=lr)
        ids.append(run.id)
    store.close()
    old_style = "1abc" + ids[2][4:]
    _give_id(store_path, ids[2], old_style)
    ids[2] = old_style
    return store_path, ids


def test_show_1_is_run_number_1_not_an_id_prefix(three_runs: tuple[Path, list[str]]) -> None:
    path, ids = three_runs
    done = python_m("show", "1", "--format", "json", "--store", str(path))
    assert done.returncode == 0, done.stderr
    shown = strict_json(done.stdout)["run"]
    assert (shown["id"], shown["number"], shown["name"]) == (ids[0], 1, "lr=0.1")


def test_rm_1_deletes_run_1_only(three_runs: tuple[Path, list[str]]) -> None:
    path, ids = three_runs
    done = python_m("rm", "1", "--yes", "--store", str(path))
    assert done.returncode == 0, done.stderr
    store = rk.open(path, create=False)
    assert [run.id for run in store.runs()] == ids[1:]  # run 3 (id starting with 1) is still there
    store.close()


def test_an_old_all_digit_id_given_in_full_still_names_its_run(three_runs: tuple[Path, list[str]]) -> None:
    path, ids = three_runs
    digits = "1234567890123456"
    _give_id(path, ids[1], digits)
    done = python_m("show", digits, "--format", "json", "--store", str(path))
    assert done.returncode == 0, done.stderr
    assert strict_json(done.stdout)["run"]["number"] == 2
    store = rk.open(path, create=False)
    assert store.run("1ab").number == 3  # a prefix that is not all digits is still a prefix
    assert store.run(2).id == store.run("2").id == digits
    store.close()


def test_a_number_in_two_collections_is_an_error_listing_them(three_runs: tuple[Path, list[str]]) -> None:
    path, ids = three_runs
    store = rk.open(path)
    with store.collection("other").start_run(capture=False):
        pass
    with pytest.raises(rk.RunNotFoundError, match=r"several collections \(c, other\).*c/1"):
        store.run(1)
    assert store.run(2).id == ids[1]  # only c has a run 2
    store.close()
    for command in (["show", "1"], ["rm", "1", "--yes"]):
        done = python_m(*command, "--store", str(path))
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr.startswith("Error: run number 1 is in several collections (c, other)")
        assert len(done.stderr.splitlines()) == 1
    assert len(rk.open(path, create=False).runs()) == 4  # nothing deleted


def test_an_unknown_number_is_a_clear_error(three_runs: tuple[Path, list[str]]) -> None:
    path, _ = three_runs
    done = python_m("show", "7", "--store", str(path))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("Error: no run number 7 in")
