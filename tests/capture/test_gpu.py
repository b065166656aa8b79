"""recordkit.capture.gpu: GPUs read through NVML, and an empty part without it.

No GPU here: NVML is replaced by a stand-in module that answers as a two-GPU machine would."""

from __future__ import annotations

import sys
import types

import pytest

from recordkit.capture import capture_environment


def test_gpu_without_nvml_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    gpu = capture_environment(parts=["gpu"])[0]["gpu"]
    assert gpu["devices"] == []
    assert gpu["count"] == 0
    assert gpu["visible_devices"] == "0,1"
    assert "error" not in gpu


def test_gpu_read_through_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    fake = types.ModuleType("pynvml")
    fake.nvmlInit = lambda: calls.append("init")  # type: ignore[attr-defined]
    fake.nvmlShutdown = lambda: calls.append("shutdown")  # type: ignore[attr-defined]
    fake.nvmlSystemGetDriverVersion = lambda: b"550.54.15"  # type: ignore[attr-defined]
    fake.nvmlSystemGetCudaDriverVersion = lambda: 12040  # type: ignore[attr-defined]
    fake.nvmlDeviceGetCount = lambda: 2  # type: ignore[attr-defined]
    fake.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    fake.nvmlDeviceGetName = lambda h: f"NVIDIA H100 #{h}"  # type: ignore[attr-defined]
    fake.nvmlDeviceGetUUID = lambda h: f"GPU-{h}"  # type: ignore[attr-defined]
    fake.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(total=80_000_000_000)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    gpu = capture_environment(parts=["gpu"])[0]["gpu"]
    assert gpu["driver_version"] == "550.54.15"
    assert gpu["cuda_driver_version"] == "12.4"
    assert gpu["count"] == 2
    assert gpu["devices"][1] == {
        "index": 1,
        "name": "NVIDIA H100 #1",
        "uuid": "GPU-1",
        "memory_total": 80_000_000_000,
        "memory_total_human": "80 GB",
    }
    assert calls == ["init", "shutdown"]


def test_gpu_without_driver_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("pynvml")

    def no_driver() -> None:
        raise RuntimeError("NVML Shared Library Not Found")

    fake.nvmlInit = no_driver  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    gpu = capture_environment(parts=["gpu"])[0]["gpu"]
    assert gpu["devices"] == []
