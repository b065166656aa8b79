"""Real processes against one folder store.

Concurrent starts, numbering across processes, SIGKILL, SIGTERM, Ctrl-C, interpreter exit, a large run
read back exactly, and storage failures in the background. Every child is a fresh interpreter
(``sys.executable``) running a script written to ``tmp_path``, so the writer thread, the signal
handlers and the atexit hooks are the real ones. Nothing here asserts a duration: waits poll for a
condition under a generous deadline and fail with the child's stderr if it never comes.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import recordkit as rk

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")

DEADLINE = 120.0  # the longest any single wait may take before the test fails

PREAMBLE = """\
import json, os, signal, sys, time
from pathlib import Path

import recordkit as rk

STORE = sys.argv[1]
ARGS = sys.argv[2:]
"""


# --- helpers -------------------------------------------------------------------------------------
def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECORDKIT_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(PREAMBLE + textwrap.dedent(body), encoding="utf-8")
    return path


class Child:
    """A child interpreter running ``script``; stdout and stderr go to files (no pipe can fill up)."""

    _serial = itertools.count()

    def __init__(self, script: Path, *args: object) -> None:
        stem = f"{script.stem}-{next(Child._serial)}"
        self.out_path = script.parent / f"{stem}.out"
        self.err_path = script.parent / f"{stem}.err"
        with self.out_path.open("w") as out, self.err_path.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(script), *map(str, args)],
                stdout=out,
                stderr=err,
                env=_child_env(),
                cwd=script.parent,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stdout(self) -> str:
        return self.out_path.read_text()

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def wait(self) -> int:
        try:
            return self.proc.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"child {self.pid} did not exit within {DEADLINE} s; stderr:\n{self.stderr}")

    def kill_if_running(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def children() -> Iterator[list[Child]]:
    """Children started by a test; any still running at the end are killed."""
    started: list[Child] = []
    yield started
    for child in started:
        child.kill_if_running()


def _run(script: Path, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        env=_child_env(),
        cwd=script.parent,
    )


def _wait_for(condition: Callable[[], bool], what: str, watch: Sequence[Child] = ()) -> None:
    """Poll ``condition`` until it holds; fail early if a watched child exits first."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        for child in watch:
            if child.proc.poll() is not None:
                pytest.fail(
                    f"child {child.pid} exited ({child.proc.returncode}) before {what}; stderr:\n{child.stderr}"
                )
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {DEADLINE} s waiting for {what}")
        time.sleep(0.01)


def _raw_statuses(store: Path) -> list[str]:
    """runs.status straight from the database, without recordkit (which would reap dead runs)."""
    conn = sqlite3.connect(store / "recordkit.db", timeout=60)
    try:
        return [r[0] for r in conn.execute("SELECT status FROM runs ORDER BY start_time, rowid")]
    finally:
        conn.close()


def _first_mismatch(got: Sequence[Any], expected: Sequence[Any]) -> str | None:
    """A short description of where two long sequences differ (pytest's diff of 200k rows is too slow)."""
    if len(got) != len(expected):
        return f"{len(got)} items, expected {len(expected)}"
    for index, (a, b) in enumerate(zip(got, expected, strict=True)):
        if a != b or [type(v) for v in a] != [type(v) for v in b]:
            return f"item {index}: {a!r}, expected {b!r}"
    return None


def _ix(run: rk.Run) -> list[tuple[Any, Any]]:
    return [(r["i"], r["x"]) for r in run.records]


# --- 1. concurrent starts ------------------------------------------------------------------------
CONCURRENT = """
worker, go, n = int(ARGS[0]), Path(ARGS[1]), int(ARGS[2])
store = rk.open(STORE)
col = store.collection("study")
Path(f"{go}.ready{worker}").touch()
deadline = time.monotonic() + 120
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("no go signal")
    time.sleep(0.001)
with col.start_run(config={"worker": worker}, name=f"worker{worker}", capture=False) as run:
    print(json.dumps({"id": run.id, "number": run.number}), flush=True)
    scope = run.scope(worker=worker)
    for i in range(n):
        scope.log({"i": i, "x": i * 0.25})
        if i % 10 == 0:
            # A key set of its own: each process creates a records table while the others write.
            scope.log({"j": i, f"only_{worker}": worker * 100_000 + i})
        if i % 700 == 0:
            run.flush()
"""


def _expected_concurrent(worker: int, n: int) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for i in range(n):
        rows.append((i, i * 0.25, None, None))
        if i % 10 == 0:
            rows.append((None, None, i, worker * 100_000 + i))
    return rows


@pytest.mark.parametrize("store_exists", [True, False], ids=["existing-store", "new-store"])
def test_four_processes_start_runs_at_once(tmp_path: Path, children: list[Child], store_exists: bool) -> None:
    store_path = tmp_path / "records"
    if store_exists:
        rk.open(store_path).close()
    # Not "concurrent.py": the script's folder comes first on sys.path, and that name would hide the
    # standard library's concurrent package from every import in the child (pyarrow uses it).
    script = _script(tmp_path, "concurrent_starts", CONCURRENT)
    go = tmp_path / "go"
    n = 3000
    workers = [1, 2, 3, 4]
    for worker in workers:
        children.append(Child(script, store_path, worker, go, n))
    _wait_for(lambda: all(Path(f"{go}.ready{w}").exists() for w in workers), "every child to be ready", children)
    go.touch()  # all four start their runs now
    for child in children:
        assert child.wait() == 0, child.stderr
    started = [json.loads(child.stdout) for child in children]
    assert sorted(s["number"] for s in started) == [1, 2, 3, 4]

    col = rk.open(store_path).collection("study")
    runs = col.runs()
    assert sorted(r.number for r in runs) == [1, 2, 3, 4]
    assert {r.id for r in runs} == {s["id"] for s in started}
    assert [r.error_number for r in runs] == [0, 0, 0, 0]
    assert [r.status for r in runs] == [rk.RunStatus.FINISHED] * 4
    for run in runs:
        worker = run.config["worker"]
        assert run.name == f"worker{worker}"
        rows = [(r["i"], r["x"], r["j"], r[f"only_{worker}"]) for r in run.records]
        assert _first_mismatch(rows, _expected_concurrent(worker, n)) is None
        assert all(r["worker"] == worker and r["run_id"] == run.id for r in run.records)
    assert len(col.records) == 4 * (n + n // 10)


# --- 2. numbering across processes ---------------------------------------------------------------
OUTCOME = """
mode, tag = ARGS


class TrainingDiverged(Exception):
    pass


col = rk.open(STORE).collection("study")
if mode == "ok":
    with col.start_run(name=tag, capture=False) as run:
        run.log({"attempt": tag})
else:
    error = TrainingDiverged(f"loss is nan in {tag}")
    try:
        with col.start_run(name=tag, capture=False) as run:
            run.log({"attempt": tag})
            raise error
    except TrainingDiverged as caught:
        if caught is not error:
            sys.exit("recordkit replaced the exception")
        raise
"""


def test_numbering_across_processes(tmp_path: Path) -> None:
    store_path = tmp_path / "records"
    script = _script(tmp_path, "outcome", OUTCOME)
    plan = ["ok", "err", "err", "ok", "ok"]
    for index, mode in enumerate(plan):
        tag = f"attempt{index}"
        done = _run(script, store_path, mode, tag)
        if mode == "ok":
            assert done.returncode == 0, done.stderr
            continue
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert lines[0] == "Traceback (most recent call last):", done.stderr
        assert lines[-1] == f"TrainingDiverged: loss is nan in {tag}", done.stderr
        assert "raise error" in done.stderr
        assert "During handling of the above exception" not in done.stderr
        assert "could not finish" not in done.stderr and "RecordkitError" not in done.stderr

    col = rk.open(store_path).collection("study")
    runs = col.runs()
    assert [(r.number, r.error_number) for r in runs] == [(1, 0), (2, 1), (2, 2), (2, 0), (3, 0)]
    assert [r.status.value for r in runs] == ["finished", "failed", "failed", "finished", "finished"]
    assert [r.name for r in runs] == [f"attempt{i}" for i in range(5)]
    assert [r.had_error for r in runs] == [False, True, True, False, False]
    for index, run in enumerate(runs):
        if plan[index] == "ok":
            assert run.error is None
            continue
        assert run.error is not None
        assert run.error["type"] == "TrainingDiverged"
        assert run.error["message"] == f"loss is nan in attempt{index}"
        assert "raise error" in run.error["traceback"]
        assert run.error["traceback"].rstrip().endswith(f"TrainingDiverged: loss is nan in attempt{index}")
    # Every record carries its run's numbering, and each attempt kept its one record.
    flat = [(r["attempt"], r["experiment_number"], r["error_number"], r["had_error"]) for r in col.records]
    assert flat == [
        ("attempt0", 1, 0, False),
        ("attempt1", 2, 1, True),
        ("attempt2", 2, 2, True),
        ("attempt3", 2, 0, False),
        ("attempt4", 3, 0, False),
    ]
    assert col.run(2).name == "attempt3"  # the latest attempt holding the number


# --- 3. SIGKILL ----------------------------------------------------------------------------------
KILLED = """
progress, marker = Path(ARGS[0]), Path(ARGS[1])
store = rk.open(STORE, flush_interval=0.5)
run = store.collection("study").start_run(name="doomed", capture=False)
for i in range(1000):
    run.log({"i": i, "x": i * 0.5})
run.flush()
marker.touch()
i = 1000
with progress.open("a") as f:
    while True:
        run.log({"i": i, "x": i * 0.5})
        i += 1
        if i % 20 == 0:
            # "records 0..i-1 were handed to run.log by this time"
            f.write(f"{i} {time.time()!r}\\n")
            f.flush()
            # About 1,000 records/s: far below batch_size, so only the timed flush can store them.
            time.sleep(0.02)
"""

ONE_RUN = """
with rk.open(STORE).collection("study").start_run(name=ARGS[0], capture=False) as run:
    run.log({"i": 0, "x": 0.0})
"""


def _progress(path: Path) -> list[tuple[int, float]]:
    points = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:  # the last line may be torn by the kill
            with contextlib.suppress(ValueError):
                points.append((int(parts[0]), float(parts[1])))
    return points


def test_sigkill_mid_run(tmp_path: Path, children: list[Child]) -> None:
    store_path = tmp_path / "records"
    progress, marker = tmp_path / "progress.txt", tmp_path / "flushed"
    child = Child(_script(tmp_path, "killed", KILLED), store_path, progress, marker)
    children.append(child)
    _wait_for(marker.exists, "the child's first flush", [child])
    since = time.time()
    # Let it log (and the writer flush on its own timer) for a few flush intervals.
    _wait_for(
        lambda: progress.exists() and any(t > since + 3.0 for _, t in _progress(progress)),
        "three seconds of logging after the flush",
        [child],
    )
    killed_at = time.time()
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL

    # Nobody has looked at the store since the kill: the database still says running.
    assert _raw_statuses(store_path) == ["running"]
    store = rk.open(store_path)
    assert _raw_statuses(store_path) == ["crashed"]  # opening the store reaped the dead run

    run = store.collection("study").run(1)
    assert run.status is rk.RunStatus.CRASHED
    assert run.had_error
    assert run.error_number == 1
    assert run.error is not None
    rows = _ix(run)
    n = len(rows)
    assert n >= 1000  # everything before the explicit flush
    assert _first_mismatch(rows, [(i, i * 0.5) for i in range(n)]) is None  # a prefix, exact values
    # Durable within one flush interval (0.5 s): all that was logged 1.5 s before the kill is there.
    logged = [count for count, t in _progress(progress) if t <= killed_at - 1.5]
    assert logged, "the child reported no progress 1.5 s before the kill"
    assert n >= max(logged), f"only {n} records stored; {max(logged)} were logged 1.5 s before SIGKILL"
    # Its duration covers its last record (issue 14: it used to end at the last heartbeat, before it).
    last_record = max(record["time"] for record in run.records)
    assert run.end_time is not None and run.end_time >= last_record > run.start_time
    assert run.duration == run.end_time - run.start_time

    # A crash counts as an error: the next run retries number 1.
    done = _run(_script(tmp_path, "one_run", ONE_RUN), store_path, "next")
    assert done.returncode == 0, done.stderr
    runs = store.collection("study").runs()
    assert [(r.number, r.error_number, r.status.value) for r in runs] == [(1, 1, "crashed"), (1, 0, "finished")]


# --- 4. SIGTERM / 5. SIGINT ----------------------------------------------------------------------
SIGNALLED = """
form, activity, marker = ARGS
# A test runner started under nohup hands down an ignored SIGHUP; this child must see the default.
signal.signal(signal.SIGHUP, signal.SIG_DFL)
# idle: nothing is flushed on the timer (60 s), so every record stored was drained by the handler.
store = rk.open(STORE, flush_interval=60.0 if activity == "idle" else 0.5)
col = store.collection("study")


def work(run):
    for i in range(500):
        run.log({"i": i, "x": i * 0.5})
    Path(marker).touch()
    i = 500
    while True:
        if activity == "idle":
            time.sleep(0.05)
            continue
        run.log({"i": i, "x": i * 0.5})
        i += 1
        if i % 100 == 0:
            time.sleep(0.001)


try:
    if form == "with":
        with col.start_run(name="signalled", capture=False) as run:
            work(run)
    else:
        run = col.start_run(name="signalled", capture=False)
        work(run)
except KeyboardInterrupt:
    print("KeyboardInterrupt propagated", flush=True)
    raise
"""


def _signalled(tmp_path: Path, children: list[Child], form: str, activity: str, signum: int) -> tuple[Child, rk.Run]:
    store_path = tmp_path / "records"
    marker = tmp_path / "logged"
    child = Child(_script(tmp_path, "signalled", SIGNALLED), store_path, form, activity, marker)
    children.append(child)
    _wait_for(marker.exists, "500 records logged", [child])
    os.kill(child.pid, signum)
    child.wait()
    return child, rk.open(store_path).collection("study").run(1)


@pytest.mark.parametrize("activity", ["idle", "busy"])
@pytest.mark.parametrize("form", ["with", "explicit"])
def test_sigterm_marks_interrupted(tmp_path: Path, children: list[Child], form: str, activity: str) -> None:
    child, run = _signalled(tmp_path, children, form, activity, signal.SIGTERM)
    assert child.proc.returncode == -signal.SIGTERM, child.stderr
    assert "could not finish" not in child.stderr
    assert run.status is rk.RunStatus.INTERRUPTED
    assert run.had_error
    assert run.error is not None
    assert run.end_time is not None
    rows = _ix(run)
    if activity == "idle":
        assert rows == [(i, i * 0.5) for i in range(500)]
    else:
        assert len(rows) >= 500
        assert _first_mismatch(rows, [(i, i * 0.5) for i in range(len(rows))]) is None


@pytest.mark.parametrize("form", ["with", "explicit"])
def test_sighup_marks_interrupted_like_sigterm(tmp_path: Path, children: list[Child], form: str) -> None:
    # A closed terminal or ssh session: the run was stopped from outside, it did not crash.
    child, run = _signalled(tmp_path, children, form, "idle", signal.SIGHUP)
    assert child.proc.returncode == -signal.SIGHUP, child.stderr
    assert "could not finish" not in child.stderr
    assert run.status is rk.RunStatus.INTERRUPTED
    assert run.error is not None
    assert run.error["message"] == f"terminated by signal {int(signal.SIGHUP)} (SIGHUP)"
    assert run.end_time is not None
    assert _ix(run) == [(i, i * 0.5) for i in range(500)]  # nothing logged before the hangup is lost


def test_ctrl_c_inside_with_marks_interrupted(tmp_path: Path, children: list[Child]) -> None:
    child, run = _signalled(tmp_path, children, "with", "idle", signal.SIGINT)
    assert "KeyboardInterrupt propagated" in child.stdout  # re-raised, not swallowed
    assert child.proc.returncode != 0
    assert run.status is rk.RunStatus.INTERRUPTED
    assert run.error is not None
    assert run.error["type"] == "KeyboardInterrupt"
    assert _ix(run) == [(i, i * 0.5) for i in range(500)]


def test_ctrl_c_in_explicit_form_marks_interrupted(tmp_path: Path, children: list[Child]) -> None:
    child, run = _signalled(tmp_path, children, "explicit", "idle", signal.SIGINT)
    assert "KeyboardInterrupt propagated" in child.stdout
    assert child.proc.returncode != 0
    assert _ix(run) == [(i, i * 0.5) for i in range(500)]
    assert run.status is rk.RunStatus.INTERRUPTED  # DESIGN §1.2: Ctrl-C marks a run interrupted
    assert run.error is not None
    assert run.error["type"] == "KeyboardInterrupt"


# --- 5. the end of the interpreter ---------------------------------------------------------------
EXPLICIT_END = """
ending = ARGS[0]
# A long timer: whatever is stored was drained at exit, not by the timed flush.
run = rk.open(STORE, flush_interval=60.0).collection("study").start_run(name="explicit", capture=False)
for i in range(300):
    run.log({"i": i, "x": i * 0.5})
if ending == "raise":
    raise RuntimeError("explicit boom")
if ending.startswith("exit"):
    sys.exit(int(ending[4:]))
# ending == "fall-off": the script just ends without run.finish()
"""


def _explicit_end(tmp_path: Path, ending: str) -> tuple[subprocess.CompletedProcess[str], rk.Run]:
    store_path = tmp_path / "records"
    done = _run(_script(tmp_path, "explicit_end", EXPLICIT_END), store_path, ending)
    return done, rk.open(store_path).collection("study").run(1)


def test_script_ending_without_finish_marks_finished(tmp_path: Path) -> None:
    done, run = _explicit_end(tmp_path, "fall-off")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert run.status is rk.RunStatus.FINISHED
    assert run.error is None
    assert run.end_time is not None
    assert _ix(run) == [(i, i * 0.5) for i in range(300)]
    meta = json.loads((run.folder / "meta.json").read_text())
    assert meta["status"] == "finished"


def test_uncaught_exception_in_explicit_form_marks_failed(tmp_path: Path) -> None:
    done, run = _explicit_end(tmp_path, "raise")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == "RuntimeError: explicit boom", done.stderr
    assert run.status is rk.RunStatus.FAILED
    assert run.error_number == 1
    assert run.error is not None
    assert run.error["type"] == "RuntimeError"
    assert run.error["message"] == "explicit boom"
    assert 'raise RuntimeError("explicit boom")' in run.error["traceback"]
    assert _ix(run) == [(i, i * 0.5) for i in range(300)]


def test_sys_exit_zero_in_explicit_form_marks_finished(tmp_path: Path) -> None:
    done, run = _explicit_end(tmp_path, "exit0")
    assert done.returncode == 0, done.stderr
    assert run.status is rk.RunStatus.FINISHED
    assert _ix(run) == [(i, i * 0.5) for i in range(300)]


def test_sys_exit_nonzero_in_explicit_form_marks_failed(tmp_path: Path) -> None:
    # The `with` form already treats sys.exit(3) as an error (_run._is_error_exit); so must exit.
    done, run = _explicit_end(tmp_path, "exit3")
    assert done.returncode == 3, done.stderr
    assert _ix(run) == [(i, i * 0.5) for i in range(300)]
    assert run.status is rk.RunStatus.FAILED
    assert run.had_error


# --- 6. a large run read back exactly ------------------------------------------------------------
LARGE = """
n = int(ARGS[0])
with rk.open(STORE).collection("study").start_run(name="large", capture=False) as run:
    for i in range(n):
        run.log({"i": i, "x": i * 0.5, "y": i / 3, "big": 2**60 + i}, step=i)
"""


@pytest.mark.slow
def test_200k_records_read_back_exactly(tmp_path: Path) -> None:
    store_path = tmp_path / "records"
    n = 200_000
    done = _run(_script(tmp_path, "large", LARGE), store_path, n)
    assert done.returncode == 0, done.stderr
    expected = [(i, i, i * 0.5, i / 3, 2**60 + i) for i in range(n)]  # exact, with exact types
    col = rk.open(store_path).collection("study")
    assert len(col.records) == n
    got = [(r["step"], r["i"], r["x"], r["y"], r["big"]) for r in col.records]
    assert _first_mismatch(got, expected) is None
    run = col.run(1)
    assert len(run.records) == n
    got = [(r["step"], r["i"], r["x"], r["y"], r["big"]) for r in run.records]
    assert _first_mismatch(got, expected) is None


# --- 7. storage failures never crash training ----------------------------------------------------
STORAGE_FAILURE = """
import sqlite3
import warnings

obstacle = ARGS[0]
db = Path(STORE) / "recordkit.db"
if obstacle == "locked":
    # The public open() keeps a 60 s busy timeout; a short one makes the lock fail writes quickly.
    from recordkit._settings import load_settings
    from recordkit.backends.sqlite import SQLiteBackend

    store = rk.Store(SQLiteBackend(STORE, busy_timeout=0.2), load_settings(flush_interval=0.1))
else:
    store = rk.open(STORE, flush_interval=0.1)

out = {"errors_while_logging": []}
logged = 0


def log_some(count):
    global logged
    for _ in range(count):
        try:
            run.log({"i": logged, "x": logged * 0.5})
        except Exception as exc:  # the test fails if the training loop ever sees one
            out["errors_while_logging"].append(repr(exc))
        logged += 1


def attempt(call):
    try:
        call()
    except rk.StorageError as exc:
        return "StorageError: " + str(exc)
    return None


def warned():
    return sum(issubclass(w.category, rk.RecordkitWarning) for w in caught)


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    run = store.collection("study").start_run(name="resilient", capture=False)
    log_some(100)
    run.flush()  # the records table exists now
    blocker = sqlite3.connect(db, timeout=60, isolation_level=None)
    if obstacle == "locked":
        blocker.execute("BEGIN EXCLUSIVE")
    else:
        (table,) = blocker.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'records!_%' ESCAPE '!'"
        ).fetchone()
        blocker.execute(f"ALTER TABLE {table} RENAME TO hidden_{table}")
    # Training goes on while every write fails.
    deadline = time.monotonic() + 60
    while not warned() and time.monotonic() < deadline:
        log_some(10)
        time.sleep(0.01)
    out["warned_while_training"] = warned() > 0
    for _ in range(100):  # about a second more of training: several more failed retries
        log_some(10)
        time.sleep(0.01)
    out["flush_during"] = attempt(lambda: run.flush(timeout=60))
    # Training continues after a failed flush too, until the writer's retry has failed again
    # (peeking at the writer: the point is what flush() does with an error from before recovery).
    from recordkit._writer import current_writer

    deadline = time.monotonic() + 60
    while current_writer().error is None and time.monotonic() < deadline:
        log_some(10)
        time.sleep(0.01)
    out["failed_again"] = current_writer().error is not None
    if obstacle == "locked":
        blocker.execute("COMMIT")
    else:
        blocker.execute(f"ALTER TABLE hidden_{table} RENAME TO {table}")
    blocker.close()
    log_some(100)
    out["flushes_after"] = [attempt(lambda: run.flush(timeout=60)) for _ in range(3)]
    out["finish"] = attempt(run.finish)
out["warnings"] = [[w.category.__name__, str(w.message)] for w in caught]
out["logged"] = logged
print(json.dumps(out))
"""


@pytest.fixture(scope="module", params=["locked", "table_renamed"])
def storage_failure(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path]:
    """Run the storage-failure child once per obstacle; hand over its report and the store path."""
    tmp_path = tmp_path_factory.mktemp(f"storage_{request.param}")
    store_path = tmp_path / "records"
    done = _run(_script(tmp_path, "storage_failure", STORAGE_FAILURE), store_path, request.param)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), store_path


def test_storage_failure_never_crashes_training(storage_failure: tuple[dict[str, Any], Path]) -> None:
    out, store_path = storage_failure
    assert out["errors_while_logging"] == []
    assert out["warned_while_training"], out["warnings"]
    recordkit_warnings = [w for w in out["warnings"] if w[0] == "RecordkitWarning"]
    assert len(recordkit_warnings) == 1, out["warnings"]  # once, however many retries fail
    assert out["flush_during"] is not None and out["flush_during"].startswith("StorageError"), out
    assert out["failed_again"], "the writer never retried while the obstacle was there"
    # Once the obstacle is gone the writer catches up: a later flush succeeds, and so does finish().
    assert None in out["flushes_after"], out["flushes_after"]
    assert out["flushes_after"][-1] is None, out["flushes_after"]
    assert out["finish"] is None, out["finish"]
    run = rk.open(store_path).collection("study").run(1)
    assert run.status is rk.RunStatus.FINISHED
    assert _first_mismatch(_ix(run), [(i, i * 0.5) for i in range(out["logged"])]) is None  # nothing lost


def test_first_flush_after_recovery_succeeds(storage_failure: tuple[dict[str, Any], Path]) -> None:
    """flush() waits until everything logged is durable; once it is, a stale error must not be raised."""
    out, _ = storage_failure
    assert out["flushes_after"][0] is None, out["flushes_after"]


def test_a_forked_child_never_finishes_its_parents_run(tmp_path: Path) -> None:
    """A fork (a DataLoader worker, say) that exits normally must leave the parent's run running."""
    import os as _os

    store = rk.open(tmp_path / "records")
    run = store.collection("study").start_run(capture=False)
    run.log(x=1.0)
    run.flush()
    pid = _os.fork()
    if pid == 0:  # the child: what its atexit handler would close
        code = 1
        try:
            from recordkit.runs import lifecycle

            code = 0 if not lifecycle._live else 3
            lifecycle._at_exit()
        finally:
            _os._exit(code)
    _, status_code = _os.waitpid(pid, 0)
    assert _os.waitstatus_to_exitcode(status_code) == 0  # the child saw no runs of its own to finish
    with sqlite3.connect(tmp_path / "records" / "recordkit.db") as conn:
        (status,) = conn.execute("SELECT status FROM runs WHERE id = ?", (run.id,)).fetchone()
    assert status == "running"
    run.finish()
    assert run.status is rk.RunStatus.FINISHED
