"""Values as CSV and JSON text (recordkit._formats): exact, strict, streamed, and a leaf module."""

from __future__ import annotations

import ast
import datetime as dt
import json
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recordkit import _formats
from recordkit._formats import (
    csv_cell,
    csv_lines,
    json_array_chunks,
    json_dumps,
    json_row,
    json_value,
    plain_text,
    thaw,
    utc_iso,
)


def strict(text: str) -> Any:
    """json.loads that refuses NaN and the infinities, as strict JSON parsers do."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    ("value", "csv", "json_"),
    [
        pytest.param(0.1, "0.1", 0.1, id="float"),
        pytest.param(1 / 3, repr(1 / 3), 1 / 3, id="float-digits"),
        pytest.param(float("nan"), "nan", {"$float": "nan"}, id="nan"),
        pytest.param(float("-inf"), "-inf", {"$float": "-inf"}, id="-inf"),
        pytest.param(True, "true", True, id="bool"),
        pytest.param(None, "", None, id="none"),
        pytest.param([1, "a"], '[1,"a"]', [1, "a"], id="list"),
        pytest.param({"k": (1, 2)}, '{"k":[1,2]}', {"k": [1, 2]}, id="dict-with-tuple"),
    ],
)
def test_cell_formats(value: Any, csv: str, json_: Any) -> None:
    """The CSV and JSON text of a value (its table text: tests/cli/test_formatting.py)."""
    assert csv_cell("v", value) == csv
    assert json_value("v", value) == json_


def test_json_array_chunks_stream_valid_json() -> None:
    assert "".join(json_array_chunks([])) == "[]\n"
    assert strict("".join(json_array_chunks([{"a": 1}, {"a": 2}]))) == [{"a": 1}, {"a": 2}]


def test_thaw_gives_plain_dicts_and_lists() -> None:
    frozen = types.MappingProxyType({"opt": types.MappingProxyType({"betas": (0.9, 0.99)}), 1: "one"})
    thawed = thaw(frozen)
    assert thawed == {"opt": {"betas": [0.9, 0.99]}, "1": "one"}
    assert type(thawed) is dict and type(thawed["opt"]) is dict and type(thawed["opt"]["betas"]) is list
    assert thaw("text") == "text" and thaw(None) is None


def test_times_are_iso_utc_only_in_time_columns() -> None:
    assert utc_iso(1_700_000_000.5) == "2023-11-14T22:13:20.500000+00:00"
    times = frozenset({"start"})
    assert csv_cell("start", 1_700_000_000, times=times) == "2023-11-14T22:13:20+00:00"
    assert csv_cell("other", 1_700_000_000, times=times) == "1700000000"
    assert json_value("start", 0.0, times=times) == "1970-01-01T00:00:00+00:00"
    assert json_value("start", True, times=times) is True  # a bool is no time


def test_plain_text_of_dates_and_nested_values() -> None:
    assert plain_text(dt.datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05"
    assert plain_text(dt.date(2026, 1, 2)) == "2026-01-02"
    assert plain_text({"x": float("nan")}) == '{"x":{"$float":"nan"}}'  # strict JSON inside a cell
    assert plain_text(False) == "false"


def test_json_row_passes_plain_values_and_tags_the_rest() -> None:
    row = {"s": "a", "i": 2, "b": False, "n": None, "f": 0.5, "nan": float("nan"), "t": 60.0, "l": (1,)}
    assert json_row(row, times=frozenset({"t"})) == {
        "s": "a",
        "i": 2,
        "b": False,
        "n": None,
        "f": 0.5,
        "nan": {"$float": "nan"},
        "t": "1970-01-01T00:01:00+00:00",
        "l": [1],
    }
    assert strict(json_dumps(json_row(row)))["nan"] == {"$float": "nan"}
    assert json_dumps({"name": "café"}) == '{"name": "café"}'  # non-ASCII kept as is
    with pytest.raises(ValueError):
        json_dumps(float("inf"))  # never the non-standard Infinity


def test_csv_lines_header_first_and_one_row_at_a_time() -> None:
    def rows() -> Iterator[dict[str, Any]]:
        yield {"a": 1.5, "b": "x,y"}
        yield {"a": None}
        raise AssertionError("read past the rows asked for")

    lines = csv_lines(rows(), ["a", "b"])
    assert next(lines) == ["a", "b"]
    assert next(lines) == ["1.5", "x,y"]
    assert next(lines) == ["", ""]  # a missing column is an empty cell


def test_formats_is_a_leaf_module() -> None:
    """Anything in the library may use it: it imports no recordkit module but _values and _exceptions."""
    tree = ast.parse(Path(_formats.__file__).read_text(encoding="utf-8"))
    ours: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "recordkit":
            ours |= {f"recordkit.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("recordkit"):
            ours.add(str(node.module))
        elif isinstance(node, ast.Import):
            ours |= {alias.name for alias in node.names if alias.name.startswith("recordkit")}
    assert "recordkit._values" in ours
    assert ours <= {"recordkit._values", "recordkit._exceptions"}
