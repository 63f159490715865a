"""The price panel: one symbol's candles (a close line when the panel is narrow), the
strategy's moving averages, buy/sell markers at the fills and the open position's SL/TP lines.

The dashboard feeds it the selected bot's CandleClosed events and fills (DashboardState); the
backtest screen feeds it a run's candles and trades (``draw_prices`` is shared).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from textual.events import Resize
from textual_plotext import PlotextPlot

from oxbot.app.plot_order import stable_plotext

from .equity_chart import _y_ticks

if TYPE_CHECKING:  # annotations only: the engine's messages load after the first frame
    from oxbot.engine import messages as m

MA_COLOURS = ("cyan", "orange", "magenta", "yellow", "blue")
Y_AXIS_COLUMNS = 12  # the y labels and the frame take about this many columns
CANDLE_MIN_COLUMNS = 2  # a candle needs its body and a gap; below that: a close line
CANDLES_MIN = 20  # at least this many candles, or the close line shows more history


@dataclass(frozen=True)
class PriceData:
    """What one price chart shows; times in ms (a candle's close time)."""

    title: str
    ts: Sequence[int] = ()
    open: Sequence[float] = ()
    high: Sequence[float] = ()
    low: Sequence[float] = ()
    close: Sequence[float] = ()
    mas: dict[str, Sequence[tuple[int, float]]] = field(default_factory=dict)
    buys: Sequence[tuple[int, float]] = ()
    sells: Sequence[tuple[int, float]] = ()
    stop_loss: float | None = None
    take_profit: float | None = None
    whole: bool = False  # the whole span (a backtest), not the newest candles that fit


def from_events(
    bot: str,
    symbol: str,
    candles: Sequence[m.CandleClosed],
    fills: Sequence[m.OrderFilled],
    position: m.PositionView | None,
) -> PriceData:
    """The dashboard's panel data: the bot's candles of ``symbol``, its fills there, and the
    open position's SL/TP."""
    mas: dict[str, list[tuple[int, float]]] = {}
    for c in candles:
        for name, value in c.mas:
            mas.setdefault(name, []).append((c.ts, value))
    return PriceData(
        title=f"{bot} · {symbol}",
        ts=[c.ts for c in candles],
        open=[c.open for c in candles],
        high=[c.high for c in candles],
        low=[c.low for c in candles],
        close=[c.close for c in candles],
        mas=dict(mas),
        buys=[(f.ts, float(f.price)) for f in fills if f.symbol == symbol and f.side == "buy"],
        sells=[(f.ts, float(f.price)) for f in fills if f.symbol == symbol and f.side == "sell"],
        stop_loss=_level(position.stop_loss) if position else None,
        take_profit=_level(position.take_profit) if position else None,
    )


def from_backtest(title: str, frame: object, trades: Sequence[object]) -> PriceData:
    """A backtest's candles (its frame: ts, open..close) with its trades' entries and exits."""
    f: object = frame
    return PriceData(
        title=title,
        ts=[int(t) for t in f["ts"]],  # type: ignore[index]
        open=[float(v) for v in f["open"]],  # type: ignore[index]
        high=[float(v) for v in f["high"]],  # type: ignore[index]
        low=[float(v) for v in f["low"]],  # type: ignore[index]
        close=[float(v) for v in f["close"]],  # type: ignore[index]
        buys=[(t.entry_ts, float(t.entry_price)) for t in trades],  # type: ignore[attr-defined]
        sells=[(t.exit_ts, float(t.exit_price)) for t in trades],  # type: ignore[attr-defined]
        whole=True,
    )


def _level(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


class PriceChart(PlotextPlot):
    """Redraws itself on a resize: how many candles fit depends on its width."""

    data: PriceData | None = None
    waiting: str = "no candle yet"

    def show(self, data: PriceData | None, waiting: str = "no candle yet") -> None:
        self.data, self.waiting = data, waiting
        self._draw()

    def on_resize(self, _event: Resize) -> None:
        if self.data is not None:
            self._draw()

    def _draw(self) -> None:
        stable_plotext()  # the same picture whatever the hash seed
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if self.data is None:
            plt.title(self.waiting)
        else:
            draw_prices(plt, self.data, max(10, self.size.width - Y_AXIS_COLUMNS), self.waiting)
        self.refresh()


def draw_prices(plt: object, data: PriceData, columns: int, waiting: str = "no candle yet") -> str:
    """Draw ``data`` on ``plt`` for a plot ``columns`` wide; returns the mode used ("candles"
    or "line"). Candles when ``CANDLES_MIN`` of them fit at ``CANDLE_MIN_COLUMNS`` columns each
    (the newest that fit), else the close as a braille line (two points per column)."""
    p: object = plt
    n = len(data.ts)
    fit = columns // CANDLE_MIN_COLUMNS
    mode = "candles" if fit >= CANDLES_MIN and (not data.whole or n <= fit) else "line"
    keep = n if data.whole else min(n, fit if mode == "candles" else columns * 2)
    title = data.title
    if n == 0:
        p.title(f"{title} ({waiting})")  # type: ignore[attr-defined]
        return mode
    first = n - keep
    ts = list(data.ts[first:])
    t0, t_end = ts[0], ts[-1]
    unit, unit_name = (86_400_000, "days") if t_end - t0 >= 3 * 86_400_000 else (60_000, "minutes")
    xs = [(t - t0) / unit for t in ts]
    closes = list(data.close[first:])
    lows, highs = list(data.low[first:]), list(data.high[first:])
    lo, hi = min(lows), max(highs)
    for i, (name, points) in enumerate(sorted(data.mas.items())):
        shown = [(t, v) for t, v in points if t0 <= t <= t_end]
        if len(shown) >= 2:
            p.plot(  # type: ignore[attr-defined]
                [(t - t0) / unit for t, _ in shown],
                [v for _, v in shown],
                marker="braille",
                color=MA_COLOURS[i % len(MA_COLOURS)],
                label=name,
            )
    # the candles over the averages, the markers over both
    if mode == "candles":
        p.candlestick(  # type: ignore[attr-defined]
            xs,
            {
                "Open": list(data.open[first:]),
                "Close": closes,
                "High": highs,
                "Low": lows,
            },
        )
    else:
        step = max(1, len(xs) // (columns * 2))  # two braille points a column are enough
        p.plot(  # type: ignore[attr-defined]
            xs[::step], closes[::step], marker="braille", color="white", label="close"
        )
    for points, marker, colour, label in (
        (data.buys, "▲", "green", "buy"),
        (data.sells, "▼", "red", "sell"),
    ):
        shown = [(t, v) for t, v in points if t0 <= t <= t_end]
        if shown:
            p.scatter(  # type: ignore[attr-defined]
                [(t - t0) / unit for t, _ in shown],
                [v for _, v in shown],
                marker=marker,
                color=colour,
                label=label,
            )
            lo, hi = min(lo, *(v for _, v in shown)), max(hi, *(v for _, v in shown))
    levels = []
    span = hi - lo
    for level, colour, name in (
        (data.stop_loss, "red", "SL"),
        (data.take_profit, "green", "TP"),
    ):
        if level is None:
            continue
        # a line only when it leaves the candles readable: within one price range of them
        if lo - span <= level <= hi + span:
            p.hline(level, colour)  # type: ignore[attr-defined]
            lo, hi = min(lo, level), max(hi, level)
            levels.append(f"{name} {level:,.6g}")
        else:
            levels.append(f"{name} {level:,.6g} ({'below' if level < lo else 'above'})")
    pad = (hi - lo) * 0.03 or abs(hi) * 0.005 or 1.0
    p.ylim(lo - pad, hi + pad)  # type: ignore[attr-defined]
    _y_ticks(p, lo - pad, hi + pad)
    if levels:
        title += " · " + " · ".join(levels)
    p.title(title)  # type: ignore[attr-defined]
    p.xlabel(f"{unit_name} since {_utc(t0)} (last close {closes[-1]:,.6g})")  # type: ignore[attr-defined]
    return mode


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
