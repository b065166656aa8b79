"""Exact output of the command line for a small fixed store, compared with files in tests/cli/golden/.

The store is recorded through the library; what changes from one recording to the next is pinned:
run times are set to fixed instants in the database, the clock is read in UTC, and run ids and the
store's path are replaced in the output by fixed stand-ins (ids of the same width, so tables keep
their layout; trailing blanks are dropped, since rich pads cells to the real path's width).
Regenerate the files after an intended change of the output with::

    UPDATE_GOLDEN=1 pytest tests/cli/test_golden.py

and review the diff (``git diff tests/cli/golden``) before committing.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import recordkit as rk
from recordkit.cli import main

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
#: 2026-01-01 00:00:00 UTC; run i starts i minutes later.
EPOCH = 1_767_225_600.0
DURATIONS = (12.5, 3.25, 75.0, 0.5)


@pytest.fixture(autouse=True)
def fixed_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """UTC clock, an 80-column console, and no store named by the environment."""
    monkeypatch.delenv("RECORDKIT_STORE", raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="module")
def pinned_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The store of the golden files, and its run ids mapped to fixed stand-ins."""
    path = tmp_path_factory.mktemp("golden") / "records"
    store = rk.open(path)
    study = store.collection("study")
    config = {"lr": 0.1, "opt": {"name": "sgd"}}
    with study.start_run(config=config, name="base", tags=["baseline"], capture=False) as r:
        train = r.scope(phase="train")
        train.log(loss=1.0, acc=0.5)
        r.next_step()
        train.log(loss=0.5, acc=0.75)
        r.scope(phase="eval").log(loss=0.6, acc=0.7)
        r.attach(b"weights", name="model.bin")
        r.event("epoch/1", acc=0.75)
    base = r
    with pytest.raises(RuntimeError), study.start_run(config={"lr": 0.2}, name="broken", capture=False) as r:
        r.log(loss=2.0)
        raise RuntimeError("diverged")
    with study.start_run(config={"lr": 0.3, "opt": {"name": "adam"}}, name="[wide]", capture=False) as r:
        r.log(loss=0.3, note="a,b")
        r.next_step()
        r.log(loss=float("nan"))
    with store.collection("other").start_run(config={"lr": 0.1}, name="solo", capture=False) as r:
        r.log(x=1)
        r.link(base, "compares-with", note="same lr")
    ids = [run.id for run in store.runs()]
    store.close()
    conn = sqlite3.connect(path / "recordkit.db")
    with conn:
        for i, (run_id, duration) in enumerate(zip(ids, DURATIONS, strict=True)):
            start = EPOCH + 60 * i
            conn.execute(
                "UPDATE runs SET start_time = ?, end_time = ?, heartbeat = ? WHERE id = ?",
                (start, start + duration, start, run_id),
            )
            # The traceback names this file's lines: pinned too.
            conn.execute(
                "UPDATE runs SET error = json_set(error, '$.traceback', 'Traceback (pinned)') WHERE id = ? AND error"
                " IS NOT NULL",
                (run_id,),
            )
        # Events, files and links: a fixed time after their run's start; the process that recorded them pinned.
        for table, column in (("events", "run_id"), ("files", "run_id"), ("links", "source_id")):
            conn.execute(
                f"UPDATE {table} SET time = (SELECT start_time FROM runs WHERE id = {table}.{column}) + seq * 0.25"
            )
        conn.execute("UPDATE events SET data = json_set(data, '$.pid', 4242, '$.host', 'host') WHERE name = 'started'")
    conn.close()
    stand_ins = {run_id: "r" + f"{i + 1:x}" * 15 for i, run_id in enumerate(ids)}
    return path, stand_ins


def normalise(text: str, path: Path, stand_ins: dict[str, str]) -> str:
    for run_id, stand_in in stand_ins.items():
        text = text.replace(run_id, stand_in).replace(run_id[:8], stand_in[:8])
    text = text.replace(str(path.resolve()), "<store>").replace(str(path), "<store>")
    # Rich pads a table's cells to the widest value, here the (longer) real path: drop trailing blanks.
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


def check_golden(name: str, text: str) -> None:
    golden = GOLDEN / f"{name}.txt"
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
        return
    assert golden.exists(), f"{golden} is missing; create it with UPDATE_GOLDEN=1 pytest {__file__}"
    expected = golden.read_text(encoding="utf-8")
    assert text == expected, f"output differs from {golden}; if intended, regenerate with UPDATE_GOLDEN=1"


CASES = [
    pytest.param("ls", ["ls"], id="ls"),
    pytest.param("ls_csv", ["ls", "--format", "csv"], id="ls-csv"),
    pytest.param("ls_json", ["ls", "--format", "json", "--config", "lr"], id="ls-json"),
    pytest.param(
        "ls_filtered",
        ["ls", "-C", "study", "--where", "status=finished", "--sort", "-loss", "--config", "lr,opt.name"],
        id="ls-where-sort-config",
    ),
    pytest.param(
        "ls_limit", ["ls", "--sort", "-start", "--limit", "2", "--columns", "id,name,start,end"], id="ls-limit"
    ),
    pytest.param("show", ["show", "study/1"], id="show"),
    pytest.param("show_failed", ["show", "r222"], id="show-failed-by-prefix"),
    pytest.param("show_json", ["show", "study/1", "--format", "json"], id="show-json"),
    pytest.param("events", ["events", "study/1"], id="events"),
    pytest.param("events_jsonl", ["events", "study/1", "--under", "epoch", "-f", "jsonl"], id="events-under-jsonl"),
    pytest.param("diff", ["diff", "study/1", "study/2"], id="diff"),
    pytest.param("diff_json", ["diff", "study/1", "study/2", "-f", "json"], id="diff-json"),
    pytest.param(
        "records",
        ["records", "-C", "study", "--columns", "experiment_number,error_number,step,phase,loss,acc,note"],
        id="records",
    ),
    pytest.param("records_csv", ["records", "--columns", "run_name,step,phase,loss,x", "-f", "csv"], id="records-csv"),
    pytest.param("records_jsonl", ["records", "--run", "study/2", "-c", "step,loss,note", "-f", "jsonl"], id="jsonl"),
]


def _resolve(args: list[str], stand_ins: dict[str, str]) -> list[str]:
    """Arguments may name a run by a stand-in prefix (``r222``): put the real id back."""
    real = {stand_in: run_id for run_id, stand_in in stand_ins.items()}
    out = []
    for arg in args:
        matches = [run_id for stand_in, run_id in real.items() if stand_in.startswith(arg)]
        out.append(matches[0] if len(arg) >= 4 and len(matches) == 1 else arg)
    return out


@pytest.mark.parametrize(("name", "args"), CASES)
def test_golden_output(pinned_store: tuple[Path, dict[str, str]], name: str, args: list[str]) -> None:
    path, stand_ins = pinned_store
    result = CliRunner().invoke(main, [*_resolve(args, stand_ins), "--store", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    check_golden(name, normalise(result.stdout, path, stand_ins))


@pytest.mark.parametrize(
    ("name", "args"),
    [
        pytest.param("ls", ["ls"], id="ls"),
        pytest.param("show_json", ["show", "study/1", "-f", "json"], id="show-json"),
        pytest.param("show", ["show", "study/1"], id="show"),
        pytest.param("events", ["events", "study/1"], id="events"),
    ],
)
def test_golden_output_of_a_real_process(pinned_store: tuple[Path, dict[str, str]], name: str, args: list[str]) -> None:
    """``python -m recordkit`` prints exactly what the runner captured (same golden file)."""
    if UPDATE:
        pytest.skip("golden files are being regenerated")
    path, stand_ins = pinned_store
    env = {k: v for k, v in os.environ.items() if k != "RECORDKIT_STORE"}
    env.update(COLUMNS="80", TZ="UTC")
    done = subprocess.run(
        [sys.executable, "-m", "recordkit", *args, "--store", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    check_golden(name, normalise(done.stdout, path, stand_ins))


def test_every_golden_file_is_used() -> None:
    used = {case.values[0] for case in CASES}
    on_disk = {path.stem for path in GOLDEN.glob("*.txt")}
    assert on_disk <= used, f"stale golden files: {sorted(on_disk - used)}"
