"""Values marshal cannot hold reach the journal too (``_journal_values.py``), and the hot path tells a
record of floats from its bytes (``runs/checked.hot_shape``) without letting anything else through.

Each kill test runs a real child that logs and kills itself with SIGKILL right after the last
``log()`` returned; the parent opens the store (which replays the journal) and reads the values back.
"""

from __future__ import annotations

import datetime as dt
import marshal
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import recordkit as rk
from recordkit._journal import FILE_HEADER, MAGIC, Journal
from recordkit._journal_values import encode, revive
from recordkit._recovery import replay_file

torch = pytest.importorskip("torch")

needs_posix = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")


PRELUDE = """\
import datetime as dt, os, signal, sys
import numpy as np, torch
import recordkit as rk
store = rk.open(sys.argv[1])
run = store.collection("c").start_run(capture=False)
print(run.id, flush=True)
"""


def run_and_kill(store: Path, body: str) -> str:
    """Run ``body`` in a child with ``run`` live, then SIGKILL the child at once; the run's id."""
    script = PRELUDE + textwrap.dedent(body) + "\nos.kill(os.getpid(), signal.SIGKILL)\n"
    done = subprocess.run([sys.executable, "-c", script, str(store)], capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr
    return done.stdout.split()[0]


@needs_posix
def test_datetimes_arrays_and_cpu_tensors_survive_sigkill(tmp_path: Path) -> None:
    store_path = tmp_path / "records"
    run_id = run_and_kill(store_path, """\
for i in range(50):
    run.log({"when": dt.datetime(2026, 1, 1, 0, 0, i, tzinfo=dt.timezone.utc), "day": dt.date(2026, 1, 1 + i % 28),
             "loss": torch.tensor(i / 4), "vec": np.arange(3.0) + i, "count": torch.tensor(i), "m": np.float32(i)},
            step=i)""")
    store = rk.open(store_path)
    run = store.run(run_id)
    assert run.status == rk.RunStatus.CRASHED
    records = list(run.records)
    assert len(records) == 50, "records logged before the kill were lost"
    for i, r in enumerate(records):
        assert r["when"] == dt.datetime(2026, 1, 1, 0, 0, i, tzinfo=dt.timezone.utc)
        assert r["day"] == dt.date(2026, 1, 1 + i % 28)
        assert r["loss"] == i / 4 and r["count"] == i and type(r["count"]) is int
        assert r["vec"] == [float(i), i + 1.0, i + 2.0] and r["m"] == float(i)
    store.close()


def test_a_tensor_changed_in_place_after_log_keeps_its_logged_value(tmp_path: Path) -> None:
    store = rk.open(tmp_path / "records")
    run = store.collection("c").start_run(capture=False)
    weights = torch.zeros(3)
    run.log({"w": weights}, step=0)
    weights += 5.0  # the training step goes on with the same storage
    run.log({"w": weights}, step=1)
    run.finish()
    assert [r["w"] for r in run.records] == [[0.0, 0.0, 0.0], [5.0, 5.0, 5.0]]
    store.close()


def test_values_the_journal_cannot_hold_are_still_stored(tmp_path: Path) -> None:
    store = rk.open(tmp_path / "records")
    run = store.collection("c").start_run(capture=False)
    run.log({"half": torch.tensor(1.5, dtype=torch.bfloat16), "grad": torch.ones(2, requires_grad=True) * 2})
    run.finish()
    (record,) = run.records
    assert record["half"] == 1.5 and record["grad"] == [2.0, 2.0]
    store.close()


def test_encode_and_revive_round_trip_each_kind() -> None:
    when = dt.datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    array = np.arange(6, dtype=np.int16).reshape(2, 3)
    values = {"t": when, "d": dt.date(2026, 3, 4), "a": array, "x": 1.5, "s": "text", "j": [1, {"k": 2}],
              "cpu": torch.tensor([1.0, 2.0]), "one": torch.tensor(True)}
    encoded = encode(values, 1 << 20)
    assert marshal.loads(marshal.dumps(encoded, 2)) == encoded  # marshal holds every value now
    back = revive(marshal.loads(marshal.dumps(encoded, 2)))
    assert isinstance(back, dict) and back["t"] == when and back["d"] == dt.date(2026, 3, 4)
    assert back["a"].dtype == np.int16 and back["a"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert back["cpu"].tolist() == [1.0, 2.0] and back["one"].item() is True
    assert back["x"] == 1.5 and back["s"] == "text" and back["j"] == [1, {"k": 2}]
    plain = {"x": 1.0}
    assert revive(plain) is plain  # nothing tagged: the same dict, no copy
    with pytest.raises(ValueError):
        encode({"b": torch.tensor(1.0, dtype=torch.bfloat16)}, 1 << 20)  # numpy has no bfloat16: kept in memory
    with pytest.raises(ValueError):
        encode({"big": np.zeros(1000)}, 4000)  # 8,000 bytes over a cap of 4,000: not copied, kept in memory


def test_the_hot_path_refuses_what_it_must_once_the_keys_are_known(tmp_path: Path) -> None:
    store = rk.open(tmp_path / "records")
    run = store.collection("c").start_run(capture=False)
    for i in range(3):
        run.log({"a": 0.5, "b": 1.5}, step=i)  # the key set is journalled: these take the hot path
    with pytest.raises(ValueError, match="outside signed 64 bits"):
        run.log({"a": 2**70, "b": 1.0})
    with pytest.raises(ValueError, match="NUL"):
        run.log({"a": 1.0, "b": "g\x00ggggggg"})  # text whose bytes could look like a float's code
    run.log({"a": True, "b": None}, step=3)
    run.log({"a": 7, "b": "gggggggg"}, step=4)
    run.log({"a": np.float64(2.5), "b": float("nan")}, step=5)
    run.log({"a": -0.0, "b": math.inf}, step=6)
    run.finish()
    got = [(r["a"], r["b"]) for r in run.records]
    assert got[:5] == [(0.5, 1.5)] * 3 + [(True, None), (7, "gggggggg")]
    assert type(got[3][0]) is bool and type(got[4][0]) is int
    assert got[5][0] == 2.5 and math.isnan(got[5][1])
    assert got[6] == (-0.0, math.inf) and math.copysign(1, got[6][0]) == -1
    assert run.summary()["a"]["count"] == 7
    store.close()


def test_a_journal_of_the_earlier_version_is_replayed(store_path: Path) -> None:
    """A journal written before records led with time (version 1) is still replayed right."""
    store = rk.open(store_path)
    run = store.collection("c").start_run(capture=False)
    run.flush()
    journal = Journal(store_path / ".journal", 1 << 20, limit=10**6, batch=10**6, on_full="raise",
                      block_timeout=1.0, wake=lambda: None, warn=lambda *_: None)
    shape = journal.shape(run.id, ("x", "y"))
    assert shape is not None
    for i in range(20):  # version 1's order: (scope_id, seq, step, time, *values, None)
        journal.record(shape, marshal.dumps((run._row.root_scope, 500 + i, i, 1.0, float(i), -float(i), None), 2))
    FILE_HEADER.pack_into(journal.mm, 0, MAGIC, 1, journal.capacity, 1 << 20, journal.id.encode())
    assert journal.path is not None
    journal.close(committed=False)
    assert replay_file(store.backend, journal.path) == 20
    run.finish()
    assert [(r["step"], r["x"], r["y"]) for r in run.records] == [(i, float(i), -float(i)) for i in range(20)]
    store.close()


def test_the_writer_stores_while_a_loop_keeps_logging(tmp_path: Path) -> None:
    """The writer commits beside a busy logging loop (executemany gave the GIL back after every row
    and waited the switch interval to win it again: nothing was stored until the loop ended)."""
    store = rk.open(tmp_path / "records")
    run = store.collection("c").start_run(capture=False)
    log = run.scope(episode=0).log
    journal = run._handle.journal
    assert journal is not None
    logged = 0
    while journal.committed < 25_000 and logged < 3_000_000:  # bounded by records, not by time
        log({"x": 0.5, "y": 0.25})
        logged += 1
    assert journal.committed >= 25_000, f"nothing was stored while {logged:,} records were logged"
    run.finish()
    assert len(run.records) == logged
    store.close()


def test_batches_of_any_size_are_stored_whole_and_in_order(tmp_path: Path) -> None:
    """Multi-row INSERT statements come in powers of two: every count splits into them exactly."""
    store = rk.open(tmp_path / "records", batch_size=100_000, flush_interval=60)
    run = store.collection("c").start_run(capture=False)
    total = 0
    for count in (1, 3, 4095, 4096, 4097, 12_289):
        for i in range(count):
            run.log({"v": float(total + i)}, step=total + i)
        total += count
        run.flush()  # one batch of exactly ``count`` records
    run.finish()
    assert [r["v"] for r in run.records] == [float(i) for i in range(total)]
    store.close()


def test_a_refused_record_moves_neither_the_step_nor_the_records(tmp_path: Path) -> None:
    store = rk.open(tmp_path / "records")
    run = store.collection("c").start_run(capture=False)
    run.log({"a": 1.0}, step=1)
    run.log({"a": 2.0}, step=2)  # the key set takes the hot path from here
    for bad in (2**70, "nul\x00", "\ud800"):
        with pytest.raises(ValueError):
            run.log({"a": bad}, step=100)
    assert run.step == 2
    run.log({"a": 3.0})
    run.finish()
    assert [(r["step"], r["a"]) for r in run.records] == [(1, 1.0), (2, 2.0), (2, 3.0)]
    store.close()


def test_an_array_too_big_for_the_journal_is_kept_in_memory_and_stored(tmp_path: Path) -> None:
    store = rk.open(tmp_path / "records", journal_size=1 << 21)  # a 2 MiB ring
    run = store.collection("c").start_run(capture=False)
    big = np.arange(1_000_000, dtype=np.float32)  # 4 MB: more than the whole ring
    run.log({"w": big, "x": 1.0})
    run.log({"w": big[:10], "x": 2.0})  # small: in the journal
    run.finish()
    first, second = run.records
    assert len(first["w"]) == 1_000_000 and first["w"][-1] == 999_999.0
    assert second["w"] == [float(i) for i in range(10)]
    store.close()
