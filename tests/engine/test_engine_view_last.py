"""MarketView.last keeps the newest row and the one before as Python floats (read by every
bot on the stream per candle): the same values as reading the matrix, NaN before the window."""

from __future__ import annotations

import math

import numpy as np

from oxbot.engine.market.view import MarketView


def _view(start: int, end: int) -> MarketView:
    m = np.arange(40, dtype=float).reshape(10, 4)
    m[7, 2] = np.nan
    ts = np.arange(10, dtype=np.int64)
    cols = {"open": 0, "close": 1, "sma_3": 2, "rsi_2": 3}
    return MarketView(None, ts, m, cols, tuple(cols), start, end, end - 1)


def test_last_equals_the_matrix_at_every_row_back() -> None:
    m = np.arange(40, dtype=float).reshape(10, 4)
    m[7, 2] = np.nan
    for start, end in [(0, 10), (3, 8), (5, 6), (2, 4)]:
        view = _view(start, end)
        for _ in range(2):  # the second pass reads the kept rows
            for col, j in view._cols.items():
                for back in range(0, 5):
                    got = view.last(col, back)
                    i = end - 1 - back
                    want = float(m[i, j]) if i >= start else math.nan
                    assert type(got) is float
                    assert got == want or (math.isnan(got) and math.isnan(want)), (col, back)


def test_empty_window_is_nan() -> None:
    view = _view(4, 4)
    assert math.isnan(view.last("close")) and math.isnan(view.last("close", 1))
