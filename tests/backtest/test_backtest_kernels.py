"""A backtest gives the same trades with the whole-array kernels (engine/market/kernels.py, what
engine/backtest/runner.py and botrun.py call) as with pandas-ta's ``compute``
(engine/market/indicators.py): each built-in strategy, on real candles, through the single-symbol
runner (risked and all-in) and the bot replay (two symbols, one cash)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from oxbot.engine.backtest import botrun, runner
from oxbot.engine.backtest.botrun import run_bot
from oxbot.engine.backtest.runner import BacktestConfig, run_backtest
from oxbot.engine.market import indicators
from oxbot.engine.market.csvdata import load_csv
from oxbot.engine.models import BotConfig, RiskLimits
from oxbot.engine.strategies import build_strategy

from .conftest import SHARED_OHLCV

BUILT_INS = ("sma_cross", "rsi_reversion", "ema_atr_trend", "bb_rsi_reversion")
BTC, ETH = SHARED_OHLCV / "binance_BTC-USDT_1h.csv", SHARED_OHLCV / "binance_ETH-USDT_1h.csv"
ROWS = 4000

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(
        not (BTC.exists() and ETH.exists()), reason=f"no real OHLCV data in {SHARED_OHLCV}"
    ),
]


def candles(path: Path) -> pd.DataFrame:
    return load_csv(path).iloc[:ROWS].reset_index(drop=True)


def with_pandas_ta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "compute_fast", indicators.compute)
    monkeypatch.setattr(botrun, "compute_fast", indicators.compute)


@pytest.mark.parametrize("use_risk", [True, False], ids=["risked", "all-in"])
@pytest.mark.parametrize("name", BUILT_INS)
def test_single_symbol_backtest_trades_unchanged(
    name: str, use_risk: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = candles(BTC)
    config = BacktestConfig(build_strategy(name), use_risk=use_risk, fee_rate=Decimal("0.001"))
    fast = run_backtest(frame, config)
    with monkeypatch.context() as m:
        with_pandas_ta(m)
        slow = run_backtest(frame, config)
    assert len(slow.trades) > 0  # the comparison has something to compare
    assert fast.trades == slow.trades
    assert (fast.signals == slow.signals).all()
    assert fast.final_equity == slow.final_equity


@pytest.mark.parametrize("name", BUILT_INS)
def test_bot_replay_fills_unchanged(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = {"BTC/USDT": candles(BTC), "ETH/USDT": candles(ETH)}
    config = BotConfig(
        name="k",
        strategy=name,
        symbols=("BTC/USDT", "ETH/USDT"),
        timeframe="1h",
        risk=RiskLimits(max_position_pct=Decimal(40), max_exposure_pct=Decimal(80)),
    )
    fast = run_bot(config, build_strategy(name), frames)
    with monkeypatch.context() as m:
        with_pandas_ta(m)
        slow = run_bot(config, build_strategy(name), frames)
    assert len(slow.fills) > 0
    assert fast.fills == slow.fills
    assert fast.cash == slow.cash and fast.final_equity == slow.final_equity
