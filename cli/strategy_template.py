"""The file `oxbot strategies new NAME` writes (the README's example is the same file), and the
test written beside it. ``__NAME__`` and ``__CLASS__`` are replaced."""

STRATEGY = '''"""__NAME__: an oxbot strategy (strategy API version 1).

Buys when the close crosses above its EMA while RSI is below a ceiling; exits when the close
crosses back below. Edit it freely, then:

    oxbot strategies check <this file>      # runs it on generated candles, looks for look-ahead
    oxbot backtest --strategy __NAME__ --data BTC-USDT_1h.csv
    oxbot bots add mybot --strategy __NAME__ --symbols BTC/USDT --param ema=30

This file is your own Python code: oxbot runs it with your user's rights.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

from oxbot.engine.strategies import (
    EMA,
    ENTER,
    EXIT,
    RSI,
    IndicatorSpec,
    Strategy,
    StrategyParams,
    cross_signals,
)


class __CLASS__Params(StrategyParams):
    # Every parameter needs a default; ranges (ge/le/gt/lt) and descriptions are what the
    # cockpit's form, `--param` and sweeps read.
    ema: int = Field(50, ge=2, le=500, description="EMA length (bars)")
    rsi: int = Field(14, ge=2, le=100, description="RSI length (bars)")
    rsi_max: float = Field(70, gt=0, lt=100, description="no entry while RSI is above this")


class __CLASS__(Strategy):
    name = "__NAME__"  # what you type: --strategy __NAME__ (must not be a built-in's name)
    api_version = 1  # the strategy API this file is written against
    Params = __CLASS__Params
    description = "close crosses its EMA, entries filtered by RSI"
    params: __CLASS__Params

    def indicators(self) -> list[IndicatorSpec]:
        # Each adds columns to the frame signals() gets: EMA(n) -> ema_<n>, RSI(n) -> rsi_<n>.
        return [EMA(self.params.ema), RSI(self.params.rsi)]

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        # One value per row of frame: ENTER (1), EXIT (-1) or 0, decided at that row's close.
        # Use only that row and earlier ones (never shift(-1)): live trading has no future.
        p = self.params
        close = frame["close"].to_numpy(float)
        ema = frame[f"ema_{p.ema}"].to_numpy(float)
        rsi = frame[f"rsi_{p.rsi}"].to_numpy(float)
        out = cross_signals(close, ema)  # ENTER crossing up, EXIT crossing down
        with np.errstate(invalid="ignore"):  # NaN during warm-up compares False
            out[(out == ENTER) & ~(rsi < p.rsi_max)] = 0
        return out

    def explain(self, frame: pd.DataFrame, signal: int) -> str:
        # Optional: one line about the last row, shown in the cockpit's reasoning panel.
        p = self.params
        row = frame.iloc[-1]
        what = {ENTER: "crossed up", EXIT: "crossed down"}.get(signal, "no signal")
        return f"close {row['close']:.6g} vs EMA{p.ema} {row[f'ema_{p.ema}']:.6g} ({what})"
'''

TEST = '''"""The test of __NAME__.py. Run: python -m pytest test___NAME__.py
(or python test___NAME__.py). oxbot skips files named test_*.py when it loads strategies."""

from pathlib import Path

from oxbot.engine.strategies import check_strategy, load_file


def test___NAME__() -> None:
    (cls,) = load_file(Path(__file__).with_name("__NAME__.py"))
    report = check_strategy(cls)  # generated candles, output shape, look-ahead
    assert report.ok, report.errors


if __name__ == "__main__":
    test___NAME__()
    print("ok")
'''


def render(text: str, name: str) -> str:
    cls = "".join(part.capitalize() for part in name.split("_") if part) or "MyStrategy"
    return text.replace("__NAME__", name).replace("__CLASS__", cls)
