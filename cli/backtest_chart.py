"""The price chart of `oxbot backtest`'s report, drawn with plotext like the equity chart: the
candles (a close line when fewer than ``CANDLES_MIN`` fit), the strategy's moving averages and
a ▲ at each buy, a ▼ at each sell, at the fill's time and price, with UTC dates on the x-axis.

A history longer than fits is down-sampled (oxbot.app.backtest_prices ``downsample``) and the
title says so. Imported only when a report is printed; plotext and numpy load here.
"""

from __future__ import annotations

import math
from typing import Any

from oxbot.app.backtest_prices import PriceSeries, downsample

Y_AXIS_COLUMNS = 12  # the y labels and the frame take about this many columns
CANDLE_COLUMNS = 2  # a candle's body and a gap
CANDLES_MIN = 20  # fewer candles than this fit: the close as a line (two points a column)
MA_COLOURS = ("cyan", "orange", "magenta", "yellow", "blue")


def x_range(s: PriceSeries) -> tuple[float, float]:
    """The chart's time span: the candles' and the fills' (a bot's last fill may be at the
    last candle's close)."""
    times = [float(s.ts[0]), float(s.ts[-1])]
    times += [float(t) for t, _ in (*s.buys, *s.sells)]
    return min(times), max(times)


def price_chart(s: PriceSeries, width: int = 100, height: int = 18, color: bool = False) -> str:
    """``s`` as plotext text ``width`` columns wide; candles when ``CANDLES_MIN`` fit."""
    import numpy as np  # noqa: PLC0415
    import plotext as plt  # noqa: PLC0415

    from oxbot.app.plot_order import stable_plotext  # noqa: PLC0415
    from oxbot.cli.backtest_report import _ticks  # noqa: PLC0415

    stable_plotext()

    columns = max(10, width - Y_AXIS_COLUMNS)
    candles = columns // CANDLE_COLUMNS >= CANDLES_MIN
    shown = downsample(s, columns // CANDLE_COLUMNS if candles else columns * 2)
    plt.clear_figure()
    plt.limitsize(False, False)  # the size asked for, not the terminal's (a pipe has none)
    plt.plotsize(width, height)
    plt.theme("pro" if color else "clear")
    xs = shown.ts.astype(np.float64)
    lo, hi = float(np.min(shown.low)), float(np.max(shown.high))
    lines = []  # no plotext legend: drawn over the top-left corner, it hid markers there
    for i, (name, values) in enumerate(sorted(shown.mas.items())):
        ok = np.isfinite(values)
        if ok.sum() >= 2:
            colour = MA_COLOURS[i % len(MA_COLOURS)]
            plt.plot(xs[ok].tolist(), values[ok].tolist(), marker="braille", color=colour)
            lines.append(f"{name} ({colour})" if color else name)
    if candles:
        _candles(plt, xs, shown)
    else:
        plt.plot(xs.tolist(), shown.close.tolist(), marker="braille")
        lines.insert(0, "close")
    for points, marker, colour in ((shown.buys, "▲", "green"), (shown.sells, "▼", "red")):
        if points:
            plt.scatter(
                [float(t) for t, _ in points], [p for _, p in points], marker=marker, color=colour
            )
            lo, hi = min(lo, *(p for _, p in points)), max(hi, *(p for _, p in points))
    pad = (hi - lo) * 0.03 or abs(hi) * 0.005 or 1.0
    plt.ylim(lo - pad, hi + pad)
    first, last = x_range(s)  # the whole span: a merged candle sits at its first's time
    if last > first:
        plt.xlim(first, last)
        plt.xticks(*_ticks(np.asarray([first, last])))
    title = shown.title()
    plt.title(title if len(title) < width - 2 else shown.title(short=True))
    legend = "date (UTC)" + (" · █ up ░ down" if candles else "")
    if lines:
        legend += " · lines: " + ", ".join(lines)
    plt.xlabel(legend if len(legend) < width - 2 else legend.split(" · lines")[0])
    text: str = plt.build()
    return text if color else plt.uncolorize(text)


def _candles(plt: Any, xs: Any, s: PriceSeries) -> None:
    """One column per candle: the wick from low to high, the body █ (up) or ░ (down)."""
    for x, o, h, lo, c in zip(xs, s.open, s.high, s.low, s.close, strict=True):
        if not all(map(math.isfinite, (o, h, lo, c))):
            continue
        up = c >= o
        colour = "green" if up else "red"
        plt.plot([x, x], [lo, h], marker="│", color=colour)
        plt.plot([x, x], [min(o, c), max(o, c)], marker="█" if up else "░", color=colour)
