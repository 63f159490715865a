"""The built-ins' reasoning lines (what the cockpit's reasoning panel shows) keep their words
and spacing now that their column names are made once per params."""

from __future__ import annotations

import pandas as pd

from oxbot.engine.market.view import FrameView
from oxbot.engine.strategies.base import ENTER, EXIT, NONE
from oxbot.engine.strategies.rules import RsiReversion, RsiReversionParams, SmaCross, SmaCrossParams


def test_sma_cross_reason_words() -> None:
    s = SmaCross(SmaCrossParams(fast=5, slow=20))
    view = FrameView(pd.DataFrame({"sma_5": [1.0, 59316.7], "sma_20": [2.0, 59234.0]}))
    assert s.reason(view, NONE) == "SMA5 59316.7 above SMA20 59234 (no cross)"
    assert s.reason(view, ENTER) == "SMA5 59316.7 above SMA20 59234 (crossed up)"
    assert s.reason(view, EXIT) == "SMA5 59316.7 above SMA20 59234 (crossed down)"
    s.params = SmaCrossParams(fast=7, slow=9)  # new params: new names
    view = FrameView(pd.DataFrame({"sma_7": [1.0], "sma_9": [2.5]}))
    assert s.reason(view, NONE) == "SMA7 1 below SMA9 2.5 (no cross)"


def test_rsi_reversion_reason_words() -> None:
    s = RsiReversion(RsiReversionParams(length=14, oversold=25, overbought=75.5))
    view = FrameView(pd.DataFrame({"rsi_14": [20.0, 31.25]}))
    assert s.reason(view, NONE) == "RSI14 31.2 (no signal)"
    assert s.reason(view, ENTER) == "RSI14 31.2 (left oversold 25)"
    assert s.reason(view, EXIT) == "RSI14 31.2 (left overbought 75.5)"
