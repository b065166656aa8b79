"""System metrics: CPU, memory, disk and network of the process and the machine, and the GPUs, sampled
in a background thread into the run's ``source="system"`` scope.

``start_run(system_metrics=True)`` samples every 10 s (a number of seconds sets another interval). Each
sample is one ordinary record at the run's current step, so the usual reads, filters and SQL apply
(``run.records.where(source="system")``). The sampler never runs in the training thread: it sleeps on
an event between samples, takes one last sample when the run finishes, and stops before the run ends.

The machine is read through psutil (``pip install 'recordkit[system]'``) and the GPUs through NVML
(``pynvml``, from nvidia-ml-py) when it is installed and a driver answers; otherwise there are no GPU
keys. A metric the platform does not offer is left out; an unexpected failure warns once, sampling
goes on, and ``finish()`` raises it.
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from recordkit._exceptions import RecordkitError, RecordkitWarning, RunStateError

if TYPE_CHECKING:
    from recordkit.runs.run import Scope

#: Seconds between samples for ``system_metrics=True``.
DEFAULT_INTERVAL = 10.0
#: The scope field that marks system records.
SOURCE = "system"


def interval_of(value: object) -> float | None:
    """The sampling interval ``system_metrics=`` asks for (None: off); raise ValueError for anything else."""
    if value is None or value is False:
        return None
    if value is True:
        return DEFAULT_INTERVAL
    if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
        return float(value)
    raise ValueError(
        f"system_metrics takes True (every {DEFAULT_INTERVAL:g} s), False, or an interval in seconds > 0, "
        f"not {value!r}"
    )


class Probe:
    """Reads one sample. Counters (disk and network bytes) become rates since the previous read."""

    def __init__(self, psutil: Any, disk_path: str | os.PathLike[str] | None = None) -> None:
        self.psutil = psutil
        self.process = psutil.Process()
        self.disk_path = os.fspath(disk_path) if disk_path is not None else os.getcwd()
        # cpu_percent() measures since its previous call: the first call only starts the clock.
        self.process.cpu_percent(None)
        psutil.cpu_percent(None)
        self._counters = self._read_counters()
        self._gpus = _open_nvml()

    def _read_counters(self) -> tuple[float, dict[str, float]]:
        found: dict[str, float] = {}
        disk = _quietly(self.psutil.disk_io_counters)
        if disk is not None:
            found["disk_read_bytes_per_s"] = disk.read_bytes
            found["disk_write_bytes_per_s"] = disk.write_bytes
        net = _quietly(self.psutil.net_io_counters)
        if net is not None:
            found["network_sent_bytes_per_s"] = net.bytes_sent
            found["network_recv_bytes_per_s"] = net.bytes_recv
        return time.monotonic(), found

    def read(self) -> dict[str, float | int]:
        """One sample: ``cpu_*``, ``memory_*``, ``disk_*``, ``network_*`` and ``gpu<i>_*`` keys."""
        psutil, process = self.psutil, self.process
        values: dict[str, float | int] = {"cpu_percent": float(psutil.cpu_percent(None))}
        values["cpu_process_percent"] = float(process.cpu_percent(None))
        threads = _quietly(process.num_threads)
        if threads is not None:
            values["cpu_process_threads"] = int(threads)
        memory = psutil.virtual_memory()
        values["memory_percent"] = float(memory.percent)
        values["memory_used_bytes"] = int(memory.total - memory.available)
        values["memory_available_bytes"] = int(memory.available)
        values["memory_process_rss_bytes"] = int(process.memory_info().rss)
        disk = _quietly(psutil.disk_usage, self.disk_path)
        if disk is not None:
            values["disk_percent"] = float(disk.percent)
        before_time, before = self._counters
        now, counters = self._counters = self._read_counters()
        elapsed = now - before_time
        if elapsed > 0:
            for key, total in counters.items():
                if key in before:
                    values[key] = max(0.0, (total - before[key]) / elapsed)
        for index, handle in enumerate(self._gpus):
            values.update(_gpu_values(index, handle))
        return values

    def close(self) -> None:
        if self._gpus:
            nvml = _nvml()
            if nvml is not None:
                _quietly(nvml.nvmlShutdown)
            self._gpus = []


class SystemSampler:
    """Logs ``probe.read()`` into ``scope`` every ``interval`` seconds from a daemon thread."""

    def __init__(self, scope: Scope, interval: float, probe: Probe) -> None:
        self.scope = scope
        self.interval = interval
        self.probe = probe
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="recordkit-system-metrics", daemon=True)

    def start(self) -> SystemSampler:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        """Take and log one sample; a failure is kept for ``stop()`` and warned about once."""
        try:
            self.scope.log(self.probe.read())
        except RunStateError:
            pass  # paused (or ending): no sample now
        except Exception as exc:
            if self.error is None:
                self.error = exc
                warnings.warn(
                    f"recordkit could not sample system metrics ({type(exc).__name__}: {exc}); training "
                    "continues, sampling goes on, and finish() will raise this error",
                    RecordkitWarning,
                    stacklevel=2,
                )

    def stop(self, error: BaseException | None = None) -> BaseException | None:
        """Stop the thread, take a last sample, release NVML; return the first sampling failure."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(max(5.0, self.interval))
        self.sample()  # a run shorter than the interval still has a sample, and every run ends with one
        self.probe.close()
        if self.error is None:
            return None
        failure = RecordkitError(f"system metrics could not be sampled: {type(self.error).__name__}: {self.error}")
        failure.__cause__ = self.error
        return failure


def start_sampler(scope_of: Callable[..., Scope], interval: float, disk_path: Any = None) -> SystemSampler:
    """Open the probe (psutil is required), make the ``source="system"`` scope, start sampling."""
    from recordkit._deps import require

    psutil = require("psutil", "system metrics need psutil")
    probe = Probe(psutil, disk_path)
    return SystemSampler(scope_of(source=SOURCE), interval, probe).start()


# --- GPUs through NVML -------------------------------------------------------------------------------


def _nvml() -> Any:
    try:
        import importlib

        return importlib.import_module("pynvml")
    except Exception:  # not installed (or the deprecated wrapper failing): no GPU metrics
        return None


def _open_nvml() -> list[Any]:
    """Device handles of every GPU NVML sees; empty without pynvml or a driver."""
    nvml = _nvml()
    if nvml is None:
        return []
    try:
        nvml.nvmlInit()
    except Exception:  # no driver or no GPU
        return []
    try:
        return [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
    except Exception:
        _quietly(nvml.nvmlShutdown)
        return []


def _gpu_values(index: int, handle: Any) -> dict[str, float | int]:
    nvml = _nvml()
    prefix = f"gpu{index}_"
    values: dict[str, float | int] = {}
    rates = _quietly(nvml.nvmlDeviceGetUtilizationRates, handle)
    if rates is not None:
        values[prefix + "utilization_percent"] = float(rates.gpu)
    memory = _quietly(nvml.nvmlDeviceGetMemoryInfo, handle)
    if memory is not None:
        values[prefix + "memory_used_bytes"] = int(memory.used)
        values[prefix + "memory_percent"] = 100.0 * memory.used / memory.total if memory.total else 0.0
    temperature = _quietly(nvml.nvmlDeviceGetTemperature, handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0))
    if temperature is not None:
        values[prefix + "temperature_c"] = float(temperature)
    power = _quietly(nvml.nvmlDeviceGetPowerUsage, handle)
    if power is not None:
        values[prefix + "power_w"] = power / 1000.0  # NVML reports milliwatts
    return values


def _quietly(read: Callable[..., Any], *args: Any) -> Any:
    """``read(*args)``, or None where the platform does not offer it (psutil or NVML refusing)."""
    try:
        return read(*args)
    except Exception:
        return None
