"""Sync: a folder store into another store (the shared PostgreSQL one, or another folder), exactly once."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tests.conftest import fast_run

import recordkit as rk
from recordkit.backends.base import WriteItem
from recordkit.cli import main
from recordkit.read import sync as _sync

pytestmark = pytest.mark.backends("sqlite", "postgres")


@pytest.fixture
def source(tmp_path: Path) -> rk.Store:
    """A folder store to sync from."""
    return rk.open(tmp_path / "local")


def _flat(store: rk.Store) -> list[dict[str, Any]]:
    rows = []
    for run in store.runs():
        for record in run.records:
            flat = dict(record)
            for volatile in ("experiment_number", "error_number", "had_error"):
                flat.pop(volatile, None)
            rows.append(flat)
    return sorted(rows, key=lambda r: (r["run_id"], r["step"], repr(sorted(r.items()))))


def _fill(store: rk.Store) -> rk.Run:
    col = store.collection("study")
    with fast_run(col, config={"lr": 0.1}, name="base") as run:
        model = run.scope(model="m1")
        for epoch in range(3):
            training = model.scope(training=True, epoch=epoch)
            for i in range(20):
                training.log({"loss": 1 / (i + 1), "i": i}, step=epoch * 20 + i)
        model["note"] = "added later"
        run.log(final=True)
    with pytest.raises(ValueError), fast_run(col) as failed:
        failed.log(x=1.0)
        raise ValueError("boom")
    return run


def test_sync_copies_everything_and_repeating_copies_nothing(source: rk.Store, fresh_store: rk.Store) -> None:
    run = _fill(source)
    first = source.sync_to(fresh_store)
    assert first.runs_created == 2 and first.records == 62
    assert _flat(fresh_store) == _flat(source)
    second = source.sync_to(fresh_store)
    assert (second.runs_created, second.records, second.scopes) == (0, 0, 0)
    assert len(fresh_store.collection("study").records) == 62
    copied = fresh_store.run(run.id)
    assert copied.status is rk.RunStatus.FINISHED and copied.config == {"lr": 0.1} and copied.name == "base"
    assert [r.status for r in fresh_store.collection("study").runs()] == [rk.RunStatus.FINISHED, rk.RunStatus.FAILED]
    assert fresh_store.collection("study").records.where(model="m1", epoch=2).count("loss") == 20
    # The series keeps the label it had at the source (a field added later does not rename it).
    assert copied.summary()["model=m1/training=true/loss"]["count"] == 60
    assert copied.summary() == source.run(copied.id).summary()


def test_sync_while_a_run_is_writing_gives_each_record_once(source: rk.Store, fresh_store: rk.Store) -> None:
    live = fast_run(source.collection("live"))
    scope = live.scope(phase="a")
    for i in range(10):
        scope.log(i=i)
    source.sync_to(fresh_store)  # flushes the source first
    assert fresh_store.run(live.id).status is rk.RunStatus.RUNNING
    later = live.scope(phase="b")
    for i in range(10, 25):
        (scope if i % 2 else later).log(i=i)
    scope["extra"] = "field"
    source.sync_to(fresh_store)
    live.log(i=25)
    live.finish()
    source.sync_to(fresh_store)
    source.sync_to(fresh_store)
    copied = fresh_store.run(live.id)
    assert sorted(r["i"] for r in copied.records) == list(range(26))
    assert copied.status is rk.RunStatus.FINISHED
    assert [r.get("extra") for r in copied.records.where(phase="a")][:1] == ["field"]
    assert _flat(fresh_store) == _flat(source)


def test_an_interrupted_sync_resumes_without_duplicates(
    source: rk.Store, fresh_store: rk.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(source)
    monkeypatch.setattr(_sync, "BATCH", 7)
    backend = fresh_store.backend
    real = backend.write_batch
    calls = {"n": 0}

    def cut_after_three(items: list[WriteItem]) -> None:
        calls["n"] += 1
        if calls["n"] > 3:
            raise rk.StorageError("the network went away (injected)")
        real(items)

    monkeypatch.setattr(backend, "write_batch", cut_after_three)
    with pytest.raises(rk.StorageError):
        source.sync_to(fresh_store)
    monkeypatch.setattr(backend, "write_batch", real)
    assert 0 < len(fresh_store.collection("study").records) < 62
    source.sync_to(fresh_store)
    assert len(fresh_store.collection("study").records) == 62
    assert _flat(fresh_store) == _flat(source)
    for run in source.runs():  # the lifecycle events too, each once
        assert _rows(fresh_store, run.id) == _rows(source, run.id) and _rows(source, run.id)[0]


def test_run_folder_files_are_copied_once(source: rk.Store, fresh_store: rk.Store) -> None:
    with fast_run(source.collection("c")) as run:
        (run.folder / "notes.txt").write_text("hello")
        (run.folder / "plots").mkdir()
        (run.folder / "plots" / "a.png").write_bytes(b"\x89PNG")
    assert source.sync_to(fresh_store).files == 3  # notes.txt, plots/a.png and the run's events.jsonl
    target = fresh_store.run(run.id).folder
    assert (target / "events.jsonl").exists()
    assert (target / "notes.txt").read_text() == "hello" and (target / "plots" / "a.png").exists()
    assert (target / "meta.json").exists()
    assert source.sync_to(fresh_store).files == 0


def test_syncing_a_store_into_itself_is_refused(source: rk.Store) -> None:
    with pytest.raises(rk.StoreError, match="into itself"):
        source.sync_to(source)


def test_cli_sync(source: rk.Store, fresh_store: rk.Store, store_kind: str, store_path: Path) -> None:
    _fill(source)
    source.close()
    args = ["sync", str(source.path), fresh_store.url]
    if store_kind == "postgres":
        args += ["--files", str(store_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "2 run(s) created" in result.output and "62 record(s)" in result.output
    again = CliRunner().invoke(main, args)
    assert "0 run(s) created" in again.output and "0 record(s)" in again.output
    assert len(fresh_store.collection("study").records) == 62


@pytest.mark.postgres
def test_a_sync_cut_off_by_the_network_is_finished_by_the_next(
    source: rk.Store, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib.parse import urlsplit

    from tests.conftest import pg_base_url
    from tests.pgproxy import Proxy

    _fill(source)
    parts = urlsplit(pg_base_url())
    proxy = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    try:
        url = urlsplit(pg_url)._replace(netloc=f"postgres@127.0.0.1:{proxy.port}").geturl()
        shared = rk.open(url)
        monkeypatch.setattr(_sync, "BATCH", 7)
        real = shared.backend.write_batch
        calls = {"n": 0}

        def cut_after_three(items: list[WriteItem]) -> None:
            calls["n"] += 1
            if calls["n"] == 4:
                proxy.down()  # the network goes away in the middle of the sync
            real(items)

        monkeypatch.setattr(shared.backend, "write_batch", cut_after_three)
        with pytest.raises(rk.StorageError), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            source.sync_to(shared)
        assert shared.backend.spool.pending() > 0  # type: ignore[attr-defined]
        proxy.up()
        report = source.sync_to(shared)
        assert report.records <= 62
        assert len(shared.collection("study").records) == 62
        assert _flat(shared) == _flat(source)
        for run in source.runs():
            assert _rows(shared, run.id) == _rows(source, run.id)
        shared.close()
    finally:
        proxy.close()


def _rows(store: rk.Store, run_id: str) -> tuple[list[Any], list[Any], list[Any]]:
    """A run's events, file rows and outgoing links as stored, without the store-local ``seq``."""
    backend = store.backend
    events = [(e.name, e.time, e.step, e.duration, e.data) for e in backend.events([run_id])]
    files = [(f.name, f.kind, f.step, f.size, f.sha256, f.path, f.meta, f.removed) for f in backend.files([run_id])]
    links = [(lk.target_id, lk.relation, lk.time, lk.data) for lk in backend.links(run_id) if lk.source_id == run_id]
    return events, files, links


def test_events_files_and_links_are_copied_once_while_the_run_writes(
    source: rk.Store, fresh_store: rk.Store, tmp_path: Path
) -> None:
    with fast_run(source.collection("study")) as base:
        base.attach(b"shared bytes", name="data.bin")
    live = fast_run(source.collection("study"))
    live.event("epoch/0", acc=0.5)
    live.attach(b"shared bytes", name="same-content.bin")  # the blob base attached: stored once
    live.link(base, "fine-tunes", layers=2)
    first = source.sync_to(fresh_store)
    assert first.links == 1 and first.blobs == 1 and first.file_rows == 2
    live.event("epoch/1", acc=0.7)
    live.attach(b"other bytes", name="later.bin")
    live.link(base, "compares-with")
    source.sync_to(fresh_store)  # picks up only what came since
    live.finish()
    again = source.sync_to(fresh_store)
    assert again.links == 0 and again.blobs == 0 and again.file_rows == 0 and again.events > 0  # the end event
    nothing = source.sync_to(fresh_store)
    assert (nothing.events, nothing.file_rows, nothing.links, nothing.blobs) == (0, 0, 0, 0)
    for run in (base, live):
        assert _rows(fresh_store, run.id) == _rows(source, run.id)
    copied = fresh_store.run(live.id)
    assert copied.events.named("epoch/1")[0].data == {"acc": 0.7}
    assert copied.open_file("later.bin").read() == b"other bytes"
    assert fresh_store.run(base.id).open_file("data.bin").read() == b"shared bytes"
    assert [(lk.source_id, lk.relation) for lk in fresh_store.run(base.id).links()] == [
        (live.id, "fine-tunes"), (live.id, "compares-with")
    ]
    assert not fresh_store.unreferenced_blobs()


def test_a_checkpoint_removed_after_a_sync_is_marked_removed_by_the_next(
    source: rk.Store, fresh_store: rk.Store
) -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Linear(2, 1)
    run = fast_run(source.collection("study"))
    run.retention = rk.Retention(keep_last=1)
    run.save_model(model, "net", step=0)
    source.sync_to(fresh_store)
    run.save_model(model, "net", step=1)  # retention removes step 0
    run.finish()
    source.sync_to(fresh_store)
    copied = fresh_store.run(run.id)
    assert [(c.step, c.removed is not None) for c in copied.checkpoints("net", include_removed=True)] == [
        (0, True), (1, False)
    ]
    assert _rows(fresh_store, run.id) == _rows(source, run.id)
    assert copied.load_checkpoint("net").info.step == 1  # its file came with the run folder
