"""Built-in rule strategies."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from ..arrays import Signals
from ..market.indicators import IndicatorSpec
from ..market.view import FrameView, MarketView
from .base import ENTER, EXIT, NONE, Strategy, StrategyParams, cross_at, cross_signals


class SmaCrossParams(StrategyParams):
    fast: int = Field(10, ge=2, le=500, description="fast SMA length (bars)")
    slow: int = Field(30, ge=3, le=2000, description="slow SMA length (bars)")

    @model_validator(mode="after")
    def _order(self) -> SmaCrossParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        return self


class SmaCross(Strategy):
    """Buy when the fast SMA crosses above the slow one; exit when it crosses below."""

    name = "sma_cross"
    Params = SmaCrossParams
    description = "SMA crossover: enter on fast > slow, exit on fast < slow"
    params: SmaCrossParams

    def indicators(self) -> list[IndicatorSpec]:
        return [IndicatorSpec("sma", self.params.fast), IndicatorSpec("sma", self.params.slow)]

    def warmup(self) -> int:
        return self.params.slow + 1

    def signals(self, frame: pd.DataFrame) -> Signals:
        p = self.params
        return cross_signals(
            frame[f"sma_{p.fast}"].to_numpy(float), frame[f"sma_{p.slow}"].to_numpy(float)
        )

    def signal(self, view: MarketView) -> int:
        fast, slow = f"sma_{self.params.fast}", f"sma_{self.params.slow}"
        return cross_at(view.last(fast, 1), view.last(slow, 1), view.last(fast), view.last(slow))

    def explain(self, frame: pd.DataFrame, signal: int) -> str:
        return self.reason(FrameView(frame), signal)

    def reason(self, view: MarketView, signal: int) -> str:
        p = self.params
        f, s = view.last(f"sma_{p.fast}"), view.last(f"sma_{p.slow}")
        rel = "above" if f > s else "below"
        what = {ENTER: "crossed up", EXIT: "crossed down"}.get(signal, "no cross")
        return f"SMA{p.fast} {f:.6g} {rel} SMA{p.slow} {s:.6g} ({what})"


class RsiReversionParams(StrategyParams):
    length: int = Field(14, ge=2, le=200, description="RSI length (bars)")
    oversold: float = Field(30, gt=0, lt=100, description="buy when RSI crosses up through this")
    overbought: float = Field(
        70, gt=0, lt=100, description="exit when RSI crosses down through this"
    )

    @model_validator(mode="after")
    def _order(self) -> RsiReversionParams:
        if self.oversold >= self.overbought:
            raise ValueError(
                f"oversold ({self.oversold}) must be below overbought ({self.overbought})"
            )
        return self


class RsiReversion(Strategy):
    """Mean reversion: buy when RSI climbs back above oversold, exit when it falls below
    overbought."""

    name = "rsi_reversion"
    Params = RsiReversionParams
    description = "RSI mean reversion: enter leaving oversold, exit leaving overbought"
    params: RsiReversionParams

    def indicators(self) -> list[IndicatorSpec]:
        return [IndicatorSpec("rsi", self.params.length)]

    def warmup(self) -> int:
        return self.params.length + 2

    def signal(self, view: MarketView) -> int:
        col = f"rsi_{self.params.length}"
        return self._rule(view.last(col, 1), view.last(col))

    def _rule(self, prev: float, cur: float) -> int:
        """``signals`` at one row, from the previous and the current RSI."""
        p = self.params
        if prev > p.overbought and cur <= p.overbought:
            return EXIT
        if prev < p.oversold and cur >= p.oversold:
            return ENTER
        return NONE

    def signals(self, frame: pd.DataFrame) -> Signals:
        p = self.params
        rsi = frame[f"rsi_{p.length}"].to_numpy(float)
        out = np.zeros(len(rsi), dtype=np.int8)
        if len(rsi) < 2:
            return out
        prev, cur = rsi[:-1], rsi[1:]
        with np.errstate(invalid="ignore"):
            out[1:][(prev < p.oversold) & (cur >= p.oversold)] = ENTER
            out[1:][(prev > p.overbought) & (cur <= p.overbought)] = EXIT
        return out

    def explain(self, frame: pd.DataFrame, signal: int) -> str:
        return self.reason(FrameView(frame), signal)

    def reason(self, view: MarketView, signal: int) -> str:
        p = self.params
        r = view.last(f"rsi_{p.length}")
        what = {ENTER: f"left oversold {p.oversold:g}", EXIT: f"left overbought {p.overbought:g}"}
        return f"RSI{p.length} {r:.1f} ({what.get(signal, 'no signal')})"
