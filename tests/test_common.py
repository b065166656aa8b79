"""The pure helpers both engines share (backends/_common.py): one definition, one behaviour."""

from __future__ import annotations

import math
from typing import Any

import pytest

from recordkit.backends import _common, postgres, sqlite


def test_both_engines_use_the_shared_helpers() -> None:
    for engine in (sqlite, postgres):
        assert engine._stat is _common.stat and engine._merge_stat is _common.merge_stat  # type: ignore[attr-defined]
        assert engine._finish_aggregate is _common.finish_aggregate  # type: ignore[attr-defined]
        assert engine._Table is _common.Table  # type: ignore[attr-defined]


def test_stat_folds_last_by_seq_min_max_and_count_skipping_nan() -> None:
    stats: dict[tuple[str, str], list[Any]] = {}
    _common.stat(stats, "r", "x", 3.0, step=5, seq=10)
    _common.stat(stats, "r", "x", math.nan, step=1, seq=2)  # older seq: not the last; NaN: no min/max
    _common.stat(stats, "r", "x", -1, step=6, seq=11)
    assert stats[("r", "x")] == [-1, 6, -1.0, 3.0, 3, 11]
    _common.stat(stats, "r", "s", "text", step=0, seq=0)
    assert stats[("r", "s")] == ["text", 0, None, None, 1, 0]


def test_finish_aggregate() -> None:
    assert [_common.finish_aggregate(f, 4, 10.0, 1.0, 4.0) for f in ("count", "sum", "avg", "min", "max")] == [
        4, 10.0, 2.5, 1.0, 4.0
    ]
    assert _common.finish_aggregate("mean", 0, 0.0, None, None) is None
    with pytest.raises(ValueError, match="unknown aggregate 'median'"):
        _common.finish_aggregate("median", 1, 1.0, 1.0, 1.0)


def test_rows_decode_their_json() -> None:
    event = _common.event_row((1, "r", "a/b", 2.0, 3, None, '{"k": 1}'))
    assert (event.seq, event.name, event.data) == (1, "a/b", {"k": 1})
    link = _common.link_row((2, "s", "t", "rel", 1.0, "{}"))
    assert (link.source_id, link.target_id, link.data) == ("s", "t", {})
    row = _common.file_row((3, "r", "n", "reference", 1.0, 0, None, None, "/p", None, '{"m": 2}', None))
    assert (row.kind, row.path, row.meta, row.removed) == ("reference", "/p", {"m": 2}, None)
