"""System metrics: a sampled run has CPU and memory records in its ``source="system"`` scope (real psutil)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

import recordkit as rk
from recordkit.runs.system_metrics import DEFAULT_INTERVAL, Probe, SystemSampler, interval_of

psutil = pytest.importorskip("psutil")


def _sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "recordkit-system-metrics"]


def test_a_sampled_run_has_system_records_with_cpu_and_memory_keys(collection: rk.Collection) -> None:
    with collection.start_run(capture=False, system_metrics=0.05) as run:
        run.next_step(3)
        deadline = time.monotonic() + 10
        run.flush()  # the system scope is stored
        while time.monotonic() < deadline and len(run.records.where(source="system")) < 2:
            time.sleep(0.05)
        run.log(loss=0.5)
    assert not _sampler_threads()  # stopped at finish
    system = list(run.records.where(source="system"))
    assert len(system) >= 3  # at least two timed samples and the last one taken at finish
    for record in system:
        assert 0 <= record["cpu_percent"] <= 100
        assert 0 < record["memory_percent"] <= 100
        assert record["memory_process_rss_bytes"] > 0
        assert record["step"] == 3  # samples carry the run's step at the time
    assert all(r.own("loss") is None for r in system)
    assert [r["loss"] for r in run.records.having("loss")] == [0.5]  # training records are untouched


def test_a_run_shorter_than_the_interval_still_gets_one_sample(collection: rk.Collection) -> None:
    with collection.start_run(capture=False, system_metrics=True) as run:
        run.log(x=1)
    system = list(run.records.where(source="system"))
    assert len(system) == 1 and "cpu_percent" in system[0]


def test_rk_init_takes_system_metrics(tmp_path: Path) -> None:
    run = rk.init(project="p", store=str(tmp_path / "records"), capture=False, system_metrics=0.05)
    time.sleep(0.2)
    rk.finish()
    assert len(run.records.where(source="system")) >= 2


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(True, DEFAULT_INTERVAL, id="true"),
        pytest.param(False, None, id="false"),
        pytest.param(None, None, id="none"),
        pytest.param(2, 2.0, id="int"),
        pytest.param(0.5, 0.5, id="float"),
    ],
)
def test_interval_of(given: object, expected: float | None) -> None:
    assert interval_of(given) == expected


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "10", [1]], ids=repr)
def test_a_bad_interval_is_refused_before_any_run_starts(collection: rk.Collection, bad: object) -> None:
    with pytest.raises(ValueError, match="system_metrics takes True"):
        collection.start_run(capture=False, system_metrics=bad)  # type: ignore[arg-type]
    assert collection.runs() == []


def test_probe_reads_rates_since_the_previous_read(tmp_path: Path) -> None:
    probe = Probe(psutil, tmp_path)
    (tmp_path / "f").write_bytes(b"x" * 100_000)
    time.sleep(0.05)
    values = probe.read()
    probe.close()
    assert {"cpu_percent", "memory_percent", "memory_used_bytes", "disk_percent"} <= set(values)
    assert all(values[k] >= 0 for k in values if k.endswith("_per_s"))
    assert all(type(v) in (int, float) for v in values.values())


class _FailingProbe(Probe):
    """A probe whose reads fail (fault injection: psutil itself does not fail on demand)."""

    def read(self) -> dict[str, float | int]:
        raise OSError("sensor gone")


def test_a_failing_sample_warns_once_and_finish_raises_after_storing_the_status(
    collection: rk.Collection,
) -> None:
    run = collection.start_run(capture=False)
    sampler = SystemSampler(run.scope(source="system"), 0.02, _FailingProbe(psutil))
    run._handle.services.append(sampler.start())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        time.sleep(0.15)
        run.log(x=1)  # training goes on
        with pytest.raises(rk.RecordkitError, match="system metrics could not be sampled: OSError: sensor gone"):
            run.finish()
    assert len([w for w in caught if "could not sample system metrics" in str(w.message)]) == 1
    assert run.status is rk.RunStatus.FINISHED
    assert [r["x"] for r in run.records.having("x")] == [1]


def test_without_psutil_the_error_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['psutil'] = None\n"
        "import recordkit as rk\n"
        f"col = rk.open({str(tmp_path / 'records')!r}).collection('c')\n"
        "try:\n    col.start_run(capture=False, system_metrics=True)\n"
        "except rk.MissingDependencyError as exc:\n    print('HINT', exc, len(col.runs()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HINT system metrics need psutil: pip install 'recordkit[system]'" in out
    assert out.strip().endswith(" 0")  # no run was started


def _nvml_answers() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
        return bool(count)
    except Exception:
        return False


def test_gpu_keys_appear_exactly_when_nvml_answers(tmp_path: Path) -> None:
    """With a driver and GPUs (real NVML), per-GPU keys; without (no pynvml, or no driver), none and no error."""
    probe = Probe(psutil, tmp_path)
    values = probe.read()
    probe.close()
    gpu_keys = {key for key in values if key.startswith("gpu")}
    if _nvml_answers():
        assert {"gpu0_utilization_percent", "gpu0_memory_used_bytes"} <= gpu_keys
    else:
        assert gpu_keys == set()


def test_a_rank_of_a_distributed_run_samples_into_a_system_scope_under_its_rank(
    collection: rk.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    main = collection.start_run(capture=False)
    monkeypatch.setenv("RECORDKIT_RUN_ID", main.id)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with collection.start_run(capture=False, distributed=True, system_metrics=True) as rank1:
        rank1.log(loss=0.5)
    assert not _sampler_threads()
    main.finish()
    system = list(main.records.where(source="system"))
    assert len(system) == 1 and system[0]["rank"] == 1 and "cpu_percent" in system[0]


def test_no_samples_while_paused(collection: rk.Collection) -> None:
    run = collection.start_run(capture=False, system_metrics=0.02)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.pause()
        run.flush()  # a sample that slipped in while pause() was flushing is stored too
        before = len(run.records.where(source="system"))
        time.sleep(0.2)
        run.flush()
        during = len(run.records.where(source="system"))
        run.resume()
        run.finish()
    assert during == before  # nothing sampled while paused
    assert len(run.records.where(source="system")) == before + 1  # the last sample, at finish
    assert not [w for w in caught if "system metrics" in str(w.message)]  # a refused sample is no failure
