"""recordkit.capture.hardware: CPU, memory and disk sizes, and byte counts written for people."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from recordkit.capture import capture_environment, human_bytes


def test_hardware_sizes() -> None:
    hardware = capture_environment(parts=["hardware"])[0]["hardware"]
    assert hardware["cpu_count"] == os.cpu_count()
    assert 1 <= hardware["cpu_usable"] <= hardware["cpu_count"]
    if sys.platform.startswith("linux"):
        assert hardware["memory_total"] > 0
        assert hardware["memory_total_human"].endswith("B")
    assert hardware["disk_total"] >= hardware["disk_free"] > 0
    assert hardware["disk_total"] == shutil.disk_usage(hardware["disk_path"]).total


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1 kB"),
        (1500, "1.5 kB"),
        (9_960, "10 kB"),
        (999_999, "1 MB"),
        (16_000_000_000, "16 GB"),
        (17_179_869_184, "17 GB"),
        (112_000_000_000, "112 GB"),
        (-2_500_000, "-2.5 MB"),
        (10**21, "1000 EB"),
    ],
)
def test_human_bytes(n: int, text: str) -> None:
    assert human_bytes(n) == text
