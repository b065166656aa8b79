"""The journal's file format and ring, on real files: entries in order across laps, torn and stale
entries detected, the byte cap and ``on_full``, and a replay into a real store."""

from __future__ import annotations

import datetime
import marshal
import mmap
import time
from pathlib import Path

import pytest

import recordkit as rk
from recordkit._journal import ENTRY_SIZE, Journal, JournalFile
from recordkit._recovery import replay_file
from recordkit.backends.base import AddEvent, CreateScope, RecordRows

SMALL = 1 << 16  # the smallest ring allowed: a few laps in a short test


def make_journal(folder: Path | None, capacity: int = SMALL, **options: object) -> Journal:
    settings = {"limit": 10**9, "batch": 10**9, "on_full": "raise", "block_timeout": 0.1,
                "wake": lambda: None, "warn": lambda key, message: None}
    settings.update(options)
    return Journal(folder, capacity, **settings)  # type: ignore[arg-type]


def drain(journal: Journal) -> list[object]:
    """Take and release everything, as the writer does; the payloads in order."""
    out: list[object] = []
    while (taken := journal.take()) is not None:
        payloads, _, offset, number = taken
        out += payloads
        journal.release(offset, number)
    return out


def payload(i: int) -> bytes:
    return marshal.dumps((0, 1, i, i, 0.5, float(i), "x" * (i % 50)), 2)


def test_entries_come_back_in_order_across_laps(tmp_path: Path) -> None:
    journal = make_journal(tmp_path)
    seen: list[object] = []
    for i in range(5_000):  # several laps of the small ring
        journal.append(payload(i))
        if i % 97 == 0:
            seen += drain(journal)
    seen += drain(journal)
    assert [p[2] for p in seen] == list(range(5_000))  # type: ignore[index]
    assert journal.head > 5 * SMALL  # the ring went round several times


def test_a_full_ring_raises_with_on_full_raise_and_keeps_what_it_has(tmp_path: Path) -> None:
    journal = make_journal(tmp_path)
    with pytest.raises(rk.RunStateError, match="RECORDKIT_JOURNAL_SIZE"):
        for i in range(10_000):
            journal.append(payload(i))
    written = journal.number
    assert 0 < written < 10_000
    assert [p[2] for p in drain(journal)] == list(range(written))  # type: ignore[index]


def test_on_full_drop_warns_and_goes_on(tmp_path: Path) -> None:
    warned: list[str] = []
    journal = make_journal(tmp_path, on_full="drop", warn=lambda key, message: warned.append(message))
    for i in range(10_000):
        journal.append(payload(i))
    assert warned and "dropped" in warned[0]
    assert journal.head - journal.tail <= SMALL


def test_items_round_trip_and_unplain_ones_are_pinned(tmp_path: Path) -> None:
    journal = make_journal(tmp_path)
    when = datetime.datetime(2026, 1, 2, 3, 4, 5)
    shape = journal.shape("run1", ("x", "y"))
    assert shape == 0 and journal.shape("run1", ("x", "y")) == 0
    journal.append_item(CreateScope(7, "run1", None, {"episode": 1}))
    journal.record(shape, marshal.dumps((1.5, 0.25, 2, 7, 0, 0), 2))
    journal.record(shape, marshal.dumps((1.5, 0.5, 3, 7, 1, 1), 2))
    journal.append_item(AddEvent("run1", "eval", 2.0, 1, None, {"when": when}))  # a datetime: pinned
    journal.append_item(("run1", 7, 2, 2, 2.5, {"z": [1, 2]}))
    items = journal.decode(drain(journal), 0)
    assert items[0] == CreateScope(7, "run1", None, {"episode": 1})
    assert items[1] == RecordRows("run1", ("x", "y"), [(1.5, 0.25, 2, 7, 0, 0), (1.5, 0.5, 3, 7, 1, 1)])
    assert items[2] == AddEvent("run1", "eval", 2.0, 1, None, {"when": when})
    assert items[3] == ("run1", 7, 2, 2, 2.5, {"z": [1, 2]})
    assert journal.pinned == {}


def _file_entries(path: Path) -> list[int]:
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        return [p[2] for _, _, p in JournalFile(mm).entries(0, 0)]


def test_a_truncated_file_keeps_its_intact_prefix(tmp_path: Path) -> None:
    journal = make_journal(tmp_path)
    sizes = []
    for i in range(300):
        journal.append(payload(i))
        sizes.append(len(payload(i)) + ENTRY_SIZE)
    assert journal.path is not None
    path = journal.path
    assert _file_entries(path) == list(range(300))
    journal.close(committed=False)  # unmapped first: touching a truncated mapping is a SIGBUS
    cut = journal.ring + sum(sizes[:123]) + 5  # five bytes into entry 123
    with path.open("r+b") as f:
        f.truncate(cut)
    assert _file_entries(path) == list(range(123))


def test_a_corrupt_entry_ends_the_replay_there(tmp_path: Path) -> None:
    journal = make_journal(tmp_path)
    sizes = []
    for i in range(300):
        journal.append(payload(i))
        sizes.append(len(payload(i)) + ENTRY_SIZE)
    assert journal.path is not None
    at = journal.ring + sum(sizes[:200]) + ENTRY_SIZE + 3  # a byte of entry 200's payload
    journal.close(committed=False)
    with journal.path.open("r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert _file_entries(journal.path) == list(range(200))


def test_stale_entries_of_an_earlier_lap_are_not_replayed(tmp_path: Path) -> None:
    journal = make_journal(tmp_path)
    for i in range(3_000):  # several laps; what the ring still holds of earlier laps is stale
        journal.append(payload(i))
        if i % 50 == 0:
            drain(journal)
    assert journal.path is not None
    with journal.path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        found = [p[2] for _, _, p in JournalFile(mm).entries(journal.tail, journal.committed)]
    assert found == list(range(journal.committed, 3_000))


def test_a_dead_journal_is_replayed_into_the_store_once(store_path: Path) -> None:
    store = rk.open(store_path)
    run = store.collection("c").start_run(capture=False)
    run.flush()
    journal = make_journal(store_path / ".journal")  # stands for a process that died before committing
    shape = journal.shape(run.id, ("x",))
    for i in range(100):
        journal.record(shape, marshal.dumps((1.0, float(i), run._row.root_scope, 1000 + i, i), 2))
    assert journal.path is not None
    journal.close(committed=False)  # unlocked, as a dead owner's file is
    assert replay_file(store.backend, journal.path) == 100
    assert not journal.path.exists()
    assert replay_file(store.backend, journal.path) == 0
    run.finish()
    assert [r["x"] for r in run.records] == [float(i) for i in range(100)]
    store.close()


def test_a_live_journal_is_left_alone(store_path: Path) -> None:
    store = rk.open(store_path)
    run = store.collection("c").start_run(capture=False)
    run.log(x=1.0)
    journal = store._channel.journal
    assert journal is not None and journal.path is not None and journal.path.exists()
    assert replay_file(store.backend, journal.path) == 0  # its lock is held: the owner lives
    run.finish()
    assert len(run.records) == 1
    store.close()
    assert not journal.path.exists()  # everything was stored: the file is gone


def test_a_journal_that_cannot_be_made_lives_in_memory(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the journal folder would go")
    warned: list[str] = []
    journal = make_journal(blocked, warn=lambda key, message: warned.append(message))
    assert journal.path is None and not journal.durable
    assert warned and "in memory" in warned[0]
    journal.append(payload(1))
    assert [p[2] for p in drain(journal)] == [1]  # type: ignore[index]


def test_settings_check_journal_options() -> None:
    from recordkit._settings import load_settings

    assert load_settings(fsync="2.5").fsync == 2.5
    assert load_settings(fsync="finish").fsync == "finish"
    with pytest.raises(ValueError, match="fsync"):
        load_settings(fsync="sometimes")
    with pytest.raises(ValueError, match="journal_size"):
        load_settings(journal_size=1000)


def test_records_of_several_shapes_decode_right_across_batches_and_laps(tmp_path: Path) -> None:
    from recordkit._journal import decode

    journal = make_journal(tmp_path, batch=7)
    a, b = journal.shape("r", ("x",)), journal.shape("r", ("x", "y"))
    assert a is not None and b is not None
    expected: list[tuple[tuple[str, ...], int]] = []
    got: list[tuple[tuple[str, ...], int]] = []
    replayed: list[tuple[tuple[str, ...], int]] = []
    assert journal.path is not None
    with journal.path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        file = JournalFile(mm)
        for i in range(4_000):  # several laps; the shape changes every 1 to 5 records; an item now and then
            if (i // 3) % 2:
                journal.record(b, marshal.dumps((0.5, float(i), 1.0, 1, i, i), 2))
                expected.append((("x", "y"), i))
            else:
                journal.record(a, marshal.dumps((0.5, float(i), 1, i, i), 2))
                expected.append((("x",), i))
            if i % 11 == 0:
                journal.append_item(CreateScope(100 + i, "r", 1, {}))
            if i % 13 == 0:
                while (taken := journal.take()) is not None:
                    payloads, first, offset, number = taken
                    # A replay from this batch's start reads the same records (it knows their shape).
                    again = [p for _, _, p in file.entries(journal.tail, journal.committed)][: len(payloads)]
                    for item in decode(again, file.shapes):
                        if isinstance(item, RecordRows):
                            replayed += [(item.keys, row[-2]) for row in item.rows]
                    for item in journal.decode(payloads, first):
                        if isinstance(item, RecordRows):
                            got += [(item.keys, row[-2]) for row in item.rows]
                    journal.release(offset, number)
    assert journal.head > 3 * SMALL
    assert got == expected[: len(got)] and len(got) > 3_900
    assert replayed == got


def test_logging_after_the_store_closed_says_so(store_path: Path) -> None:
    store = rk.open(store_path)
    run = store.collection("c").start_run(capture=False)
    run.log(x=1.0)
    run.flush()
    store.close()
    with pytest.raises(rk.RunStateError, match="store was closed"):
        run.log(x=2.0)
    from recordkit.runs import lifecycle

    lifecycle.forget(run)  # left unfinished on purpose: neither the exit handler nor the heartbeat touch it
    run._handle.untrack()


@pytest.mark.parametrize("fsync", ["finish", 0.05])
def test_fsync_policies_force_the_journal_and_keep_every_record(
        store_path: Path, fsync: object, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = Journal.sync
    monkeypatch.setattr(Journal, "sync", lambda self: (synced.append(self.number), real(self))[1])
    store = rk.open(store_path, fsync=fsync)
    run = store.collection("c").start_run(capture=False)
    for i in range(1_000):
        run.log(x=float(i))
        if fsync != "finish" and i % 100 == 0:
            time.sleep(0.02)  # let the interval pass a few times while logging
    run.finish()
    assert synced, "the journal was never forced to disk"
    assert [r["x"] for r in run.records] == [float(i) for i in range(1_000)]
    store.close()
