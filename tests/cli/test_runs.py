"""The commands about runs: ls, show, events, diff and rm."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.cli.helpers import fails_cleanly, invoke, names_in, ok, python_m, strict_json

import recordkit as rk
from recordkit.cli import main

# --- ls ------------------------------------------------------------------------------------------


def test_ls_csv_exact(tiny_store: Path) -> None:
    columns = "number,error_number,name,status,loss,phase=train/loss,phase=eval/acc,note,config.lr,config.opt.name"
    out = ok("ls", "--collection", "study", "--columns", columns, "--format", "csv", store=tiny_store)
    assert out == textwrap.dedent(
        """\
        number,error_number,name,status,loss,phase=train/loss,phase=eval/acc,note,config.lr,config.opt.name
        1,0,base,finished,,0.5,0.7,,0.1,sgd
        2,1,broken,failed,2.0,,,,0.2,
        2,0,[wide],finished,nan,,,"a,b",0.3,adam
        """
    )


def test_ls_keeps_a_key_of_two_scopes_apart(tiny_store: Path) -> None:
    """Issue 14: loss under phase=train and phase=eval are two columns; a bare key sorts by its one series."""
    done = python_m("ls", "--collection", "study", "--format", "json", "--store", str(tiny_store))
    assert done.returncode == 0, done.stderr
    base = strict_json(done.stdout)[0]
    assert (base["phase=train/loss"], base["phase=eval/loss"], base["phase=train/acc"]) == (0.5, 0.6, 0.75)
    assert base.get("acc") is None and base.get("loss") is None  # no series of base is just "loss"
    sorted_by = python_m("ls", "--sort", "-phase=eval/acc", "-f", "json", "--store", str(tiny_store))
    assert sorted_by.returncode == 0 and strict_json(sorted_by.stdout)[0]["name"] == "base"
    columns = python_m("ls", "--collection", "other", "--columns", "name,x", "-f", "csv", "--store", str(tiny_store))
    assert columns.stdout.splitlines() == ["name,x", "solo,1"]
    ambiguous = python_m("ls", "--collection", "study", "--sort", "-acc", "--store", str(tiny_store))
    assert ambiguous.returncode == 1 and "Traceback" not in ambiguous.stderr
    assert "'acc' is 2 series" in ambiguous.stderr and "phase=eval/acc" in ambiguous.stderr


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
    assert (base["phase=eval/loss"], base["phase=eval/acc"], base["config.lr"]) == (0.6, 0.7, 0.1)
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
    assert metrics["phase=train/loss"] == {
        "key": "phase=train/loss", "last": 0.5, "last_step": 1, "min": 0.5, "max": 1.0, "count": 2
    }
    assert metrics["phase=eval/loss"]["last"] == 0.6 and "loss" not in metrics
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


# --- diff ----------------------------------------------------------------------------------------


def test_diff_json(tiny_store: Path) -> None:
    document = strict_json(ok("diff", "study/1", "study/2", "-f", "json", store=tiny_store))
    assert document["a"]["name"] == "base" and document["b"]["name"] == "[wide]"
    differences = {(d["section"], d["key"]): d for d in document["differences"]}
    assert differences[("config", "lr")] == {"section": "config", "key": "lr", "a": 0.1, "b": 0.3}
    assert differences[("config", "opt.name")]["b"] == "adam"
    assert differences[("metrics", "loss")] == {"section": "metrics", "key": "loss", "b": {"$float": "nan"}}
    assert differences[("metrics", "phase=eval/acc")] == {"section": "metrics", "key": "phase=eval/acc", "a": 0.7}
    assert differences[("metrics", "note")] == {"section": "metrics", "key": "note", "b": "a,b"}
    assert not any(section == "env" for section, _ in differences)  # both captured nothing


def test_diff_table(tiny_store: Path) -> None:
    out = ok("diff", "study/1", "study/2", store=tiny_store)
    assert "study/1" in out and "study/2" in out
    assert "(missing)" in out and "adam" in out


def test_diff_of_a_run_with_itself(tiny_store: Path) -> None:
    assert "same config" in ok("diff", "study/1", "study/1", store=tiny_store)
    assert strict_json(ok("diff", "study/1", "study/1", "-f", "json", store=tiny_store))["differences"] == []


# --- rm ------------------------------------------------------------------------------------------


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


# --- show: files, checkpoints, links, events; the events command ---------------------------------


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


def test_show_keeps_the_failure_a_resume_cleared(store_path: Path) -> None:
    """Issue 14: resuming a failed run used to erase the failure from show."""
    store = rk.open(store_path)
    col = store.collection("study")
    with pytest.raises(RuntimeError), col.start_run(name="flaky", capture=False) as run:
        run.log(loss=1.0)
        raise RuntimeError("out of memory at step 1")
    with col.resume_run(run.id) as resumed:
        resumed.log(loss=0.5)
    store.close()
    shown = python_m("show", "study/1", "-f", "json", "--store", str(store_path))
    assert shown.returncode == 0, shown.stderr
    document = strict_json(shown.stdout)
    assert document["run"]["status"] == "finished" and document["error"] is None
    (attempt,) = document["earlier_attempts"]
    assert attempt["status"] == "failed" and attempt["error"] == "RuntimeError: out of memory at step 1"
    table = python_m("show", "study/1", "--store", str(store_path))
    assert "Earlier attempts" in table.stdout and "out of memory at step 1" in table.stdout


def test_ls_columns_take_a_bare_key_for_its_only_series(store_path: Path) -> None:
    store = rk.open(store_path)
    with store.collection("c").start_run(name="one", capture=False) as run:
        run.scope(phase="eval").log(acc=0.9)
        run.scope(phase="train").log(loss=0.5)
        run.scope(phase="eval").log(loss=0.7)
    store.close()
    done = python_m("ls", "--columns", "name,acc", "-f", "csv", "--store", str(store_path))
    assert done.returncode == 0 and done.stdout.splitlines() == ["name,phase=eval/acc", "one,0.9"]
    ambiguous = python_m("ls", "--columns", "name,loss", "--store", str(store_path))
    assert ambiguous.returncode == 1 and "'loss' is 2 series" in ambiguous.stderr
    assert "Traceback" not in ambiguous.stderr
