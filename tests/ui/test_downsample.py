"""M4 downsampling: few points, the same picture (every column's first, last, min and max kept)."""

from __future__ import annotations

import numpy as np
import pytest

from recordkit.ui.downsample import RAW_PER_PIXEL, m4, window


def columns_of(x: np.ndarray, width: int) -> np.ndarray:
    return np.minimum(((x - x[0]) * (width / (x[-1] - x[0]))).astype(int), width - 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_pixel_column_keeps_its_extremes_and_ends(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.uniform(0.1, 2.0, 50_000))
    y = rng.normal(size=50_000).cumsum()
    xs, ys, raw = m4(x, y, width=300)
    assert not raw and len(xs) <= 4 * 300
    assert np.all(np.diff(xs) >= 0) and xs[0] == x[0] and xs[-1] == x[-1]
    full, kept = columns_of(x, 300), columns_of(xs, 300)
    for column in range(0, 300, 7):
        inside = y[full == column]
        assert ys[kept == column].min() == inside.min() and ys[kept == column].max() == inside.max()


def test_a_few_points_are_sent_as_they_are() -> None:
    x = np.arange(100, dtype=float)
    xs, ys, raw = m4(x, x * 2, width=50)
    assert raw and len(xs) == 100 == RAW_PER_PIXEL * 50 and np.array_equal(ys, x * 2)


def test_a_range_keeps_one_neighbour_each_side() -> None:
    x = np.arange(1000, dtype=float)
    assert window(x, 10.5, 20.5) == (10, 22)
    assert window(x, None, None) == (0, 1000)
    assert window(x, -50, 5000) == (0, 1000)
    assert window(x, 2000, 3000) == (999, 1000)
    xs, _, raw = m4(x, x, width=100, lo=100, hi=150)
    assert raw and xs[0] == 99 and xs[-1] == 151


def test_gaps_and_spikes_survive() -> None:
    x = np.arange(100_000, dtype=float)
    y = np.sin(x / 500)
    y[40_000:42_000] = np.nan
    y[77_777] = 50.0
    xs, ys, _ = m4(x, y, width=400)
    assert np.nanmax(ys) == 50.0 and 77_777 in xs
    assert np.isnan(ys).any()  # a column of NaN only keeps its ends: the line has a gap there
    assert np.nanmin(ys) == pytest.approx(-1.0, abs=1e-4)


def test_points_at_one_x_keep_their_extremes() -> None:
    x = np.zeros(1000)
    y = np.linspace(-3, 7, 1000)
    xs, ys, raw = m4(x, y, width=10)
    assert not raw and ys.min() == -3 and ys.max() == 7 and len(xs) <= 4
