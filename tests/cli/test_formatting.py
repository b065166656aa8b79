"""Values as a table shows them: cells, durations, byte counts."""

from __future__ import annotations

from typing import Any

import pytest

from recordkit.cli.formatting import display_cell, human_bytes, short_duration


@pytest.mark.parametrize(
    ("value", "table"),
    [
        pytest.param(0.1, "0.1", id="float"),
        pytest.param(1 / 3, "0.333333", id="float-digits"),
        pytest.param(float("nan"), "nan", id="nan"),
        pytest.param(float("-inf"), "-inf", id="-inf"),
        pytest.param(True, "true", id="bool"),
        pytest.param(None, "", id="none"),
        pytest.param([1, "a"], '[1,"a"]', id="list"),
        pytest.param({"k": (1, 2)}, '{"k":[1,2]}', id="dict-with-tuple"),
    ],
)
def test_cell_formats(value: Any, table: str) -> None:
    """The table text of a value (its CSV and JSON text: tests/test_formats.py)."""
    assert display_cell("v", value) == table


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.421, "0.42s"), (12.34, "12.3s"), (75, "1m15s"), (7300, "2h01m")],
)
def test_short_duration(seconds: float, text: str) -> None:
    assert short_duration(seconds) == text


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (0, 999, 1000, 4096, 999_949, 999_950, 3_500_000, 10**13)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "4.1 kB",
        "999.9 kB",
        "1.0 MB",
        "3.5 MB",
        "10.0 TB",
    ]
