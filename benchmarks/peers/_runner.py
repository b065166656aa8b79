"""Runs the harness's phases for one subject, each in its own child process, and gathers one row.

Every child runs in a new session: when it exits (or is killed), whatever it started and left behind
(wandb's service, say) is given a few seconds to finish on its own, as it would after a real crash, and
then killed, so that nothing of one subject runs on beside the next. A phase that fails is recorded in
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
import time
from pathlib import Path
from typing import Any

from benchmarks.peers._subjects import Subject
from benchmarks.peers._workload import EPISODES, EXPERIMENTS, FULL_PER_EPISODE

REPO = Path(__file__).resolve().parents[2]
LEFTOVER_GRACE_S = 15.0


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


def _end_session(pid: int, grace_s: float) -> bool:
    """Wait up to ``grace_s`` for what the child left in its session to exit; kill the rest. True if any was left."""
    deadline = time.monotonic() + grace_s
    left = False
    while True:
        try:
            os.killpg(pid, 0)
        except (ProcessLookupError, PermissionError):
            return left
        left = True
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            return left
        time.sleep(0.2)


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
            cmd, cwd=REPO, env=child_env(subject, scratch), stdout=err, stderr=err, start_new_session=True
        )
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            _end_session(proc.pid, 0)
            return None, f"{phase}: timed out after {timeout_s:.0f} s", False
    leftover = _end_session(proc.pid, LEFTOVER_GRACE_S)
    expected = -signal.SIGKILL if phase == "kill" else 0
    if rc != expected:
        return None, f"{phase}: exit status {rc}: {_last_line(err_path)}", leftover
    if phase == "kill":
        return {}, "", leftover
    text = out.read_text(encoding="utf-8")
    return (json.loads(text) if text else None), "" if text else f"{phase}: no result written", leftover


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
                f"processes it started outlived the SIGKILL; they got {LEFTOVER_GRACE_S:.0f} s before being killed"
            )
        return result

    row.hot = phase("hot", scratch / "hot", n=sizes.steps)
    if phase("kill", scratch / "kill", n=sizes.steps) is not None:
        row.kill = phase("count", scratch / "kill")
        if row.kill is not None:
            row.kill["n"] = sizes.steps
    row.work = phase("workload", scratch / "workload", per_episode=sizes.for_subject(subject.scale))
    if row.work is not None:
        row.work["scale"] = row.work["records"] / row.full_records
        row.query = phase("query", scratch / "workload")
    return row


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return (lines[-1] if lines else "no output")[:240]
