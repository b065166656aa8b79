"""recordkit.capture.system: the system, python and process parts."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from recordkit.capture import capture_environment


def test_imported_library_versions_come_from_sys_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_torch = types.ModuleType("torch")
    fake_torch.__version__ = "9.9.9"  # type: ignore[attr-defined]
    fake_torch.version = types.SimpleNamespace(cuda="12.1")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    libraries = capture_environment(parts=["python"])[0]["python"]["libraries"]
    assert libraries["torch"] == "9.9.9"
    assert libraries["cuda"] == "12.1"
    assert libraries["numpy"] == np.__version__
    assert "tensorflow" not in libraries
