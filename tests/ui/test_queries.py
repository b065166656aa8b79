"""Request parameters → library calls: filter texts, JSON-safe values."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from recordkit.read.where import Compare, parse_where
from recordkit.ui.queries import BadRequest, plain, runs_where


def _where(*filters: str) -> dict[str, object]:
    return runs_where(status=None, search=None, tag=None, top_level=False, filters=list(filters))


@pytest.mark.parametrize(
    ("text", "column", "passes", "fails"),
    [
        pytest.param("acc>0.9", "acc", [0.95, 1], [0.9, None, math.nan, "x"], id="gt"),
        pytest.param("acc >= 0.9", "acc", [0.9], [0.89], id="ge-spaces"),
        pytest.param("config.lr<=1e-2", "config.lr", [0.01, 0.001], [0.1], id="le"),
        pytest.param("loss<0", "loss", [-1], [0, None], id="lt"),
        pytest.param("status!=finished", "status", ["crashed"], ["finished", None], id="ne"),
        pytest.param("name~Base", "name", ["my-baseline", "BASE"], ["other", None], id="contains"),
        pytest.param("tags~res", "tags", [["resnet"]], [["vit"], []], id="contains-list"),
    ],
)
def test_filter_tests_come_from_the_library_parser(text: str, column: str, passes: list[object],
                                                   fails: list[object]) -> None:
    where = _where(text)
    assert where == parse_where([text])  # the one grammar of `recordkit ls --where`
    test = where[column]
    assert callable(test)
    assert all(test(v) for v in passes) and not any(test(v) for v in fails)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("name=3", {"name": 3}, id="eq-json"),
        pytest.param('name="3"', {"name": "3"}, id="eq-json-text"),
        pytest.param("config.opt=adam", {"config.opt": "adam"}, id="eq-text"),
        pytest.param("a=b>c", {"a": "b>c"}, id="first-operator-wins"),
        pytest.param(" phase=eval/acc>0.5 ", {"phase=eval/acc": Compare(">", 0.5)}, id="series-label"),
    ],
)
def test_equalities_are_the_librarys(text: str, expected: dict[str, object]) -> None:
    assert _where(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("acc", "KEY=VALUE or KEY>VALUE", id="no-operator"),
        pytest.param(">3", "KEY=VALUE or KEY>VALUE", id="no-column"),
    ],
)
def test_a_malformed_filter_is_a_bad_request(text: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        _where(text)


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
