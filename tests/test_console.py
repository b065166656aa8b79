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


def test_a_child_that_outlives_the_run_keeps_reaching_the_terminal_but_not_the_file(tmp_path: Path) -> None:
    result = _run(tmp_path, """
        import time
        child = "import time; print('child early', flush=True); time.sleep(1.5); print('child late', flush=True)"
        with col.start_run(capture=False, capture_output=True):
            late = subprocess.Popen([sys.executable, "-c", child])
            time.sleep(0.8)  # the child has printed its first line
            print("last line of the run")
        late.wait()
    """)
    assert result.returncode == 0, result.stderr
    assert "child early" in result.stdout and "child late" in result.stdout
    kept = (_only_run(tmp_path).folder / "output.log").read_text(encoding="utf-8")
    assert "child early" in kept and "last line of the run" in kept
    assert "child late" not in kept


def test_after_sigkill_output_log_holds_what_was_read_before(tmp_path: Path) -> None:
    result = _run(tmp_path, """
        import signal, time
        run = col.start_run(capture=False, capture_output=True)
        print("before the kill", flush=True)
        log = run.folder / "output.log"
        while b"before the kill\\n" not in log.read_bytes():
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert result.returncode == -9
    assert "before the kill" in result.stdout
    run = _only_run(tmp_path)
    assert run.status is rk.RunStatus.CRASHED
    assert (run.folder / "output.log").read_text(encoding="utf-8") == "before the kill\n"


def test_a_lot_of_output_at_once_is_kept_whole(tmp_path: Path) -> None:
    """More than a pipe holds, written right before finish: all of it is copied before the file closes."""
    result = _run(tmp_path, """
        with col.start_run(capture=False, capture_output=True):
            os.write(1, b"".join(b"%06d\\n" % i for i in range(100_000)))
    """)
    assert result.returncode == 0, result.stderr
    expected = "".join(f"{i:06d}\n" for i in range(100_000))
    assert result.stdout == expected
    assert (_only_run(tmp_path).folder / "output.log").read_text(encoding="utf-8") == expected


def test_each_rank_of_a_distributed_run_keeps_its_own_output_file(tmp_path: Path) -> None:
    store = rk.open(tmp_path / "records")
    main = store.collection("c").start_run(capture=False)
    result = _run(tmp_path, """
        with col.start_run(capture=False, distributed=True, capture_output=True):
            print("from rank 1")
    """, RECORDKIT_RUN_ID=main.id, RANK="1", WORLD_SIZE="2")
    assert result.returncode == 0, result.stderr
    main.finish()
    assert (main.folder / "output.rank1.log").read_text(encoding="utf-8") == "from rank 1\n"
    assert not (main.folder / "output.log").exists()


def test_a_resumed_run_appends_to_its_output_log(tmp_path: Path) -> None:
    result = _run(tmp_path, """
        with col.start_run(capture=False, capture_output=True) as run:
            print("first attempt")
        with col.resume_run(run.number, capture_output=True, system_metrics=True):
            print("second attempt")
    """)
    assert result.returncode == 0, result.stderr
    run = _only_run(tmp_path)
    assert (run.folder / "output.log").read_text(encoding="utf-8") == "first attempt\nsecond attempt\n"
    assert len(run.records.where(source="system")) == 1


def _on_a_terminal(tmp_path: Path, body: str) -> bytes:
    """Run a script whose stdout and stderr are a real pseudo-terminal; return what the terminal got."""
    import pty

    script = tmp_path / "script.py"
    script.write_text(PRELUDE + textwrap.dedent(body), encoding="utf-8")
    master, slave = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "records")], stdin=subprocess.DEVNULL, stdout=slave,
        stderr=slave, close_fds=True,
    )
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer of the terminal is gone
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    assert child.wait(timeout=60) == 0
    return shown


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs pseudo-terminals")
def test_on_a_terminal_programs_still_see_a_terminal_and_it_shows_the_same_bytes(tmp_path: Path) -> None:
    body = """
        with col.start_run(capture=False, capture_output={capture}) as run:
            print("isatty", sys.stdout.isatty(), os.isatty(2))
            print("\\x1b[31mred\\x1b[0m and a progress bar\\rdone")
            subprocess.run([sys.executable, "-c", "import os; print('child isatty', os.isatty(1))"], check=True)
            for i in range(3):
                print(f"out {i}", flush=True)
                print(f"err {i}", file=sys.stderr, flush=True)
        print("RUN", run.folder)
    """
    plain = _on_a_terminal(tmp_path, body.replace("{capture}", "False"))
    captured = _on_a_terminal(tmp_path, body.replace("{capture}", "True"))
    assert b"isatty True True" in captured and b"child isatty True" in captured
    import re

    def without_folder(shown: bytes) -> bytes:
        return re.sub(rb"RUN [^\r\n]*", b"RUN", shown)

    assert without_folder(captured) == without_folder(plain)  # byte for byte what it showed without capture
    assert b"done\r\n" in captured  # the terminal's own newline translation, as before
    folder = Path(captured.decode().split("RUN ")[-1].strip())
    kept = (folder / "output.log").read_bytes()
    assert kept == (b"isatty True True\n\x1b[31mred\x1b[0m and a progress bar\rdone\nchild isatty True\n"
                    b"out 0\nerr 0\nout 1\nerr 1\nout 2\nerr 2\n")  # one terminal, one reader: order kept


def test_stdout_and_stderr_into_one_pipe_keep_their_order(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(PRELUDE + textwrap.dedent("""
        with col.start_run(capture=False, capture_output=True):
            for i in range(200):
                print(f"out {i}", flush=True)
                print(f"err {i}", file=sys.stderr, flush=True)
    """), encoding="utf-8")
    result = subprocess.run([sys.executable, str(script), str(tmp_path / "records")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=120)
    expected = "".join(f"out {i}\nerr {i}\n" for i in range(200))
    assert result.stdout == expected
    assert (_only_run(tmp_path).folder / "output.log").read_text(encoding="utf-8") == expected
