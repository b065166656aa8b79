"""The group: its commands and help, one clean line per error, `python -m recordkit`, and docs for all."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from tests.cli.helpers import fails_cleanly, invoke, ok, python_m, strict_json

import recordkit as rk
from recordkit.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


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


# --- python -m recordkit, for real ---------------------------------------------------------------


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
