"""Two built-ins written only against the public strategy API (`oxbot.engine.strategies`, the
names of `.sdk`), as examples of what a user strategy file can do."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from ..arrays import Signals
from .sdk import (
    ATR,
    BBANDS,
    EMA,
    ENTER,
    EXIT,
    NONE,
    RSI,
    FrameView,
    IndicatorSpec,
    MarketView,
    Strategy,
    StrategyParams,
)

if TYPE_CHECKING:  # signals(frame) gets a DataFrame; this module needs no pandas to load
    import numpy as np
    import pandas as pd
else:  # numpy on its first use (engine/lazy.py): loading a strategy computes nothing
    from oxbot.engine.lazy import numpy as np

NAN = math.nan


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

    def __init__(self, params: StrategyParams | None = None) -> None:
        super().__init__(params)
        # live, per stream: (candle seq, signal, held, stop) after the newest candle read
        self._live: dict[object, tuple[int, int, bool, float]] = {}

    def signals(self, frame: pd.DataFrame) -> Signals:
        out, _, _ = self._walk(FrameView(frame))
        return out

    def _step(
        self,
        held: bool,
        stop: float,
        f0: float,
        s0: float,
        f1: float,
        s1: float,
        a: float,
        c: float,
    ) -> tuple[int, bool, float]:
        """One row of the rule: (signal, held, trailing stop) from the state before it. Each
        row reads only itself and the row before it."""
        if f0 != f0 or s0 != s0 or a != a:  # NaN: warming up
            return NONE, held, stop
        if not held:
            if f0 <= s0 and f1 > s1:
                return ENTER, True, c - self.params.atr_mult * a
            return NONE, held, stop
        if c < stop or f1 < s1:
            return EXIT, False, NAN
        return NONE, held, max(stop, c - self.params.atr_mult * a)

    def _walk(self, view: MarketView) -> tuple[Signals, bool, float]:
        """The signals over the whole window, and the state after its last row (the stop is
        NaN when flat)."""
        p = self.params
        fast = view.column(f"ema_{p.fast}").tolist()
        slow = view.column(f"ema_{p.slow}").tolist()
        atr = view.column(f"atr_{p.atr_length}").tolist()
        close = view.column("close").tolist()
        out = np.zeros(len(close), dtype=np.int8)
        held, stop = False, NAN
        for i in range(1, len(close)):
            out[i], held, stop = self._step(
                held, stop, fast[i - 1], slow[i - 1], fast[i], slow[i], atr[i], close[i]
            )
        return out, held, stop

    def _state(self, view: MarketView) -> tuple[int, float]:
        """(signal, stop) at the newest candle: one step from the state kept for the previous
        candle of the same stream, else rebuilt by walking the view's window (a bot's first
        candle, or a candle missed)."""
        kept = self._live.get(view.key)
        seq = view.seq
        if kept is not None and seq is not None and kept[0] == seq:
            return kept[1], kept[3]
        if kept is not None and seq is not None and kept[0] == seq - 1 and len(view) >= 2:
            p = self.params
            fast, slow, atr = f"ema_{p.fast}", f"ema_{p.slow}", f"atr_{p.atr_length}"
            sig, held, stop = self._step(
                kept[2],
                kept[3],
                view.last(fast, 1),
                view.last(slow, 1),
                view.last(fast),
                view.last(slow),
                view.last(atr),
                view.last("close"),
            )
        else:
            out, held, stop = self._walk(view)
            sig = int(out[-1]) if len(out) else NONE
        if seq is not None:
            self._live[view.key] = (seq, sig, held, stop)
        return sig, stop

    def signal(self, view: MarketView) -> int:
        return self._state(view)[0]

    def explain(self, frame: pd.DataFrame, signal: int) -> str:
        return self.reason(FrameView(frame), signal)

    def reason(self, view: MarketView, signal: int) -> str:
        p = self.params
        f, s = view.last(f"ema_{p.fast}"), view.last(f"ema_{p.slow}")
        _, stop = self._state(view)
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

    def signal(self, view: MarketView) -> int:
        p = self.params
        return self._rule(
            view.last("close"),
            view.last(f"bb_lower_{p.bb_length}"),
            view.last(f"bb_mid_{p.bb_length}"),
            view.last(f"rsi_{p.rsi_length}"),
        )

    def _rule(self, close: float, lower: float, mid: float, rsi: float) -> int:
        """``signals`` at one row (NaN compares False, as there)."""
        p = self.params
        if close >= mid or rsi > p.rsi_exit:
            return EXIT
        if close < lower and rsi < p.rsi_buy:
            return ENTER
        return NONE

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
        return self.reason(FrameView(frame), signal)

    def reason(self, view: MarketView, signal: int) -> str:
        p = self.params
        what = {ENTER: "oversold under the band", EXIT: "back to the middle"}.get(
            signal, "no signal"
        )
        return (
            f"close {view.last('close'):.6g}, band {view.last(f'bb_lower_{p.bb_length}'):.6g}"
            f"-{view.last(f'bb_upper_{p.bb_length}'):.6g}, RSI{p.rsi_length} "
            f"{view.last(f'rsi_{p.rsi_length}'):.1f} ({what})"
        )
