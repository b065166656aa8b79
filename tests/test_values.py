"""Value normalisation is pure: tested without a store."""

from __future__ import annotations

import datetime as dt
import io
import math

import numpy as np
import pytest

from recordkit import _values as V


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(1.5, id="float"),
        pytest.param(3, id="int"),
        pytest.param(True, id="bool"),
        pytest.param("text", id="str"),
        pytest.param(None, id="none"),
        pytest.param(dt.datetime(2026, 1, 2, 3, 4, 5), id="datetime"),
        pytest.param([1, "a", [2.5]], id="list"),
        pytest.param({"a": {"b": 1}}, id="dict"),
    ],
)
def test_plain_values_pass_unchanged(value: object) -> None:
    assert V.check_record({"k": value}) == {"k": value}


def test_caller_dict_is_never_mutated() -> None:
    values = {"a": np.float32(1.5), "b": [np.int64(2)]}
    out = V.check_record(values)
    assert type(values["a"]) is np.float32
    assert out == {"a": 1.5, "b": [2]}
    assert out is not values


def test_numpy_scalars_become_python_at_the_call() -> None:
    out = V.check_record({"a": np.float64(0.25), "b": np.int32(7), "c": np.bool_(True)})
    assert out == {"a": 0.25, "b": 7, "c": True}
    assert [type(v) for v in out.values()] == [float, int, bool]


def test_numpy_arrays_are_copied_and_converted_later() -> None:
    array = np.arange(3.0)
    out = V.check_record({"a": array})
    assert type(out) is V.LazyValues
    array[0] = 99.0  # the caller reuses its buffer
    assert V.materialize(out["a"]) == [0.0, 1.0, 2.0]


def test_one_element_arrays_become_scalars() -> None:
    assert V.materialize(np.array([4.5])) == 4.5
    assert V.materialize(np.array(2)) == 2


@pytest.mark.parametrize(
    "bad",
    [pytest.param(lambda: 1, id="lambda"), pytest.param(io.StringIO(), id="file"), pytest.param(object(), id="object")],
)
def test_unstorable_value_raises_type_error_naming_the_key(bad: object) -> None:
    with pytest.raises(TypeError, match="'weights'"):
        V.check_record({"ok": 1.0, "weights": bad})


def test_unstorable_value_nested_in_a_list_names_the_key() -> None:
    with pytest.raises(TypeError, match="'nested'"):
        V.check_record({"nested": [1, object()]})


def test_non_string_key_is_rejected() -> None:
    with pytest.raises(TypeError, match="strings"):
        V.check_record({1: 2.0})


@pytest.mark.parametrize("key", ["step", "time", "run_id", "experiment_number"])
def test_reserved_keys_are_rejected_with_a_suggestion(key: str) -> None:
    with pytest.raises(ValueError, match=f"{key}_value"):
        V.check_record({key: 1})


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        -float("inf"),
        dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.timezone.utc),
        dt.date(2026, 5, 1),
        {"nested": [float("nan"), {"$float": "x"}]},
        [1, 2.5, None, "s", True],
    ],
)
def test_tagged_json_round_trips_exactly_and_is_strict(value: object) -> None:
    text = V.dumps(value)
    assert "NaN" not in text and "Infinity" not in text
    back = V.loads(text)
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(back)
    elif isinstance(value, dict) and isinstance(value.get("nested"), list):
        assert math.isnan(back["nested"][0])
    else:
        assert back == value


@pytest.mark.parametrize(
    ("value", "kind"),
    [(1.0, V.NUM), (2, V.NUM), (True, V.BOOL), ("s", V.STR), (None, None), ([1], V.JSON),
     (dt.datetime(2026, 1, 1), V.DATETIME), (dt.date(2026, 1, 1), V.DATE)],
)
def test_kind_of(value: object, kind: str | None) -> None:
    assert V.kind_of(value) == kind


def test_column_representation_round_trips() -> None:
    for value in [True, False, dt.datetime(2026, 1, 1, 1, 1), dt.date(2026, 2, 3), {"a": [1]}, "x", 3.5]:
        kind = V.kind_of(value)
        assert kind is not None
        assert V.from_column(V.to_column(value, kind), kind) == value


def test_nan_has_no_column_representation() -> None:
    with pytest.raises(ValueError):
        V.to_column(float("nan"), V.NUM)
