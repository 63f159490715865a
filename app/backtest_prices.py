"""A backtest's price chart as data: one symbol's candles, the strategy's moving averages and
a marker at each fill, shared by `oxbot backtest` (terminal and ``--chart`` file) and the
cockpit's backtest screen, so the three show the same thing.

Times are ms. A candle sits at its open time (the CSV's timestamp); a marker sits at its fill's
time: a single-strategy run fills at a candle's open (or inside it for SL/TP, stamped with that
candle's open), a bot run at a candle's close or at an intra-candle tick (engine/backtest).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from oxbot.engine.strategies import Strategy

# The indicators drawn as lines over the candles: the live price panel's set
# (engine/bot.py MA_INDICATORS); the other indicators have their own scales.
MA_INDICATORS = frozenset({"sma", "ema"})


@dataclass(frozen=True)
class PriceSeries:
    """One symbol's chart: candles as arrays, each moving average aligned with the candles
    (NaN during its warm-up), fills as (ts, price). ``group`` > 1: each candle stands for that
    many of ``timeframe`` (down-sampled from ``bars``)."""

    symbol: str
    timeframe: str
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    mas: dict[str, np.ndarray] = field(default_factory=dict)
    buys: Sequence[tuple[int, float]] = ()
    sells: Sequence[tuple[int, float]] = ()
    group: int = 1
    bars: int = 0

    def title(self, short: bool = False) -> str:
        """``BTC/USDT 1h: entries ▲ exits ▼``, saying when candles were merged (``short``:
        ``BTC/USDT 1h ▲▼ (down-sampled 240→40)``)."""
        from oxbot.app.backtests import span, timeframe_ms  # noqa: PLC0415

        text = f"{self.symbol} {self.timeframe}: entries ▲ exits ▼"
        merged = ""
        if self.group > 1:
            merged = span(timeframe_ms(self.timeframe) * self.group) if self.timeframe else "?"
            merged = merged.removesuffix(" 0m").removesuffix(" 0h")  # 3h, 8d 13h, 2d
        if short:
            shown = f" (down-sampled {self.bars:,}→{len(self.ts):,})" if merged else ""
            return f"{self.symbol} {self.timeframe} ▲▼{shown}"
        if merged:
            text += (
                f" (down-sampled: {self.bars:,} candles shown as {len(self.ts):,}, 1 per {merged})"
            )
        return text


def _mas(frame: pd.DataFrame, strategy: Strategy | None) -> dict[str, np.ndarray]:
    from oxbot.engine.market.kernels import compute_fast  # noqa: PLC0415
    from oxbot.engine.strategies.checks import user_code  # noqa: PLC0415

    if strategy is None:  # an LLM bot: no moving averages of its own to draw
        return {}
    with user_code(strategy):
        specs = [s for s in strategy.indicators() if s.name in MA_INDICATORS]
    if not specs:
        return {}
    full = compute_fast(frame, specs)
    return {col: full[col].to_numpy("float64") for s in sorted(set(specs)) for col in s.columns}


def series(
    frame: pd.DataFrame,
    strategy: Strategy | None,
    symbol: str,
    timeframe: str,
    fills: Sequence[tuple[int, str, float]],
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> PriceSeries:
    """The chart of ``frame`` (ts, open..close) with ``strategy``'s moving averages computed
    over the whole frame (so they are warm at ``since_ms``), the candles kept from ``since_ms``
    to ``until_ms`` (inclusive, open times), and ``fills`` as (ts, "buy"|"sell", price)."""
    import numpy as np  # noqa: PLC0415

    ts = frame["ts"].to_numpy(np.int64)
    keep = np.ones(len(ts), dtype=bool)
    if since_ms is not None:
        keep &= ts >= since_ms
    if until_ms is not None:
        keep &= ts <= until_ms
    cols = {k: frame[k].to_numpy(np.float64)[keep] for k in ("open", "high", "low", "close")}
    mas = {name: values[keep] for name, values in _mas(frame, strategy).items()}
    return PriceSeries(
        symbol,
        timeframe,
        ts[keep],
        cols["open"],
        cols["high"],
        cols["low"],
        cols["close"],
        mas,
        buys=[(int(t), float(p)) for t, side, p in fills if side == "buy"],
        sells=[(int(t), float(p)) for t, side, p in fills if side == "sell"],
        bars=int(keep.sum()),
    )


def single(frame: pd.DataFrame, strategy: Strategy, outcome: Any) -> PriceSeries:
    """The chart of a single-strategy run (app.backtests ``run``): two fills per trade."""
    from oxbot.app.backtests import timeframe  # noqa: PLC0415
    from oxbot.engine.market.csvdata import step_ms  # noqa: PLC0415

    m = outcome.metrics
    fills = [(t.entry_ts, "buy", float(t.entry_price)) for t in outcome.result.trades]
    fills += [(t.exit_ts, "sell", float(t.exit_price)) for t in outcome.result.trades]
    return series(frame, strategy, m["symbol"], timeframe(step_ms(frame) or 0), sorted(fills))


def of_bot(
    frames: dict[str, pd.DataFrame], outcome: Any, strategy: Strategy | None
) -> list[PriceSeries]:
    """One chart per symbol of a bot run (app.backtests ``run_bot``), over the candles it
    simulated: from the first decision's candle to the last's."""
    from oxbot.app.backtests import timeframe_ms  # noqa: PLC0415

    result, m = outcome.result, outcome.metrics
    step = timeframe_ms(m["timeframe"])
    lo = int(result.ts[0]) - step if len(result.ts) else None
    hi = int(result.ts[-1]) - step if len(result.ts) else None
    out = []
    for sym in m["symbols"]:
        fills = [(f.ts, f.side.value, float(f.price)) for f in result.fills if f.symbol == sym]
        out.append(series(frames[sym], strategy, sym, m["timeframe"], fills, lo, hi))
    return out


def downsample(s: PriceSeries, most: int) -> PriceSeries:
    """At most ``most`` candles: runs of ``group`` candles merged into one (first open, highest
    high, lowest low, last close, at the first's time; each average at the run's first candle,
    as drawn). The fills keep their own times and prices."""
    import numpy as np  # noqa: PLC0415

    n = len(s.ts)
    if n <= most:
        return s
    group = -(-n // max(1, most))
    starts = np.arange(0, n, group)
    ends = np.minimum(starts + group, n) - 1
    return replace(
        s,
        ts=s.ts[starts],
        open=s.open[starts],
        high=np.maximum.reduceat(s.high, starts),
        low=np.minimum.reduceat(s.low, starts),
        close=s.close[ends],
        mas={k: v[starts] for k, v in s.mas.items()},
        group=group * s.group,
        bars=s.bars or n,
    )
