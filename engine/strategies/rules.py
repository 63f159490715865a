"""Built-in rule strategies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from ..arrays import Signals
from ..market.indicators import IndicatorSpec
from ..market.view import FrameView, MarketView
from .base import ENTER, EXIT, NONE, Strategy, StrategyParams, cross_at, cross_signals

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:  # numpy on its first use (engine/lazy.py): loading a strategy computes nothing
    from oxbot.engine.lazy import numpy as np


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
    columnar = True  # signals reads frame[col].to_numpy() only

    def indicators(self) -> list[IndicatorSpec]:
        return [IndicatorSpec("sma", self.params.fast), IndicatorSpec("sma", self.params.slow)]

    def warmup(self) -> int:
        return self.params.slow + 1

    def signals(self, frame: pd.DataFrame) -> Signals:
        p = self.params
        return cross_signals(
            frame[f"sma_{p.fast}"].to_numpy(float), frame[f"sma_{p.slow}"].to_numpy(float)
        )

    _names: tuple[SmaCrossParams, str, str, str, str] | None = None

    def _cols(self) -> tuple[SmaCrossParams, str, str, str, str]:
        """(params, fast column, slow column, "SMA<fast> ", " SMA<slow> "), made once per
        params object: the live path reads them per candle."""
        names = self._names
        p = self.params
        if names is None or names[0] is not p:
            names = self._names = (
                p,
                f"sma_{p.fast}",
                f"sma_{p.slow}",
                f"SMA{p.fast} ",
                f" SMA{p.slow} ",
            )
        return names

    def signal(self, view: MarketView) -> int:
        _, fast, slow, _, _ = self._cols()
        last = view.last
        return cross_at(last(fast, 1), last(slow, 1), last(fast), last(slow))

    def explain(self, frame: pd.DataFrame, signal: int) -> str:
        return self.reason(FrameView(frame), signal)

    def reason(self, view: MarketView, signal: int) -> str:
        _, fast, slow, fast_name, slow_name = self._cols()
        f, s = view.last(fast), view.last(slow)
        rel = "above" if f > s else "below"
        what = _CROSSED.get(signal, "no cross")
        return f"{fast_name}{f:.6g} {rel}{slow_name}{s:.6g} ({what})"


_CROSSED = {ENTER: "crossed up", EXIT: "crossed down"}


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
    columnar = True  # signals reads frame[col].to_numpy() only

    def indicators(self) -> list[IndicatorSpec]:
        return [IndicatorSpec("rsi", self.params.length)]

    def warmup(self) -> int:
        return self.params.length + 2

    _names: tuple[RsiReversionParams, str, str, dict[int, str]] | None = None

    def _cols(self) -> tuple[RsiReversionParams, str, str, dict[int, str]]:
        """(params, the RSI column, "RSI<length> ", signal -> its words), made once per params
        object: the live path reads them per candle."""
        names = self._names
        p = self.params
        if names is None or names[0] is not p:
            what = {
                ENTER: f"left oversold {p.oversold:g}",
                EXIT: f"left overbought {p.overbought:g}",
            }
            names = self._names = (p, f"rsi_{p.length}", f"RSI{p.length} ", what)
        return names

    def signal(self, view: MarketView) -> int:
        col = self._cols()[1]
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
        _, col, name, what = self._cols()
        r = view.last(col)
        return f"{name}{r:.1f} ({what.get(signal, 'no signal')})"
