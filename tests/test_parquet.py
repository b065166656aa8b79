"""Sealing: a finished run's flat records as one zstd Parquet file, written atomically, kept fresh."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pytest
from tests.conftest import fast_run

import recordkit as rk
from recordkit._settings import load_settings
from recordkit.read.parquet import SEALED_NAME, sealed_meta, wait_sealed

pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed")


def sealed_file(run: rk.Run) -> Path:
    return run.folder / SEALED_NAME


def test_a_finished_run_is_sealed_in_the_background(collection: rk.Collection) -> None:
    with fast_run(collection, config={"lr": 0.1, "opt": {"name": "adam"}}, name="base") as run:
        episode = run.scope(episode=2)
        for i in range(10):
            episode.log(x=i / 10, y=float(i), step=i)
    wait_sealed(collection.store)
    path = sealed_file(run)
    table = pq.read_table(path)
    assert table.num_rows == 10
    assert table.column_names == [
        "step", "time", "x", "y", "episode", "run_id", "run_name", "collection", "status", "experiment_number",
        "error_number", "had_error", "experiment_start_time", "experiment_end_time", "experiment_duration",
        "config.lr", "config.opt.name", "scope_id", "seq",
    ]
    frame = table.to_pylist()
    flat = [r.to_dict() for r in run.records]
    for stored, record in zip(frame, flat, strict=True):
        assert {k: stored[k] for k in record} == record  # scope and run fields as columns, exactly
    assert frame[0]["config.lr"] == 0.1 and frame[0]["config.opt.name"] == "adam"
    metadata = pq.ParquetFile(path).metadata
    assert {metadata.row_group(0).column(i).compression for i in range(metadata.num_columns)} == {"ZSTD"}
    assert sealed_meta(path) == {
        "run_id": run.id, "status": "finished", "end_time": run.end_time, "run_name": run.name, "records": 10,
        "format": 1,
    }
    assert [p.name for p in run.folder.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_values_keep_their_types_and_mixed_kinds_are_exact_text(collection: rk.Collection) -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5)
    with fast_run(collection) as run:
        run.log(dict(f=1.5, n=1, b=True, s="a", t=when, v=[1.0, 2.0], d={"k": 1}, mixed=1.0), flatten=False)
        run.log(dict(f=math.nan, n=2.5, b=False, s=None, t=when, v=[3.0], d={"j": [2]}, mixed="text"), flatten=False)
    path = collection.store.seal(run)
    table = pq.read_table(path)
    types = {name: str(table.schema.field(name).type) for name in ("f", "n", "b", "s", "t", "v", "d", "mixed")}
    assert types == {
        "f": "double", "n": "double", "b": "bool", "s": "string", "t": "timestamp[us]", "v": "list<element: double>",
        "d": "string", "mixed": "string",
    }
    rows = table.to_pylist()
    assert math.isnan(rows[1]["f"])  # NaN stays NaN
    assert [r["d"] for r in rows] == ['{"k":1}', '{"j":[2]}']
    assert [r["mixed"] for r in rows] == ["1.0", "text"]  # strings as they are, the rest as JSON
    assert rows[0]["t"] == when


def test_a_live_run_is_not_sealed(collection: rk.Collection) -> None:
    run = fast_run(collection)
    run.log(x=1)
    with pytest.raises(rk.RunStateError, match="only finished runs are sealed"):
        collection.store.seal(run)
    run.finish()


def test_sealing_can_be_turned_off(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECORDKIT_SEAL", "0")
    with rk.open(store_path) as store:
        assert store.settings.seal is False
        with fast_run(store.collection("study")) as run:
            run.log(x=1)
    assert not sealed_file(run).exists()
    with rk.open(store_path, seal=True) as store:  # an argument beats the variable
        assert store.settings.seal is True


def test_a_bad_seal_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECORDKIT_SEAL", "maybe")
    with pytest.raises(ValueError, match="RECORDKIT_SEAL='maybe'"):
        load_settings()


def test_a_stale_sealed_file_is_sealed_again(collection: rk.Collection) -> None:
    with fast_run(collection) as run:
        run.log(x=1.0)
    path = collection.store.seal(run)
    meta = json.loads(pq.read_schema(path).metadata[b"recordkit"])
    meta["end_time"] = 0.0  # as if the run had been resumed and finished again since
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({"recordkit": json.dumps(meta)}), path)
    assert collection.store.seal(run) == path
    assert sealed_meta(path)["end_time"] == run.end_time  # type: ignore[index]


def test_a_failed_run_is_sealed_with_its_status(collection: rk.Collection) -> None:
    with pytest.raises(RuntimeError), fast_run(collection) as run:
        run.log(x=1.0)
        raise RuntimeError("diverged")
    wait_sealed(collection.store)
    row = pq.read_table(sealed_file(run)).to_pylist()[0]
    assert (row["status"], row["had_error"], row["error_number"]) == ("failed", True, 1)


def test_a_script_that_ends_right_after_finish_still_gets_its_file(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(
        "import recordkit as rk\n"
        "with rk.open('records').collection('study').start_run(capture=False) as run:\n"
        "    for i in range(1000):\n"
        "        run.log(x=i, step=i)\n"
        "print(run.folder)\n",
        encoding="utf-8",
    )
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    folder = tmp_path / done.stdout.strip()
    assert pq.read_table(folder / SEALED_NAME, columns=["x"]).column("x").to_pylist() == list(range(1000))
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_a_run_finished_by_the_exit_handler_is_sealed_at_export(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(
        "import recordkit as rk\n"
        "run = rk.open('records').collection('study').start_run(capture=False)\n"
        "run.log(x=1.5)\n"
        "print(run.folder)\n",  # no finish(): the exit handler finishes the run
        encoding="utf-8",
    )
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    with rk.open(tmp_path / "records") as store:
        (path,) = store.export_parquet(tmp_path / "out")
        assert pq.read_table(path).column("x").to_pylist() == [1.5]
    assert (tmp_path / done.stdout.strip() / SEALED_NAME).exists()


def test_a_run_without_records_and_nested_config_seals(collection: rk.Collection) -> None:
    with fast_run(collection, config={"layers": [64, 32], "empty": {}, "opt": {"lr": 0.1}}) as run:
        pass
    table = pq.read_table(collection.store.seal(run))
    assert table.num_rows == 0
    assert str(table.schema.field("config.layers").type) == "list<element: int64>"
    assert str(table.schema.field("config.empty").type) == "string"  # a dict is kept as JSON text
