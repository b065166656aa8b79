"""Request parameters → library calls: filter texts, JSON-safe values."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from recordkit.ui.queries import BadRequest, column_test, plain, runs_where


@pytest.mark.parametrize(
    ("text", "column", "passes", "fails"),
    [
        pytest.param("acc>0.9", "acc", [0.95, 1], [0.9, None, math.nan, "x"], id="gt"),
        pytest.param("acc >= 0.9", "acc", [0.9], [0.89], id="ge-spaces"),
        pytest.param("config.lr<=1e-2", "config.lr", [0.01, 0.001], [0.1], id="le"),
        pytest.param("loss<0", "loss", [-1], [0, None], id="lt"),
        pytest.param("name=3", "name", [3], ["3", None], id="eq-json"),
        pytest.param('name="3"', "name", ["3"], [3], id="eq-json-text"),
        pytest.param("config.opt=adam", "config.opt", ["adam"], ["sgd"], id="eq-text"),
        pytest.param("status!=finished", "status", ["crashed"], ["finished", None], id="ne"),
        pytest.param("name~Base", "name", ["my-baseline", "BASE"], ["other", None], id="contains"),
        pytest.param("tags~res", "tags", [["resnet"]], [["vit"], []], id="contains-list"),
        pytest.param("a=b>c", "a", ["b>c"], ["b"], id="first-operator-wins"),
    ],
)
def test_column_tests(text: str, column: str, passes: list[object], fails: list[object]) -> None:
    name, test = column_test(text)
    assert name == column
    assert all(test(v) for v in passes) and not any(test(v) for v in fails)


def test_where_combines_library_equalities_and_column_tests() -> None:
    where = runs_where(status="crashed", search="Base", tag="x", top_level=True, filters=["acc>0.5"])
    assert {k: v for k, v in where.items() if not callable(v)} == {"status": "crashed", "tag": "x", "parent_id": None}
    assert where["name"]("my-baseline") and not where["name"](None) and where["acc"](0.7)
    with pytest.raises(BadRequest, match="filtered twice"):
        runs_where(status=None, search="a", tag=None, top_level=False, filters=["name~b"])


def test_plain_values_are_strict_json() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5)
    assert plain({"a": [math.nan, math.inf, -math.inf, 1.5], "b": (1, when), 3: {"d": dt.date(2026, 1, 1)}}) == {
        "a": ["NaN", "Infinity", "-Infinity", 1.5], "b": [1, "2026-01-02T03:04:05"], "3": {"d": "2026-01-01"}}
    assert plain(object.__new__(object)).startswith("<object")
