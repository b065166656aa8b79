"""The ``gpu`` part: the machine's NVIDIA GPUs and driver, read through NVML.

NVML comes from ``pynvml`` (the nvidia-ml-py distribution), imported only when this part is captured and
only when installed; without it, or without a driver, ``devices`` is empty and no error is raised. NVML
lists every GPU of the machine, whatever ``CUDA_VISIBLE_DEVICES`` says (which is recorded beside them).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from recordkit.capture.hardware import human_bytes

__all__ = ["capture_gpu"]


def capture_gpu() -> dict[str, Any]:
    """The ``gpu`` part: ``devices``, ``count``, driver and CUDA driver versions, ``visible_devices``."""
    info: dict[str, Any] = {
        "devices": [],
        "count": 0,
        "driver_version": None,
        "cuda_driver_version": None,
        "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    try:
        import importlib

        nvml = importlib.import_module("pynvml")
    except Exception:  # not installed, or the deprecated wrapper failing: no GPU information, no error
        return info
    try:
        nvml.nvmlInit()
    except Exception:  # no driver or no GPU
        return info
    try:
        info["driver_version"] = _text(nvml.nvmlSystemGetDriverVersion())
        cuda = nvml.nvmlSystemGetCudaDriverVersion()
        info["cuda_driver_version"] = f"{cuda // 1000}.{cuda % 1000 // 10}"
        devices = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = int(nvml.nvmlDeviceGetMemoryInfo(handle).total)
            devices.append(
                {
                    "index": index,
                    "name": _text(nvml.nvmlDeviceGetName(handle)),
                    "uuid": _text(nvml.nvmlDeviceGetUUID(handle)),
                    "memory_total": memory,
                    "memory_total_human": human_bytes(memory),
                }
            )
        info["devices"] = devices
        info["count"] = len(devices)
    except Exception as exc:  # a half-working driver: keep what was read, say what failed
        info["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
    return info


def _text(value: object) -> str:
    # Older pynvml versions return bytes.
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
