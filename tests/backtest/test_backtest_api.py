"""oxbot.app.backtests, the API `oxbot backtest` and the cockpit's backtest screen share: the
date range, the file-name symbol, and which strategies a backtest refuses."""

from __future__ import annotations

import pandas as pd
import pytest

from oxbot.app import backtests
from oxbot.engine.errors import UsageError


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"ts": [1000, 2000, 3000, 4000], "close": [1.0, 2.0, 3.0, 4.0]})


def test_between_keeps_since_inclusive_until_exclusive_and_says_what_the_data_covers() -> None:
    frame = _frame()
    assert backtests.between(frame, None, None) is frame
    assert backtests.between(frame, 2000, 4000)["ts"].tolist() == [2000, 3000]
    assert backtests.between(frame, None, 2000)["ts"].tolist() == [1000]
    with pytest.raises(backtests.EmptyRange) as caught:
        backtests.between(frame, 5000, None)
    assert (caught.value.first_ms, caught.value.last_ms) == (1000, 4000)


def test_symbol_from_the_file_name() -> None:
    assert backtests.symbol_from_name("data/binance_BTC-USDT_1h.csv") == "BTC/USDT"
    assert backtests.symbol_from_name("candles.csv") == "ASSET/QUOTE"


def test_the_llm_strategy_is_refused_and_not_offered() -> None:
    assert "llm" not in backtests.backtestable_names()
    assert "sma_cross" in backtests.backtestable_names()
    with pytest.raises(UsageError, match="use one of: .*sma_cross"):
        backtests.strategy("llm", {})
