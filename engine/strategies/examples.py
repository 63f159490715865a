"""Two built-ins written only against the public strategy API (`oxbot.engine.strategies`, the
names of `.sdk`), as examples of what a user strategy file can do."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from ..arrays import Signals
from .sdk import ATR, BBANDS, EMA, ENTER, EXIT, RSI, IndicatorSpec, Strategy, StrategyParams


class EmaAtrTrendParams(StrategyParams):
    fast: int = Field(12, ge=2, le=200, description="fast EMA length (bars)")
    slow: int = Field(26, ge=3, le=500, description="slow EMA length (bars)")
    atr_length: int = Field(14, ge=2, le=100, description="ATR length (bars)")
    atr_mult: float = Field(3.0, gt=0, le=10, description="trailing stop: ATRs below the high")

    @model_validator(mode="after")
    def _order(self) -> EmaAtrTrendParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        return self


class EmaAtrTrend(Strategy):
    """Trend following: enter when the fast EMA crosses above the slow one; exit when the close
    falls under a trailing stop (the highest close since entry minus ``atr_mult`` ATRs) or the
    fast EMA crosses back below."""

    name = "ema_atr_trend"
    Params = EmaAtrTrendParams
    description = "EMA trend: enter on fast EMA crossing up, exit on an ATR trailing stop"
    params: EmaAtrTrendParams

    def indicators(self) -> list[IndicatorSpec]:
        p = self.params
        return [EMA(p.fast), EMA(p.slow), ATR(p.atr_length)]

    def warmup(self) -> int:
        return max(self.params.slow, self.params.atr_length) + 2

    def signals(self, frame: pd.DataFrame) -> Signals:
        out, _ = self._walk(frame)
        return out

    def _walk(self, frame: pd.DataFrame) -> tuple[Signals, float]:
        """The signals and the trailing stop at the last row (NaN when flat). Each row reads
        only itself and the rows before it."""
        p = self.params
        fast = frame[f"ema_{p.fast}"].to_numpy(float)
        slow = frame[f"ema_{p.slow}"].to_numpy(float)
        atr = frame[f"atr_{p.atr_length}"].to_numpy(float)
        close = frame["close"].to_numpy(float)
        out = np.zeros(len(close), dtype=np.int8)
        held, stop = False, float("nan")
        for i in range(1, len(close)):
            f0, s0, f1, s1, a = fast[i - 1], slow[i - 1], fast[i], slow[i], atr[i]
            if np.isnan(f0) or np.isnan(s0) or np.isnan(a):
                continue
            if not held:
                if f0 <= s0 and f1 > s1:
                    out[i], held, stop = ENTER, True, close[i] - p.atr_mult * a
            elif close[i] < stop or f1 < s1:
                out[i], held, stop = EXIT, False, float("nan")
            else:
                stop = max(stop, close[i] - p.atr_mult * a)
        return out, stop

    def explain(self, frame: pd.DataFrame, signal: int) -> str:
        p = self.params
        f, s = frame[f"ema_{p.fast}"].iloc[-1], frame[f"ema_{p.slow}"].iloc[-1]
        _, stop = self._walk(frame)
        trend = "up" if f > s else "down"
        what = {ENTER: "crossed up", EXIT: "stop or cross down"}.get(signal, "no signal")
        tail = f", stop {stop:.6g}" if not np.isnan(stop) else ""
        return f"EMA{p.fast} {f:.6g} vs EMA{p.slow} {s:.6g}: trend {trend}{tail} ({what})"


class BbRsiReversionParams(StrategyParams):
    bb_length: int = Field(20, ge=5, le=200, description="Bollinger band length (bars, 2 sd)")
    rsi_length: int = Field(14, ge=2, le=100, description="RSI length (bars)")
    rsi_buy: float = Field(30, gt=0, lt=100, description="buy below the lower band with RSI under")
    rsi_exit: float = Field(70, gt=0, lt=100, description="exit when RSI rises above")

    @model_validator(mode="after")
    def _order(self) -> BbRsiReversionParams:
        if self.rsi_buy >= self.rsi_exit:
            raise ValueError(f"rsi_buy ({self.rsi_buy}) must be below rsi_exit ({self.rsi_exit})")
        return self


class BbRsiReversion(Strategy):
    """Mean reversion: buy a close under the lower Bollinger band while RSI is oversold; exit
    when the close is back at the middle band or RSI is overbought."""

    name = "bb_rsi_reversion"
    Params = BbRsiReversionParams
    description = "Bollinger/RSI reversion: buy under the lower band, exit at the middle"
    params: BbRsiReversionParams

    def indicators(self) -> list[IndicatorSpec]:
        return [BBANDS(self.params.bb_length), RSI(self.params.rsi_length)]

    def warmup(self) -> int:
        return max(self.params.bb_length, self.params.rsi_length) + 2

    def signals(self, frame: pd.DataFrame) -> Signals:
        p = self.params
        close = frame["close"].to_numpy(float)
        lower = frame[f"bb_lower_{p.bb_length}"].to_numpy(float)
        mid = frame[f"bb_mid_{p.bb_length}"].to_numpy(float)
        rsi = frame[f"rsi_{p.rsi_length}"].to_numpy(float)
        out = np.zeros(len(close), dtype=np.int8)
        with np.errstate(invalid="ignore"):  # NaN during warm-up compares False
            out[(close < lower) & (rsi < p.rsi_buy)] = ENTER
            out[(close >= mid) | (rsi > p.rsi_exit)] = EXIT
        return out

    def explain(self, frame: pd.DataFrame, signal: int) -> str:
        p = self.params
        row = frame.iloc[-1]
        what = {ENTER: "oversold under the band", EXIT: "back to the middle"}.get(
            signal, "no signal"
        )
        return (
            f"close {row['close']:.6g}, band {row[f'bb_lower_{p.bb_length}']:.6g}"
            f"-{row[f'bb_upper_{p.bb_length}']:.6g}, RSI{p.rsi_length} "
            f"{row[f'rsi_{p.rsi_length}']:.1f} ({what})"
        )
