"""Runs the harness's phases for one subject, each in its own child process, and gathers one row.

Every child is watched with the processes it starts (wandb's service, say): their summed peak RSS is
kept beside the child's own, and when the child exits (or is killed) what it left behind is given a few
seconds to finish on its own, as it would after a real crash, and then killed, so that nothing of one
subject runs on beside the next. A phase that fails is recorded in
the row with the child's last error line; the other phases and the other subjects go on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.peers._subjects import Subject
from benchmarks.peers._workload import EPISODES, EXPERIMENTS, FULL_PER_EPISODE

REPO = Path(__file__).resolve().parents[2]
LEFTOVER_GRACE_S = 15.0
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclasses.dataclass
class Sizes:
    steps: int
    per_episode: int

    def for_subject(self, scale: float) -> int:
        return max(10, round(self.per_episode * scale))


@dataclasses.dataclass
class Row:
    key: str
    name: str
    kind: str
    version: str = ""
    #: Set when the subject could not be installed: nothing was measured.
    failed: str = ""
    hot: dict[str, Any] | None = None
    kill: dict[str, Any] | None = None
    work: dict[str, Any] | None = None
    query: dict[str, Any] | None = None
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    #: Records of the unscaled workload of this run (3M, or fewer with --quick).
    full_records: int = EXPERIMENTS * EPISODES * FULL_PER_EPISODE


def child_env(subject: Subject, scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    if subject.requirements:  # a peer's venv: only the harness, never this checkout's recordkit
        env["PYTHONPATH"] = str(REPO)
        home = scratch / "home"
        home.mkdir(parents=True, exist_ok=True)
        env.update(
            HOME=str(home),
            XDG_CACHE_HOME=str(home / ".cache"),
            XDG_CONFIG_HOME=str(home / ".config"),
            WANDB_MODE="offline",
            WANDB_SILENT="true",
            AIM_UI_TELEMETRY_ENABLED="0",
            GRADIO_ANALYTICS_ENABLED="False",
            HF_HUB_OFFLINE="1",
            DO_NOT_TRACK="1",
        )
    else:
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
    env.pop("VIRTUAL_ENV", None)
    return env


def _processes() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, start time) of every process, from /proc (empty where there is none)."""
    found: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                found[int(entry)] = (int(fields[1]), fields[19])
            except (OSError, IndexError, ValueError):
                continue  # it exited while being read
    return found


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


class ProcessTree:
    """Watches a child and every process it starts, every 0.25 s: the summed RSS's peak (a child's own
    ru_maxrss leaves out helpers such as wandb's service, which even starts its own session) and which
    helpers to wait for, then kill, once the child is gone (they are re-parented when it dies)."""

    def __init__(self, pid: int) -> None:
        self.root, self.peak = pid, 0
        self.seen: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def helpers(self) -> list[int]:
        """The helpers seen that still run (the same process: same start time)."""
        now = _processes()
        return [pid for pid, started in self.seen.items() if pid in now and now[pid][1] == started]

    def _loop(self) -> None:
        while True:
            now = _processes()
            tree = {self.root} | {pid for pid, started in self.seen.items() if now.get(pid, (0, ""))[1] == started}
            grew = True
            while grew:
                more = {pid for pid, (parent, _) in now.items() if parent in tree and pid not in tree}
                tree |= more
                grew = bool(more)
            for pid in tree - {self.root}:
                if pid in now:
                    self.seen.setdefault(pid, now[pid][1])
            self.peak = max(self.peak, sum(_rss(pid) for pid in tree))
            if self._stop.wait(0.25):
                return


def _end_helpers(tree: ProcessTree, pgid: int, grace_s: float) -> bool:
    """Wait up to ``grace_s`` for the child's helpers to exit on their own; kill the rest. True if any was left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)  # anything still in the child's own process group
    deadline = time.monotonic() + grace_s
    left = tree.helpers()
    outlived = bool(left)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = tree.helpers()
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return outlived


def run_phase(
    python: str,
    subject: Subject,
    phase: str,
    folder: Path,
    scratch: Path,
    *,
    n: int | None = None,
    per_episode: int | None = None,
    timeout_s: float = 900,
) -> tuple[dict[str, Any] | None, str, bool]:
    """(result, error, leftover): ``error`` is "" on success; ``leftover`` tells that the child left processes."""
    out = Path(tempfile.mkstemp(prefix=f"{phase}-", suffix=".json", dir=scratch)[1])
    err_path = scratch / f"{subject.key}-{phase}.stderr"
    cmd = [python, "-m", "benchmarks.peers._child", phase, subject.module, str(folder), "--out", str(out)]
    if n is not None:
        cmd += ["--n", str(n)]
    if per_episode is not None:
        cmd += ["--per-episode", str(per_episode)]
    with open(err_path, "w", encoding="utf-8") as err:
        proc = subprocess.Popen(
            cmd, cwd=scratch, env=child_env(subject, scratch), stdout=err, stderr=err, start_new_session=True
        )
        tree = ProcessTree(proc.pid)
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            tree.stop()
            _end_helpers(tree, proc.pid, 0)
            return None, f"{phase}: timed out after {timeout_s:.0f} s", False
        tree.stop()
    leftover = _end_helpers(tree, proc.pid, LEFTOVER_GRACE_S)
    expected = -signal.SIGKILL if phase == "kill" else 0
    if rc != expected:
        return None, f"{phase}: exit status {rc}: {_last_line(err_path)}", leftover
    if phase == "kill":
        return {}, "", leftover
    text = out.read_text(encoding="utf-8")
    if not text:
        return None, f"{phase}: no result written", leftover
    result: dict[str, Any] = json.loads(text)
    result["tree_peak_rss"] = tree.peak
    return result, "", leftover


def measure(subject: Subject, python: str, scratch: Path, sizes: Sizes, timeout_s: float, say: Any) -> Row:
    row = Row(subject.key, subject.name, subject.kind, full_records=EXPERIMENTS * EPISODES * sizes.per_episode)
    scratch.mkdir(parents=True, exist_ok=True)

    def phase(name: str, folder: Path, **kwargs: Any) -> dict[str, Any] | None:
        say(f"{subject.key}: {name}")
        result, error, leftover = run_phase(python, subject, name, folder, scratch, timeout_s=timeout_s, **kwargs)
        if error:
            row.errors[name] = error
            say(f"{subject.key}: {error}")
        if leftover and name == "kill":
            row.notes.append(
                f"helper processes it started outlived the SIGKILL; they had up to {LEFTOVER_GRACE_S:.0f} s to "
                "finish on their own before the steps were read back"
            )
        return result

    steps = max(100, round(sizes.steps * subject.steps_scale))
    row.hot = phase("hot", scratch / "hot", n=steps)
    if phase("kill", scratch / "kill", n=steps) is not None:
        row.kill = phase("count", scratch / "kill")
        if row.kill is not None:
            row.kill["n"] = steps
    row.work = phase("workload", scratch / "workload", per_episode=sizes.for_subject(subject.scale))
    if row.work is not None:
        row.work["scale"] = row.work["records"] / row.full_records
        row.query = phase("query", scratch / "workload")
    return row


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return (lines[-1] if lines else "no output")[:240]
