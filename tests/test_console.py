"""Console capture: real interpreters whose stdout and stderr are pipes read by this test (the "terminal").

Each script runs in its own process, since capture replaces the process's file descriptors 1 and 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import recordkit as rk

PRELUDE = """
import os, subprocess, sys
import recordkit as rk
col = rk.open(sys.argv[1]).collection("c")
"""


def _run(tmp_path: Path, body: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(PRELUDE + textwrap.dedent(body), encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path / "records")], capture_output=True, text=True, timeout=120,
        env={**os.environ, **env},
    )


def _only_run(tmp_path: Path) -> rk.Run:
    (run,) = rk.open(tmp_path / "records").collection("c").runs()
    return run


def test_print_os_write_and_a_child_process_are_captured_and_still_shown(tmp_path: Path) -> None:
    result = _run(tmp_path, """
        with col.start_run(capture=False, capture_output=True) as run:
            print("from print")
            os.write(1, b"from os.write\\n")
            child = "import sys; print('from a child'); print('child err', file=sys.stderr)"
            subprocess.run([sys.executable, "-c", child], check=True)
            print("from stderr", file=sys.stderr)
            sys.stdout.write("no newline at the end")
        print("after the run")
    """)
    assert result.returncode == 0, result.stderr
    shown = result.stdout
    for line in ("from print", "from os.write", "from a child", "no newline at the end", "after the run"):
        assert line in shown  # the terminal shows what it showed without capture
    assert "from stderr" in result.stderr and "child err" in result.stderr
    assert shown.index("from print") < shown.index("from os.write") < shown.index("from a child")
    kept = (_only_run(tmp_path).folder / "output.log").read_text(encoding="utf-8")
    for line in ("from print", "from os.write", "from a child", "child err", "from stderr", "no newline at the end"):
        assert line in kept
    assert "after the run" not in kept  # restored at finish


def test_an_exception_in_the_run_is_in_output_log_once_and_on_the_terminal(tmp_path: Path) -> None:
    result = _run(tmp_path, """
        with col.start_run(capture=False, capture_output=True):
            print("working")
            raise RuntimeError("boom in training")
    """)
    assert result.returncode == 1
    assert result.stderr.count("RuntimeError: boom in training") == 1
    run = _only_run(tmp_path)
    assert run.status is rk.RunStatus.FAILED
    kept = (run.folder / "output.log").read_text(encoding="utf-8")
    assert "working" in kept
    assert kept.count("RuntimeError: boom in training") == 1


def test_an_uncaught_exception_without_a_with_block_is_kept_once(tmp_path: Path) -> None:
    result = _run(tmp_path, """
        run = col.start_run(capture=False, capture_output=True)
        print("working")
        raise RuntimeError("uncaught at top level")
    """)
    assert result.returncode == 1
    assert result.stderr.count("RuntimeError: uncaught at top level") == 1
    run = _only_run(tmp_path)
    assert run.status is rk.RunStatus.FAILED  # finished at exit, while output was still captured
    kept = (run.folder / "output.log").read_text(encoding="utf-8")
    assert kept.count("RuntimeError: uncaught at top level") == 1


def test_output_log_is_capped_but_the_terminal_gets_everything(tmp_path: Path) -> None:
    result = _run(tmp_path, """
        with col.start_run(capture=False, capture_output=True):
            for i in range(2000):
                print(f"line {i:04d}")
    """, RECORDKIT_OUTPUT_LIMIT="1000")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 2000 and "line 1999" in result.stdout
    kept = (_only_run(tmp_path).folder / "output.log").read_text(encoding="utf-8")
    assert kept.startswith("line 0000\n")
    assert "line 1999" not in kept
    assert "reached its limit of 1000 bytes" in kept
    assert len(kept.split("\n[recordkit:")[0]) == 1000


def test_a_second_capture_in_one_process_is_refused_and_starts_no_run(tmp_path: Path) -> None:
    result = _run(tmp_path, """
        with col.start_run(capture=False, capture_output=True):
            try:
                col.start_run(capture=False, capture_output=True)
            except rk.RunStateError as exc:
                print("REFUSED", exc)
            print("RUNS", len(col.runs()))
        with col.start_run(capture=False, capture_output=True):  # free again after finish
            print("second capture")
    """)
    assert result.returncode == 0, result.stderr
    assert "REFUSED console output is already captured for run" in result.stdout
    assert "RUNS 1" in result.stdout
    second = rk.open(tmp_path / "records").collection("c").runs()[-1]
    assert "second capture" in (second.folder / "output.log").read_text(encoding="utf-8")


def test_capture_output_takes_a_bool(collection: rk.Collection) -> None:
    with pytest.raises(TypeError, match="capture_output takes True or False"):
        collection.start_run(capture=False, capture_output="yes")  # type: ignore[arg-type]
    assert collection.runs() == []


def test_sigterm_restores_and_keeps_the_output(tmp_path: Path) -> None:
    result = _run(tmp_path, """
        import signal
        run = col.start_run(capture=False, capture_output=True)
        print("before the signal", flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
    """)
    assert result.returncode == -15
    assert "before the signal" in result.stdout
    run = _only_run(tmp_path)
    assert run.status is rk.RunStatus.INTERRUPTED
    assert "before the signal" in (run.folder / "output.log").read_text(encoding="utf-8")
