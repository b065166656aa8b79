"""Zero loss on SIGKILL, with real processes: nothing ``log()`` returned from is lost, and a dead
process's journal is committed exactly once by whoever opens the store next.

Each child logs in a tight loop and writes, after every ``log()`` returned, the count so far to a
pipe; the parent kills it with SIGKILL at a random instant, reads the last count that came through
(a record the child counted had returned from ``log()``), then opens the store and reads every
record back: all of them, each once, in order, and the run ``crashed``. Nothing asserts a duration.
"""

from __future__ import annotations

import os
import random
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import recordkit as rk

pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals"),
              pytest.mark.backends("sqlite", "postgres")]

DEADLINE = 120.0
COUNT = struct.Struct("<Q")

LOGGER = """\
import os, struct, sys
import recordkit as rk

url, fd, total, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
options = {"files": os.environ["FILES"]} if url.startswith("postgresql") else {}
if mode == "mid-commit":  # tell the parent each time a batch's transaction starts
    from recordkit.backends import writing

    real = writing.apply_batch

    def announced(conn, items, registry):
        os.write(fd, struct.pack("<Q", 2**63))
        return real(conn, items, registry)

    writing.apply_batch = announced
    import recordkit.backends.core as core
    core.apply_batch = announced
store = rk.open(url, **options)
run = store.collection("c").start_run(capture=False)
os.write(fd, run.id.encode()[:16].ljust(16))
scope = run.scope(episode=1)
pack = struct.Struct("<Q").pack
write = os.write
for i in range(total):
    scope.log({"x": float(i), "i": i})
    write(fd, pack(i + 1))
write(fd, pack(2**64 - 1))  # all logged
import time
time.sleep(600)  # the parent kills us
"""


class Logger:
    """A child logging ``total`` records, reporting its count on a pipe (read by a thread)."""

    def __init__(self, tmp_path: Path, url: str, total: int, mode: str = "plain") -> None:
        script = tmp_path / "logger.py"
        script.write_text(textwrap.dedent(LOGGER), encoding="utf-8")
        read, write = os.pipe()
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECORDKIT_") or k == "RECORDKIT_SPOOL"}
        env["FILES"] = str(tmp_path / "files")
        self.err_path = tmp_path / "logger.err"
        with self.err_path.open("w") as err:  # a file, not a pipe: it can never fill up and block the child
            self.proc = subprocess.Popen([sys.executable, str(script), url, str(write), str(total), mode],
                                         pass_fds=(write,), env=env, stderr=err)
        os.close(write)
        self.count = 0
        self.done = threading.Event()
        self.committing = threading.Event()
        self.started = threading.Event()
        self.run_id = ""
        self._reader = threading.Thread(target=self._read, args=(read,), daemon=True)
        self._reader.start()

    def _read(self, fd: int) -> None:
        buffer = b""
        with os.fdopen(fd, "rb", buffering=0) as pipe:
            head = b""
            while len(head) < 16:
                chunk = pipe.read(16 - len(head))
                if not chunk:
                    return
                head += chunk
            self.run_id = head.decode().strip()
            self.started.set()
            while chunk := pipe.read(65536):
                buffer += chunk
                whole = len(buffer) - len(buffer) % 8
                for (value,) in COUNT.iter_unpack(buffer[:whole]):
                    if value == 2**64 - 1:
                        self.done.set()
                    elif value == 2**63:
                        self.committing.set()
                    else:
                        self.count = value
                buffer = buffer[whole:]

    def kill(self) -> int:
        """SIGKILL; the count the child had logged (every record counted returned from log())."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(DEADLINE)
        self._reader.join(DEADLINE)
        return self.count

    def wait_for(self, event: threading.Event) -> None:
        if not event.wait(DEADLINE):
            self.proc.kill()
            pytest.fail(f"the child never got there; stderr:\n{self.err_path.read_text()}")


def open_store(url: str, tmp_path: Path) -> rk.Store:
    return rk.open(url, files=tmp_path / "files") if url.startswith("postgresql") else rk.open(url)


def assert_all_kept(url: str, tmp_path: Path, run_id: str, logged: int) -> None:
    """The run reads crashed with every record it logged, each once, in log order."""
    store = open_store(url, tmp_path)
    try:
        run = store.run(run_id)
        assert run.status == rk.RunStatus.CRASHED
        values = [record["i"] for record in run.records]
        assert len(values) >= logged, f"{logged - len(values)} of {logged} logged records were lost"
        assert values == list(range(len(values))), "records lost in the middle, or stored twice"
    finally:
        store.close()


def test_sigkill_at_random_instants_loses_nothing_logged(store_url: str, tmp_path: Path) -> None:
    rng = random.Random(12)
    for trial in range(20):
        folder = tmp_path / f"trial{trial}"
        folder.mkdir()
        url = store_url if store_url.startswith("postgresql") else str(folder / "records")
        child = Logger(folder, url, 10**9)
        child.wait_for(child.started)
        time.sleep(rng.uniform(0.0, 1.5))
        logged = child.kill()
        assert_all_kept(url, folder, child.run_id, logged)


def test_sigkill_right_after_the_last_log_keeps_every_record(store_url: str, tmp_path: Path) -> None:
    child = Logger(tmp_path, store_url, 10_000)
    child.wait_for(child.done)
    assert child.kill() == 10_000
    assert_all_kept(store_url, tmp_path, child.run_id, 10_000)


def test_sigkill_in_the_middle_of_a_batch_commit_stores_each_record_once(store_url: str, tmp_path: Path) -> None:
    child = Logger(tmp_path, store_url, 10**9, mode="mid-commit")
    child.wait_for(child.committing)
    logged = child.kill()
    assert_all_kept(store_url, tmp_path, child.run_id, logged)


OPENER = """\
import os, sys, time
import recordkit as rk

url, go = sys.argv[1], float(sys.argv[2])
options = {"files": os.environ["FILES"]} if url.startswith("postgresql") else {}
while time.time() < go:
    pass
store = rk.open(url, **options)
store.close()
"""


def test_two_processes_opening_at_once_replay_exactly_once(store_url: str, tmp_path: Path) -> None:
    child = Logger(tmp_path, store_url, 30_000)
    child.wait_for(child.done)
    child.kill()
    script = tmp_path / "opener.py"
    script.write_text(OPENER, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECORDKIT_") or k == "RECORDKIT_SPOOL"}
    env["FILES"] = str(tmp_path / "files")
    go = time.time() + 3.0  # both interpreters are started by then, and open the store together
    openers = [subprocess.Popen([sys.executable, str(script), store_url, str(go)], env=env) for _ in range(2)]
    assert [p.wait(DEADLINE) for p in openers] == [0, 0]
    assert_all_kept(store_url, tmp_path, child.run_id, 30_000)


RSS = """\
import resource, sys
import recordkit as rk

url = sys.argv[1]
store = rk.open(url)
run = store.collection("c").start_run(capture=False)
scope = run.scope(episode=1)
log = scope.log
for i in range(1000):
    log({"x": 0.5, "y": 1.5})
run.flush()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for i in range(2_000_000):
    log({"x": i * 0.5, "y": 1.5})
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
run.finish()
print(before, after, len(run.records))
"""


def test_two_million_records_keep_memory_within_the_journal_cap(store_kind: str, tmp_path: Path) -> None:
    if store_kind != "sqlite":
        pytest.skip("memory is the journal's, whatever the engine: measured once")
    script = tmp_path / "rss.py"
    script.write_text(RSS, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECORDKIT_")}
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "records")], env=env, check=True,
                         capture_output=True, text=True, timeout=600).stdout
    before, after, stored = map(int, out.split())
    cap = rk.Settings().journal_size // 1024
    margin = 48 * 1024  # KiB: SQLite's page cache, one decoded batch, interpreter noise
    assert stored == 2_001_000
    assert after - before <= cap + margin, f"peak RSS grew by {(after - before) // 1024} MiB"
