"""The command line: every command, every clean error, exact output for a tiny store, and docs for all."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

import recordkit as rk
from recordkit import _report as R
from recordkit.cli import main

DOCS = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


# --- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_store_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read a store named by the environment they happen to run in."""
    monkeypatch.delenv("RECORDKIT_STORE", raising=False)


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with known values: study #1 'base', #2 'broken' (failed), #2 '[wide]' (retry); other #1 'solo'."""
    path = tmp_path_factory.mktemp("cli") / "records"
    store = rk.open(path)
    study = store.collection("study")
    with study.start_run(
        config={"lr": 0.1, "opt": {"name": "sgd"}}, name="base", tags=["baseline"], capture=False
    ) as run:
        train = run.scope(phase="train")
        train.log(loss=1.0, acc=0.5)
        run.next_step()
        train.log(loss=0.5, acc=0.75)
        run.scope(phase="eval").log(loss=0.6, acc=0.7)
    with pytest.raises(RuntimeError), study.start_run(config={"lr": 0.2}, name="broken", capture=False) as run:
        run.log(loss=2.0)
        raise RuntimeError("diverged")
    with study.start_run(config={"lr": 0.3, "opt": {"name": "adam"}}, name="[wide]", capture=False) as run:
        run.log(loss=0.3, note="a,b")
        run.next_step()
        run.log(loss=float("nan"))
    with store.collection("other").start_run(config={"lr": 0.1}, name="solo", capture=False) as run:
        run.log(x=1)
    store.close()
    return path


@pytest.fixture(scope="module")
def run_ids(tiny_store: Path) -> dict[str, str]:
    store = rk.open(tiny_store, create=False)
    try:
        return {run.name or "": run.id for run in store.runs()}
    finally:
        store.close()


def invoke(*args: str, store: Path | None = None) -> Result:
    argv = [*args, "--store", str(store)] if store is not None else list(args)
    return CliRunner().invoke(main, argv, catch_exceptions=False)


def ok(*args: str, store: Path | None = None) -> str:
    result = invoke(*args, store=store)
    assert result.exit_code == 0, result.output
    return result.stdout


def fails_cleanly(result: Result, *fragments: str) -> str:
    """Exit status 1, stdout empty, exactly one line on stderr starting with Error:, no traceback."""
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def strict_json(text: str) -> Any:
    """json.loads that refuses NaN, Infinity and -Infinity (what strict JSON parsers do)."""

    def reject(constant: str) -> None:
        raise AssertionError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=reject)


def python_m(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RECORDKIT_STORE"}
    return subprocess.run(
        [sys.executable, "-m", "recordkit", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


# --- the group -----------------------------------------------------------------------------------

COMMANDS = sorted(main.commands)


def test_the_group_has_the_commands() -> None:
    assert {"demo", "diff", "export", "gc", "ls", "plot", "records", "rm", "show", "sql", "sync"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_ends_with_an_example(command: str) -> None:
    out = ok(command, "--help")
    lines = [line.strip() for line in out.split("Options:")[0].splitlines() if line.strip()]
    assert lines[-2] == "Example:"
    assert lines[-1].startswith("recordkit ")


def test_version() -> None:
    assert rk.__version__ in ok("--version")


# --- ls ------------------------------------------------------------------------------------------


def test_ls_csv_exact(tiny_store: Path) -> None:
    columns = "number,error_number,name,status,loss,acc,note,config.lr,config.opt.name"
    out = ok("ls", "--collection", "study", "--columns", columns, "--format", "csv", store=tiny_store)
    assert out == textwrap.dedent(
        """\
        number,error_number,name,status,loss,acc,note,config.lr,config.opt.name
        1,0,base,finished,0.6,0.7,,0.1,sgd
        2,1,broken,failed,2.0,,,0.2,
        2,0,[wide],finished,nan,,"a,b",0.3,adam
        """
    )


def test_ls_table_shows_every_run(tiny_store: Path, run_ids: dict[str, str]) -> None:
    out = ok("ls", store=tiny_store)
    for name in ("base", "broken", "[wide]", "solo"):
        assert name in out
        assert run_ids[name][:8] in out
    assert "failed" in out
    assert "collection" in out.splitlines()[0]  # runs of two collections
    header = ok("ls", "--collection", "other", store=tiny_store).splitlines()[0]
    assert "collection" not in header
    assert header.split()[:2] == ["number", "err"]


def test_ls_json_is_strict_and_complete(tiny_store: Path, run_ids: dict[str, str]) -> None:
    rows = strict_json(ok("ls", "--format", "json", "--config", "lr", store=tiny_store))
    assert [row["name"] for row in rows] == ["base", "broken", "[wide]", "solo"]
    base, broken, wide, solo = rows
    assert base["id"] == run_ids["base"]
    assert base["collection"] == "study" and solo["collection"] == "other"
    assert (base["loss"], base["acc"], base["config.lr"]) == (0.6, 0.7, 0.1)
    assert (broken["status"], broken["number"], broken["error_number"]) == ("failed", 2, 1)
    assert wide["loss"] == {"$float": "nan"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", base["start"])
    assert isinstance(base["duration"], float)


@pytest.mark.parametrize(
    ("where", "names"),
    [
        pytest.param(["status=finished"], ["base", "[wide]", "solo"], id="status"),
        pytest.param(["status=failed"], ["broken"], id="failed"),
        pytest.param(["lr=0.1"], ["base", "solo"], id="bare-config-key"),
        pytest.param(["config.lr=0.2"], ["broken"], id="config-prefix"),
        pytest.param(["opt.name=adam"], ["[wide]"], id="nested-config"),
        pytest.param(["collection=other"], ["solo"], id="collection"),
        pytest.param(["tag=baseline"], ["base"], id="tag"),
        pytest.param(["number=2", "error_number=0"], ["[wide]"], id="two-conditions"),
        pytest.param(["had_error=true"], ["broken"], id="json-bool"),
        pytest.param(["name=nobody"], [], id="no-match"),
    ],
)
def test_ls_where(tiny_store: Path, where: list[str], names: list[str]) -> None:
    args = [arg for expression in where for arg in ("--where", expression)]
    rows = strict_json(ok("ls", *args, "--format", "json", store=tiny_store))
    assert [row["name"] for row in rows] == names


def test_ls_sort_and_limit(tiny_store: Path) -> None:
    rows = strict_json(ok("ls", "--sort", "-loss", "--format", "json", store=tiny_store))
    # NaN and missing values last, whatever the direction.
    assert [row["name"] for row in rows] == ["broken", "base", "[wide]", "solo"]
    rows = strict_json(
        ok("ls", "--sort", "config.lr", "--limit", "2", "--config", "lr", "-f", "json", store=tiny_store)
    )
    assert [row["config.lr"] for row in rows] == [0.1, 0.1]


@pytest.mark.parametrize("command", ["ls", "records"])
def test_the_store_may_be_the_first_argument(tiny_store: Path, command: str) -> None:
    by_option = ok(command, "-f", "json", store=tiny_store)
    assert ok(command, str(tiny_store), "-f", "json") == by_option
    assert ok(command, str(tiny_store), "-f", "json", store=tiny_store) == by_option  # the same, twice: fine
    result = invoke(command, str(tiny_store), store=tiny_store / "other")
    assert result.exit_code == 2 and "give the store once" in result.stderr


def test_ls_of_an_empty_store(store_path: Path) -> None:
    rk.open(store_path).close()
    assert "No runs" in ok("ls", store=store_path)
    assert strict_json(ok("ls", "-f", "json", store=store_path)) == []
    assert ok("ls", "-f", "csv", store=store_path).startswith("collection,number,")


def test_ls_shows_a_killed_run_as_crashed(store_path: Path) -> None:
    script = (
        "import os, recordkit as rk\n"
        f"run = rk.open({str(store_path)!r}).collection('c').start_run(name='doomed', capture=False)\n"
        "run.log(x=1)\nrun.flush()\nos.kill(os.getpid(), 9)\n"
    )
    subprocess.run([sys.executable, "-c", script], timeout=60, check=False)
    rows = strict_json(ok("ls", "-f", "json", store=store_path))
    assert [(row["name"], row["status"]) for row in rows] == [("doomed", "crashed")]
    assert "crashed" in ok("ls", store=store_path)
    assert len(strict_json(ok("ls", "--where", "status=crashed", "-f", "json", store=store_path))) == 1


# --- show ----------------------------------------------------------------------------------------


def test_show_by_id_prefix_and_number_agree(tiny_store: Path, run_ids: dict[str, str]) -> None:
    run_id = run_ids["base"]
    by_id = strict_json(ok("show", run_id, "-f", "json", store=tiny_store))
    by_prefix = strict_json(ok("show", run_id[:6], "-f", "json", store=tiny_store))
    by_number = strict_json(ok("show", "study/1", "-f", "json", store=tiny_store))
    assert by_id == by_prefix == by_number
    assert by_id["run"]["id"] == run_id
    assert by_id["config"] == {"lr": 0.1, "opt": {"name": "sgd"}}
    assert by_id["run"]["tags"] == ["baseline"]
    assert Path(by_id["run"]["folder"]) == tiny_store / "study" / run_id
    metrics = {m["key"]: m for m in by_id["metrics"]}
    assert metrics["loss"] == {"key": "loss", "last": 0.6, "last_step": 1, "min": 0.5, "max": 1.0, "count": 3}
    assert by_id["error"] is None


def test_show_number_means_the_latest_attempt(tiny_store: Path) -> None:
    shown = strict_json(ok("show", "study/2", "-f", "json", store=tiny_store))
    assert shown["run"]["name"] == "[wide]"
    assert shown["metrics"][0]["last"] == {"$float": "nan"}


def test_show_table_of_a_failed_run(tiny_store: Path) -> None:
    out = ok("show", "broken" and "study/2", store=tiny_store)
    assert "[wide]" in out  # brackets are text, not rich markup
    failed = strict_json(ok("ls", "--where", "name=broken", "-f", "json", store=tiny_store))[0]
    out = ok("show", failed["id"], store=tiny_store)
    for fragment in ("failed", "Config", "lr", "Metrics", "Error: RuntimeError: diverged", "Traceback", "folder"):
        assert fragment in out
    document = strict_json(ok("show", failed["id"], "-f", "json", store=tiny_store))
    assert document["error"]["type"] == "RuntimeError"
    assert document["error"]["message"] == "diverged"


def test_show_environment_summary(tmp_path: Path) -> None:
    store = rk.open(tmp_path / "records")
    with store.collection("c").start_run(config={"a": 1}) as run:  # full capture
        run.log(x=1)
    store.close()
    out = ok("show", "c/1", store=tmp_path / "records")
    assert "Environment" in out and "python" in out
    document = strict_json(ok("show", "c/1", "-f", "json", store=tmp_path / "records"))
    assert document["env_summary"]["python"].endswith(
        ".".join(map(str, sys.version_info[:2])) + "." + str(sys.version_info[2])
    )
    assert "python" in document["env"]


# --- records -------------------------------------------------------------------------------------


def test_records_csv_exact(tiny_store: Path) -> None:
    columns = "experiment_number,error_number,step,phase,loss,acc,note"
    out = ok("records", "--collection", "study", "--columns", columns, "--format", "csv", store=tiny_store)
    assert out == textwrap.dedent(
        """\
        experiment_number,error_number,step,phase,loss,acc,note
        1,0,0,train,1.0,0.5,
        1,0,1,train,0.5,0.75,
        1,0,1,eval,0.6,0.7,
        2,1,0,,2.0,,
        2,0,0,,0.3,,"a,b"
        2,0,1,,nan,,
        """
    )


def test_records_csv_has_every_column_by_default(tiny_store: Path) -> None:
    lines = ok("records", "-f", "csv", store=tiny_store).splitlines()
    header = lines[0].split(",")
    assert header[:2] == ["step", "time"]
    assert {"loss", "acc", "note", "x", "phase", "run_id", "experiment_duration"} <= set(header)
    assert len(lines) == 1 + 7


def test_records_json_is_strict(tiny_store: Path, run_ids: dict[str, str]) -> None:
    records = strict_json(ok("records", "--run", "study/2", "-f", "json", store=tiny_store))
    assert [r["loss"] for r in records] == [0.3, {"$float": "nan"}]
    assert records[0]["note"] == "a,b"
    assert "note" not in records[1]  # json gives each record with the keys it has
    assert records[0]["run_id"] == run_ids["[wide]"]
    assert isinstance(records[0]["time"], float)


def test_records_jsonl_one_object_per_line(tiny_store: Path) -> None:
    lines = ok(
        "records", "--collection", "study", "--columns", "step,loss", "-f", "jsonl", store=tiny_store
    ).splitlines()
    assert [strict_json(line) for line in lines][-1] == {"step": 1, "loss": {"$float": "nan"}}
    assert len(lines) == 6


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--where", "phase=eval"], [0.6], id="scope-field"),
        pytest.param(["--where", "step=1", "--collection", "study"], [0.5, 0.6, {"$float": "nan"}], id="step"),
        pytest.param(["--where", "status=failed"], [2.0], id="run-field"),
        pytest.param(["--run", "study/1", "--run", "study/2"], [1.0, 0.5, 0.6, 0.3, {"$float": "nan"}], id="two-runs"),
        pytest.param(["--run", "study/1", "--limit", "2"], [1.0, 0.5], id="limit"),
        pytest.param(["--run", "study/1", "--collection", "other"], [], id="run-outside-collection"),
    ],
)
def test_records_filters(tiny_store: Path, args: list[str], expected: list[Any]) -> None:
    records = strict_json(ok("records", *args, "--columns", "loss", "-f", "json", store=tiny_store))
    assert [r["loss"] for r in records] == expected


def test_records_table(tiny_store: Path) -> None:
    out = ok("records", "--collection", "study", store=tiny_store)
    header = out.splitlines()[0].split()
    assert header[:2] == ["experiment_number", "step"]
    assert {"loss", "acc", "note", "phase"} <= set(header)
    assert "time" not in header and "run_id" not in header
    assert "[wide]" not in out  # run_name is not a default table column…
    assert "a,b" in out


def test_records_table_says_when_it_cuts(tiny_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("recordkit.cli.TABLE_RECORD_LIMIT", 2)
    result = invoke("records", store=tiny_store)
    assert result.exit_code == 0
    assert "first 2 records" in result.stderr
    assert "first" not in invoke("records", "--limit", "2", store=tiny_store).stderr


def test_records_stream(tiny_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """csv, json and jsonl never build the whole result: no list-making method is called."""

    def forbidden(self: object) -> None:
        raise AssertionError("records were materialised")

    monkeypatch.setattr(rk.Records, "to_dicts", forbidden)
    monkeypatch.setattr(rk.Records, "to_columns", forbidden)
    for fmt in ("csv", "json", "jsonl"):
        ok("records", "-f", fmt, store=tiny_store)


def test_records_of_an_empty_store(store_path: Path) -> None:
    rk.open(store_path).close()
    assert strict_json(ok("records", "-f", "json", store=store_path)) == []
    assert ok("records", "-f", "jsonl", store=store_path) == ""


# --- diff ----------------------------------------------------------------------------------------


def test_diff_json(tiny_store: Path) -> None:
    document = strict_json(ok("diff", "study/1", "study/2", "-f", "json", store=tiny_store))
    assert document["a"]["name"] == "base" and document["b"]["name"] == "[wide]"
    differences = {(d["section"], d["key"]): d for d in document["differences"]}
    assert differences[("config", "lr")] == {"section": "config", "key": "lr", "a": 0.1, "b": 0.3}
    assert differences[("config", "opt.name")]["b"] == "adam"
    assert differences[("metrics", "loss")]["b"] == {"$float": "nan"}
    assert differences[("metrics", "acc")] == {"section": "metrics", "key": "acc", "a": 0.7}  # b lacks it
    assert differences[("metrics", "note")] == {"section": "metrics", "key": "note", "b": "a,b"}
    assert not any(section == "env" for section, _ in differences)  # both captured nothing


def test_diff_table(tiny_store: Path) -> None:
    out = ok("diff", "study/1", "study/2", store=tiny_store)
    assert "study/1" in out and "study/2" in out
    assert "(missing)" in out and "adam" in out


def test_diff_of_a_run_with_itself(tiny_store: Path) -> None:
    assert "same config" in ok("diff", "study/1", "study/1", store=tiny_store)
    assert strict_json(ok("diff", "study/1", "study/1", "-f", "json", store=tiny_store))["differences"] == []


# --- demo ----------------------------------------------------------------------------------------


def test_demo_records_runs_and_says_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = ok("demo", "--runs", "2", "--epochs", "2")
    assert str((tmp_path / "records").resolve()) in out
    assert "recordkit ls\n" in out  # the default store needs no --store
    assert ".records.to_pandas()" in out
    rows = strict_json(ok("ls", "-f", "json"))
    assert [(row["name"], row["status"]) for row in rows] == [("lr=0.3", "finished"), ("lr=1", "finished")]
    assert len(strict_json(ok("records", "--where", "phase=eval", "-f", "json"))) == 2 * 2


def test_demo_into_a_named_store(tmp_path: Path) -> None:
    target = tmp_path / "my store"
    out = ok("demo", str(target), "--runs", "1", "--epochs", "1")
    assert f"--store '{target.resolve()}'" in out  # quoted for the shell
    assert len(strict_json(ok("ls", "-f", "json", store=target))) == 1
    ok("demo", "--runs", "1", "--epochs", "1", store=target)  # --store works too, and numbers on
    assert [row["number"] for row in strict_json(ok("ls", "-f", "json", store=target))] == [1, 2]


def test_demo_store_given_twice_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("demo", str(tmp_path / "a"), "--store", str(tmp_path / "b"))
    assert result.exit_code == 2
    assert not (tmp_path / "a").exists()


# --- rm and gc -----------------------------------------------------------------------------------


@pytest.fixture
def small_store(store_path: Path) -> Path:
    """A fresh store with runs c/1, c/2, c/3 (3 records each), for commands that change it."""
    store = rk.open(store_path)
    for lr in (0.1, 0.2, 0.3):
        with store.collection("c").start_run(config={"lr": lr}, name=f"lr={lr}", capture=False) as run:
            for i in range(3):
                run.log(loss=lr * i)
    store.close()
    return store_path


def names_in(store: Path) -> list[str]:
    return [row["name"] for row in strict_json(ok("ls", "-f", "json", store=store))]


def test_rm_asks_and_deletes(small_store: Path) -> None:
    result = CliRunner().invoke(main, ["rm", "c/1", "c/2", "--store", str(small_store)], input="y\n")
    assert result.exit_code == 0, result.output
    assert "About to delete 2 runs" in result.stdout
    assert "Delete 2 runs and everything recorded for them? [y/N]" in result.stderr
    assert "Deleted 2 runs (6 records" in result.stdout
    assert names_in(small_store) == ["lr=0.3"]


def test_rm_answer_no_deletes_nothing(small_store: Path) -> None:
    for answer in ("n\n", ""):  # "no", and no terminal at all
        result = CliRunner().invoke(main, ["rm", "c/1", "--store", str(small_store)], input=answer)
        assert result.exit_code == 1
        assert "Aborted" in result.stderr
    assert names_in(small_store) == ["lr=0.1", "lr=0.2", "lr=0.3"]


def test_rm_yes_json_and_dry_run(small_store: Path) -> None:
    first = strict_json(ok("ls", "-f", "json", store=small_store))[0]
    planned = strict_json(ok("rm", first["id"][:6], "c/1", "--dry-run", "-f", "json", store=small_store))
    assert planned["dry_run"] is True
    assert planned["run_ids"] == [first["id"]]  # the same run given twice is deleted once
    core = ("records", "summary", "scopes", "runs")
    assert {k: planned["rows"][k] for k in core} == {"records": 3, "summary": 1, "scopes": 1, "runs": 1}
    assert names_in(small_store) == ["lr=0.1", "lr=0.2", "lr=0.3"]
    done = strict_json(ok("rm", "c/1", "--yes", "-f", "json", store=small_store))
    assert {k: v for k, v in done.items() if k != "dry_run"} == {k: v for k, v in planned.items() if k != "dry_run"}
    assert done["runs"] == [{"run": "c/1", "name": "lr=0.1", "status": "finished", "id": first["id"]}]
    assert names_in(small_store) == ["lr=0.2", "lr=0.3"]
    assert not (small_store / "c" / first["id"]).exists()


def test_rm_refuses_a_live_run_unless_forced(store_path: Path) -> None:
    store = rk.open(store_path)
    live = store.collection("c").start_run(capture=False)
    live.log(x=1)
    live.flush()
    line = fails_cleanly(invoke("rm", "c/1", "--yes", store=store_path), "is running", "--force")
    assert live.id in line
    assert strict_json(ok("rm", "c/1", "--yes", "--force", "-f", "json", store=store_path))["rows"]["runs"] == 1
    assert names_in(store_path) == []
    with pytest.raises(rk.StoreError, match="vanished"):
        live.finish()
    store.close()


def test_gc_dry_run_then_gc(small_store: Path) -> None:
    ok("rm", "c/2", "--yes", store=small_store)
    orphan = small_store / "c" / "0123456789abcdef"
    orphan.mkdir()
    (orphan / "meta.json").write_text("{}" * 100)
    dry = strict_json(ok("gc", "--dry-run", "-f", "json", store=small_store))
    assert dry["dry_run"] is True and orphan.exists()
    assert dry["folders"] == [str(orphan.resolve())] and dry["folder_bytes"] == 200
    table = ok("gc", "--dry-run", store=small_store)
    assert "Dry run: nothing changed" in table and "run folders without a run" in table
    assert f"Would reclaim {R.human_bytes(dry['bytes_reclaimed'])} ({dry['bytes_reclaimed']:,} bytes)." in table
    done = strict_json(ok("gc", "-f", "json", store=small_store))
    assert not orphan.exists()
    assert done["bytes_reclaimed"] == dry["bytes_reclaimed"] >= 200
    assert "Reclaimed 0 B (0 bytes)." in ok("gc", store=small_store)
    assert names_in(small_store) == ["lr=0.1", "lr=0.3"]


def test_gc_and_rm_as_real_processes(store_path: Path) -> None:
    """gc --dry-run changes no byte; gc then reclaims on disk exactly what both reported."""
    small_store = store_path
    store = rk.open(store_path)
    for lr in (0.1, 0.2, 0.3):
        with store.collection("c").start_run(config={"lr": lr}, capture=False) as run:
            for i in range(2000):  # enough that deleting two runs frees whole pages
                run.log(loss=lr * i, note=f"note {i}")
    store.close()

    def files() -> dict[str, bytes]:
        return {str(p.relative_to(small_store)): p.read_bytes() for p in sorted(small_store.rglob("*")) if p.is_file()}

    def on_disk() -> int:
        return sum(len(content) for name, content in files().items() if not name.endswith("-shm"))

    done = python_m("rm", "c/1", "c/3", "--yes", "--store", str(small_store))
    assert done.returncode == 0, done.stderr
    assert "Deleted 2 runs (4,000 records" in done.stdout
    before = files()
    dry = python_m("gc", "--dry-run", "--format", "json", "--store", str(small_store))
    assert dry.returncode == 0, dry.stderr
    assert files() == before  # not one byte changed
    size = on_disk()
    real = python_m("gc", "--format", "json", "--store", str(small_store))
    assert real.returncode == 0, real.stderr
    announced, reclaimed = strict_json(dry.stdout)["bytes_reclaimed"], strict_json(real.stdout)["bytes_reclaimed"]
    assert announced == reclaimed == size - on_disk() > 0
    done = python_m("rm", "nope", "--yes", "--store", str(small_store))
    assert done.returncode == 1 and done.stderr.startswith("Error: no run with id 'nope'")


def test_human_bytes() -> None:
    assert [R.human_bytes(n) for n in (0, 999, 1000, 4096, 999_949, 999_950, 3_500_000, 10**13)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "4.1 kB",
        "999.9 kB",
        "1.0 MB",
        "3.5 MB",
        "10.0 TB",
    ]


# --- clean errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(["ls"], "no store", id="ls"),
        pytest.param(["show", "abc"], "no store", id="show"),
        pytest.param(["records"], "no store", id="records"),
        pytest.param(["diff", "a", "b"], "no store", id="diff"),
        pytest.param(["rm", "a", "--yes"], "no store", id="rm"),
        pytest.param(["gc"], "no store", id="gc"),
        pytest.param(["gc", "--dry-run"], "no store", id="gc-dry-run"),
    ],
)
def test_a_missing_store_is_one_clean_line(tmp_path: Path, args: list[str], fragment: str) -> None:
    missing = tmp_path / "nowhere"
    fails_cleanly(invoke(*args, store=missing), fragment, str(missing))
    assert not missing.exists()  # reading never creates a store


def test_a_folder_without_a_store_is_one_clean_line(tmp_path: Path) -> None:
    fails_cleanly(invoke("ls", store=tmp_path), "no recordkit store")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(["show", "ffffffffffffffff"], "no run with id", id="unknown-id"),
        pytest.param(["show", "study/9"], "no run number 9", id="unknown-number"),
        pytest.param(["show", "study/x"], "COLLECTION/NUMBER", id="bad-number"),
        pytest.param(["show", "nope/1"], "no run number 1", id="unknown-collection-number"),
        pytest.param(["diff", "study/1", "zzzz"], "no run with id", id="diff-unknown"),
        pytest.param(["records", "--run", "zzzz"], "no run with id", id="records-unknown-run"),
        pytest.param(["rm", "zzzz", "--yes"], "no run with id", id="rm-unknown-run"),
        pytest.param(["rm", "study/9", "--yes"], "no run number 9", id="rm-unknown-number"),
        pytest.param(["ls", "--where", "status"], "KEY=VALUE", id="where-without-equals"),
        pytest.param(["ls", "--where", "=1"], "KEY=VALUE", id="where-without-key"),
        pytest.param(["ls", "--where", "lr=1", "--where", "lr=2"], "twice", id="where-twice"),
        pytest.param(["ls", "--where", "stauts=finished"], "'stauts'", id="where-typo"),
        pytest.param(["records", "--where", "phase"], "KEY=VALUE", id="records-where"),
        pytest.param(["ls", "--sort", "nope"], "cannot sort by 'nope'", id="sort"),
        pytest.param(["ls", "--columns", "name,nope"], "'nope'", id="ls-columns"),
        pytest.param(["records", "--columns", "loss,nope"], "'nope'", id="records-columns"),
        pytest.param(["ls", "--collection", "nope"], "no collection 'nope'", id="ls-collection"),
        pytest.param(["records", "--collection", "nope"], "no collection 'nope'", id="records-collection"),
        pytest.param(["ls", "--collection", "../x"], "not allowed", id="bad-collection-name"),
    ],
)
def test_errors_are_one_clean_line(tiny_store: Path, args: list[str], fragment: str) -> None:
    fails_cleanly(invoke(*args, store=tiny_store), fragment)


def test_an_ambiguous_prefix_is_one_clean_line(store_path: Path) -> None:
    store = rk.open(store_path)
    collection = store.collection("c")
    first_chars: dict[str, int] = {}
    while True:  # at most 17 runs: two must share a first hex digit
        run = collection.start_run(capture=False)
        run.finish()
        first_chars[run.id[0]] = first_chars.get(run.id[0], 0) + 1
        if first_chars[run.id[0]] == 2:
            break
    store.close()
    fails_cleanly(invoke("show", run.id[0], store=store_path), "ambiguous")
    for command in (["show", run.id[0]], ["rm", run.id[0], "--yes"], ["diff", run.id[0], run.id]):
        done = python_m(*command, "--store", str(store_path))  # a real process: one line, no traceback
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr.startswith("Error: run id prefix") and len(done.stderr.splitlines()) == 1


def test_a_usage_error_exits_2(tiny_store: Path) -> None:
    assert invoke("ls", "--format", "xml", store=tiny_store).exit_code == 2
    assert invoke("ls", "--limit", "-1", store=tiny_store).exit_code == 2


# --- python -m recordkit, for real -------------------------------------------------------------


def test_python_m_recordkit_lists_runs(tiny_store: Path) -> None:
    done = python_m("ls", "--store", str(tiny_store), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert [row["name"] for row in strict_json(done.stdout)] == ["base", "broken", "[wide]", "solo"]
    done = python_m("records", "--store", str(tiny_store), "--format", "jsonl", "--columns", "loss")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 7


def test_python_m_recordkit_errors_cleanly(tmp_path: Path, tiny_store: Path) -> None:
    for args in (
        ["ls", "--store", str(tmp_path / "missing")],
        ["gc", "--store", str(tmp_path / "missing")],
        ["show", "zzzz", "--store", str(tiny_store)],
        ["ls", "--where", "status", "--store", str(tiny_store)],
        ["ls", "--where", "stauts=failed", "--store", str(tiny_store)],
        ["records", "--where", "=x", "--store", str(tiny_store)],
    ):
        done = python_m(*args)
        assert done.returncode == 1
        assert done.stdout == ""
        assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("Error: ")


def test_python_m_recordkit_demo(tmp_path: Path) -> None:
    done = python_m("demo", "--runs", "2", "--epochs", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert str((tmp_path / "records").resolve()) in done.stdout
    done = python_m("show", "demo/2", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shown = strict_json(done.stdout)
    assert shown["run"]["status"] == "finished"
    assert shown["config"]["lr"] == 1.0


def test_import_recordkit_loads_no_cli() -> None:
    modules = "('click', 'rich', 'recordkit.cli', 'numpy')"
    code = f"import sys, recordkit; print(sorted(m for m in {modules} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


# --- docs ----------------------------------------------------------------------------------------


def documented_commands() -> set[str]:
    return set(re.findall(r"^#+ recordkit (\w+)\s*$", DOCS.read_text(encoding="utf-8"), flags=re.MULTILINE))


def test_every_command_is_documented() -> None:
    assert set(main.commands) <= documented_commands()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_is_documented(command: str) -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split(f"## recordkit {command}\n", 1)[1].split("\n## ", 1)[0]
    shared = text.split("## recordkit ", 1)[0]
    for param in main.commands[command].params:
        if isinstance(param, click.Option):
            long_names = [opt for opt in param.opts if opt.startswith("--")]
            assert any(name in section or name in shared for name in long_names), (command, long_names)


# --- the pure layer ------------------------------------------------------------------------------


class StubRun(SimpleNamespace):
    """A run-shaped object with fixed times, for exact output without a store."""

    def summary(self) -> dict[str, dict[str, Any]]:
        return self.metrics  # type: ignore[no-any-return]


@pytest.fixture
def stub_run() -> StubRun:
    return StubRun(
        id="0123456789abcdef",
        collection="study",
        number=4,
        error_number=0,
        had_error=False,
        name="fixed",
        tags=("a",),
        status=rk.RunStatus.FINISHED,
        start_time=1_700_000_000.0,
        end_time=1_700_000_090.5,
        duration=90.5,
        parent_id=None,
        config={"lr": 0.01, "opt": {"name": "adam", "betas": [0.9, 0.99]}},
        env={},
        metrics={
            "loss": {"last": 0.25, "last_step": 9, "min": 0.25, "max": 1.5, "count": 10},
            "duration": {"last": 3, "last_step": 9, "min": 3, "max": 3, "count": 1},
        },
    )


def test_run_row_csv_golden(stub_run: StubRun) -> None:
    row = R.run_row(stub_run)
    columns = [*R.RUN_COLUMNS, "end", "loss", "metric.duration", "config.opt.betas"]
    lines = [",".join(line) for line in R.csv_lines([row], columns, times=R.RUN_TIME_COLUMNS)]
    assert lines == [
        "collection,number,error_number,id,name,status,start,duration,end,loss,metric.duration,config.opt.betas",
        "study,4,0,0123456789abcdef,fixed,finished,2023-11-14T22:13:20+00:00,90.5,"
        "2023-11-14T22:14:50.500000+00:00,0.25,3,[0.9|0.99]".replace("|", ","),
    ]
    assert R.run_columns([row]) == [*R.RUN_COLUMNS, "loss", "metric.duration"]
    assert R.run_columns([row], ["lr", "config.opt.name"], collection=False)[-2:] == ["config.lr", "config.opt.name"]


@pytest.mark.parametrize(
    ("value", "table", "csv", "json_"),
    [
        pytest.param(0.1, "0.1", "0.1", 0.1, id="float"),
        pytest.param(1 / 3, "0.333333", repr(1 / 3), 1 / 3, id="float-digits"),
        pytest.param(float("nan"), "nan", "nan", {"$float": "nan"}, id="nan"),
        pytest.param(float("-inf"), "-inf", "-inf", {"$float": "-inf"}, id="-inf"),
        pytest.param(True, "true", "true", True, id="bool"),
        pytest.param(None, "", "", None, id="none"),
        pytest.param([1, "a"], '[1,"a"]', '[1,"a"]', [1, "a"], id="list"),
        pytest.param({"k": (1, 2)}, '{"k":[1,2]}', '{"k":[1,2]}', {"k": [1, 2]}, id="dict-with-tuple"),
    ],
)
def test_cell_formats(value: Any, table: str, csv: str, json_: Any) -> None:
    assert R.display_cell("v", value) == table
    assert R.csv_cell("v", value) == csv
    assert R.json_value("v", value) == json_


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.421, "0.42s"), (12.34, "12.3s"), (75, "1m15s"), (7300, "2h01m")],
)
def test_short_duration(seconds: float, text: str) -> None:
    assert R.short_duration(seconds) == text


def test_parse_where() -> None:
    assert R.parse_where(["lr=0.1", "name=base", 'tag="3"', "x=a=b", "n=null"]) == {
        "lr": 0.1,
        "name": "base",
        "tag": "3",
        "x": "a=b",
        "n": None,
    }
    with pytest.raises(rk.QueryError, match="KEY=VALUE"):
        R.parse_where(["oops"])


def test_parse_columns() -> None:
    assert R.parse_columns(["a,b", " c ", ""]) == ["a", "b", "c"]
    assert R.parse_columns([]) is None


def test_flatten_and_lookup() -> None:
    nested = {"a": {"b": {"c": 1}, "e": {}}, "x.y": 2}
    assert R.flatten(nested) == {"a.b.c": 1, "a.e": {}, "x.y": 2}
    assert R.lookup(nested, "a.b.c") == 1
    assert R.lookup(nested, "x.y") == 2
    assert R.lookup(nested, "a.nope") is R._MISSING


def test_sort_rows_puts_blanks_last() -> None:
    rows = [{"v": None}, {"v": 2.0}, {"v": float("nan")}, {"v": 1}, {"v": "text"}]
    assert [r["v"] for r in R.sort_rows(rows, "v")][:3] == [1, 2.0, "text"]
    assert [r["v"] for r in R.sort_rows(rows, "-v")][:3] == ["text", 2.0, 1]


def test_resolve_run_ref() -> None:
    assert R.resolve_run_ref("demo/3") == ("demo", 3)
    assert R.resolve_run_ref("3fa2") is None
    for bad in ("demo/", "/3", "demo/-1", "demo/x"):
        with pytest.raises(rk.RunNotFoundError):
            R.resolve_run_ref(bad)


def test_json_array_chunks_stream_valid_json() -> None:
    assert "".join(R.json_array_chunks([])) == "[]\n"
    assert strict_json("".join(R.json_array_chunks([{"a": 1}, {"a": 2}]))) == [{"a": 1}, {"a": 2}]


def test_limited_reads_no_further() -> None:
    def numbers() -> Iterator[int]:
        yield 1
        yield 2
        raise AssertionError("read past the limit")

    assert list(R.limited(numbers(), 2)) == [1, 2]


def test_env_summary_skips_missing_parts() -> None:
    env = {
        "python": {"implementation": "CPython", "version": "3.11.7", "libraries": {"numpy": "2.0"}},
        "system": {"hostname": "box", "user": "me", "distribution": None, "os_name": "Linux", "machine": "x86_64"},
        "gpu": {"devices": [{"name": "H100"}, {"name": "H100"}]},
        "git": {"root": "/r", "commit": "0123456789abcdef", "branch": "main", "dirty": True},
        "process": {"argv": ["train.py", "--lr", "0.1"], "cwd": "/r"},
        "hardware": {"error": "unreadable"},
    }
    assert R.env_summary(env) == {
        "python": "CPython 3.11.7",
        "os": "Linux x86_64",
        "host": "me@box",
        "gpu": "2 × H100",
        "libraries": "numpy 2.0",
        "git": "0123456789ab main (dirty)",
        "command": "train.py --lr 0.1",
        "cwd": "/r",
    }
    assert R.env_summary({}) == {}


def test_diff_runs_leaves_out_volatile_env(stub_run: StubRun) -> None:
    other = StubRun(**{**vars(stub_run), "config": {"lr": 0.01, "opt": {"name": "sgd"}}})
    stub_run.env = {"process": {"pid": 1, "cwd": "/a"}, "python": {"version": "3.11"}}
    other.env = {"process": {"pid": 2, "cwd": "/b"}, "python": {"version": "3.11"}}
    assert R.diff_runs(stub_run, other) == [
        {"section": "config", "key": "opt.name", "a": "adam", "b": "sgd"},
        {"section": "config", "key": "opt.betas", "a": [0.9, 0.99]},
        {"section": "env", "key": "process.cwd", "a": "/a", "b": "/b"},
    ]


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["ls"], id="ls"),
        pytest.param(["ls", "--columns", "name,status,config.opt.name"], id="ls-left-last"),
        pytest.param(["records", "--collection", "study"], id="records"),
    ],
)
def test_long_tables_keep_the_layout(tiny_store: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    """Past RICH_ROW_LIMIT rows a table is laid out without rich: the very same text."""
    with_rich = ok(*args, store=tiny_store)
    monkeypatch.setattr("recordkit.cli.RICH_ROW_LIMIT", 0)
    assert ok(*args, store=tiny_store) == with_rich


# --- progress on a terminal ----------------------------------------------------------------------


def run_with_terminal_stderr(*args: str) -> tuple[int, str, str]:
    """``python -m recordkit ARGS`` with stdout to a pipe and stderr to a pseudo-terminal."""
    import pty

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "RECORDKIT_STORE"}
    env.update(TERM="xterm", COLUMNS="100")
    child = subprocess.Popen(
        [sys.executable, "-m", "recordkit", *args], stdout=subprocess.PIPE, stderr=follower, env=env, text=True
    )
    os.close(follower)
    seen = bytearray()
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen.extend(chunk)
    stdout = child.stdout.read() if child.stdout else ""
    os.close(leader)
    return child.wait(timeout=120), stdout, seen.decode(errors="replace")


def test_progress_goes_to_a_terminal_stderr_only(small_store: Path) -> None:
    status, out, terminal = run_with_terminal_stderr("records", "-f", "csv", "--store", str(small_store))
    assert status == 0
    assert "Writing records" in terminal
    assert "Writing records" not in out and len(out.splitlines()) == 1 + 9
    status, out, terminal = run_with_terminal_stderr("gc", "-f", "json", "--store", str(small_store))
    assert status == 0
    assert "Collecting garbage" in terminal
    assert strict_json(out)["dry_run"] is False
    done = python_m("records", "-f", "csv", "--store", str(small_store))  # no terminal: no progress at all
    assert done.stderr == ""


def test_show_lists_sub_runs_and_rm_takes_them_along(store_path: Path) -> None:
    import time as _time

    from recordkit.backends.base import NewRun

    store = rk.open(store_path)
    with store.collection("c").start_run(name="parent", capture=False) as parent:
        parent.log(x=1)
    backend = store.backend
    backend.create_run(
        NewRun(
            id="00000000000000c1",
            collection="c",
            name="child",
            start_time=_time.time(),
            config={},
            env={},
            tags=[],
            parent_id=parent.id,
            host="h",
            pid=os.getpid(),
            folder="c/00000000000000c1",
            root_scope=next(iter(backend.reserve_scope_ids(1))),
        )
    )
    backend.end_run("00000000000000c1", "finished", _time.time(), None)
    store.close()
    shown = strict_json(ok("show", parent.id, "-f", "json", store=store_path))
    assert [(c["id"], c["name"], c["status"]) for c in shown["children"]] == [("00000000000000c1", "child", "finished")]
    assert "Sub-runs" in ok("show", parent.id, store=store_path)
    assert strict_json(ok("show", "00000000000000c1", "-f", "json", store=store_path))["children"] == []
    planned = strict_json(ok("rm", parent.id, "00000000000000c1", "--dry-run", "-f", "json", store=store_path))
    assert [r["name"] for r in planned["runs"]] == ["parent"]  # the child goes with its parent, once
    assert sorted(planned["run_ids"]) == sorted([parent.id, "00000000000000c1"])
    ok("rm", parent.id, "--yes", store=store_path)
    assert names_in(store_path) == []


# --- show: files, checkpoints, links, events; the events command ------------------------------------


@pytest.fixture(scope="module")
def lineage_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run with an attachment, a reference, a checkpoint, a sub-run, a link and 12 events of its own."""
    import torch

    path = tmp_path_factory.mktemp("lineage") / "records"
    outside = path.parent / "data.csv"
    outside.write_text("a,b\n1,2\n")
    store = rk.open(path)
    study = store.collection("study")
    with study.start_run(config={"lr": 0.1}, name="base", capture=False) as base:
        base.log(loss=1.0)
        base.attach(b"weights", name="model.bin")
        base.reference(outside)
        base.save_model(torch.nn.Linear(2, 1), "net")
        for epoch in range(12):
            base.event(f"epoch/{epoch}", acc=epoch / 10)
        with base.sub_run("squeeze", name="half"):
            pass
        base.event("epoch/3/eval", acc=0.5)
    with study.start_run(name="tuned", capture=False) as tuned:
        tuned.link(base, "fine-tunes", note="from base")
    store.close()
    return path


def test_show_lists_files_checkpoints_links_and_last_events(lineage_store: Path) -> None:
    out = ok("show", "study/1", store=lineage_store)
    for title in ("Files", "Checkpoints", "Sub-runs", "Links", "Last events (10 of "):
        assert f"\n{title}" in out, title
    assert "model.bin" in out and "attachment" in out and hashlib.sha256(b"weights").hexdigest()[:12] in out
    assert "data.csv" in out and str(lineage_store.parent / "data.csv") in out
    assert "fine-tunes" in out and "from base" in out and "sub_run" in out
    assert "epoch/3/eval" in out and "finished" in out  # the latest events…
    assert "epoch/0 " not in out  # …and not the early ones
    assert "Files" not in ok("show", "study/2", store=lineage_store)  # empty sections are left out


def test_show_json_has_files_checkpoints_links_and_events(lineage_store: Path) -> None:
    document = strict_json(ok("show", "study/1", "-f", "json", store=lineage_store))
    store = rk.open(lineage_store)
    try:
        base, tuned = store.collection("study").run(1), store.collection("study").run(2)
        every = base.events
        assert [f["name"] for f in document["files"]] == [f.name for f in base.files]
        attached = document["files"][0]
        assert attached["sha256"] == hashlib.sha256(b"weights").hexdigest()
        assert Path(attached["path"]).read_bytes() == b"weights"
        assert [(c["name"], c["step"]) for c in document["checkpoints"]] == [
            (c.name, c.step) for c in base.checkpoints()
        ]
        links = {(lk["relation"], lk["direction"], lk["run"]) for lk in document["links"]}
        assert ("fine-tunes", "from", tuned.id) in links
        assert ("sub_run", "from", base.children()[0].id) in links
        assert document["events"]["count"] == len(every) > 10
        assert document["events"]["last"] == every[-10:].to_dicts()
    finally:
        store.close()


def test_events_command(lineage_store: Path) -> None:
    store = rk.open(lineage_store)
    try:
        every = store.collection("study").run(1).events
    finally:
        store.close()
    table = ok("events", "study/1", store=lineage_store)
    assert len(table.splitlines()) == 2 + len(every)
    assert "epoch/0" in table and "started" in table
    lines = ok("events", "study/1", "--under", "epoch/3", "-f", "jsonl", store=lineage_store).splitlines()
    assert [strict_json(line)["name"] for line in lines] == ["epoch/3", "epoch/3/eval"]
    assert "\n".join(lines) + "\n" == every.under("epoch/3").to_jsonl()
    as_json = strict_json(ok("events", "study/1", "-f", "json", store=lineage_store))
    assert as_json == every.to_dicts()
    assert strict_json(ok("events", "study/2", "--under", "nothing", "-f", "json", store=lineage_store)) == []
    fails_cleanly(invoke("events", "study/9", store=lineage_store), "study")


def test_show_and_events_as_real_processes(lineage_store: Path) -> None:
    shown = python_m("show", "study/1", "-f", "json", "--store", str(lineage_store))
    assert shown.returncode == 0, shown.stderr
    document = strict_json(shown.stdout)
    assert document["files"][0]["name"] == "model.bin" and document["links"] and document["checkpoints"]
    listed = python_m("events", "study/1", "--under", "epoch/3", "-f", "jsonl", "--store", str(lineage_store))
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["epoch/3", "epoch/3/eval"]


# --- gc and attachments ----------------------------------------------------------------------------


def _unique_bytes(root: Path) -> int:
    """Bytes on disk under root, each file counted once however many hard links reach it (no -shm)."""
    seen = {}
    for p in root.rglob("*"):
        if p.is_file() and not p.name.endswith("-shm"):
            st = p.lstat()
            seen[(st.st_dev, st.st_ino)] = st.st_size
    return sum(seen.values())


def test_rm_and_gc_of_a_shared_attachment_as_real_processes(store_path: Path) -> None:
    """The same content attached by two runs: rm one, gc keeps the blob; rm both, gc --dry-run reports
    the blob and changes nothing; gc removes exactly that."""
    content = os.urandom(50_000)
    store = rk.open(store_path)
    for name in ("a", "b"):
        with store.collection("c").start_run(name=name, capture=False) as run:
            blob = run.attach(content, name="model.bin").path
    store.close()
    assert blob is not None
    old = time.time() - 3600  # older than gc's grace
    os.utime(blob, (old, old))

    def gc(*extra: str) -> dict[str, Any]:
        done = python_m("gc", "-f", "json", *extra, "--store", str(store_path))
        assert done.returncode == 0, done.stderr
        return dict(strict_json(done.stdout))

    removed = python_m("rm", "c/1", "--yes", "-f", "json", "--store", str(store_path))
    assert removed.returncode == 0, removed.stderr
    assert strict_json(removed.stdout)["rows"]["files"] == 1
    assert strict_json(removed.stdout)["file_bytes"] < len(content)  # its hard link freed nothing
    assert gc()["blobs"] == [] and blob.read_bytes() == content  # c/2 still refers to it
    assert python_m("rm", "c/2", "--yes", "--store", str(store_path)).returncode == 0
    before = {str(p): p.read_bytes() for p in sorted(store_path.rglob("*")) if p.is_file()}
    size = _unique_bytes(store_path)
    dry = gc("--dry-run")
    assert {str(p): p.read_bytes() for p in sorted(store_path.rglob("*")) if p.is_file()} == before
    assert dry["blobs"] == [str(blob.resolve())] and dry["blob_bytes"] == len(content)
    table = python_m("gc", "--dry-run", "--store", str(store_path))
    assert "unreferenced blobs" in table.stdout and "50.0 kB" in table.stdout
    real = gc()
    assert not blob.exists()
    assert (real["blobs"], real["blob_bytes"]) == (dry["blobs"], dry["blob_bytes"])
    assert real["bytes_reclaimed"] == dry["bytes_reclaimed"] == size - _unique_bytes(store_path)


def test_gc_table_names_orphaned_events_files_and_links() -> None:
    report = rk.CleanupReport(dry_run=True)
    report.rows = {"events": 2, "files": 1, "links": 3}
    removed = [row["removed"] for row in R.gc_rows(report)]
    assert removed[:3] == ["orphaned events", "orphaned file rows", "orphaned links"]


def test_gc_removes_an_attachment_no_run_refers_to(store_path: Path) -> None:
    store = rk.open(store_path)
    with store.collection("c").start_run(capture=False) as run:
        blob = run.attach(b"x" * 3000, name="x.bin").path
    store.close()
    assert blob is not None
    old = time.time() - 3600
    os.utime(blob, (old, old))
    assert strict_json(ok("gc", "--dry-run", "-f", "json", store=store_path))["blobs"] == []  # still referenced
    out = ok("rm", "c/1", "--yes", store=store_path)
    assert "remove attachments no run refers to" in out
    dry = ok("gc", "--dry-run", store=store_path)
    assert re.search(r"unreferenced blobs\s+1\s+3\.0 kB", dry), dry
    assert blob.exists()
    done = strict_json(ok("gc", "-f", "json", store=store_path))
    assert done["blobs"] == [str(blob.resolve())] and done["blob_bytes"] == 3000 and not blob.exists()
