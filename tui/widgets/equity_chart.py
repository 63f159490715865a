"""The equity curve: the selected bot's, or every bot overlaid with a legend."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from textual_plotext import PlotextPlot

from oxbot.app.plot_order import stable_plotext

SERIES_COLOURS = ("cyan", "orange", "green", "magenta", "yellow", "blue", "red", "white")
MAX_OVERLAID = 8  # more lines than this are unreadable in a terminal


class EquityChart(PlotextPlot):
    def show(
        self,
        selected: str | None,
        series: Mapping[str, Sequence[tuple[int, float]]],
        deposits: Sequence[tuple[int, float]] = (),
    ) -> None:
        """``deposits``: the selected bot's net deposits as a step line (DashboardState.
        deposits_of), drawn beside its equity when it had deposits or withdrawals, so a
        capital edit reads as a deposit, not as a gain or a loss."""
        stable_plotext()  # the same picture whatever the hash seed
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        names = [selected] if selected else _top(series, MAX_OVERLAID)
        drawn = 0
        lo, hi = float("inf"), float("-inf")
        with_deposits = bool(selected and deposits)
        for i, name in enumerate(names):
            points = series.get(name, ())
            if len(points) < 2:
                continue
            points = _thin(list(points), MAX_POINTS)
            t0 = points[0][0]
            xs = [(ts - t0) / 60_000 for ts, _ in points]  # minutes since the first sample
            ys = [v for _, v in points]
            lo, hi = min(lo, *ys), max(hi, *ys)
            if with_deposits:  # under the equity line, which stays readable on top
                dys = [v for _, v in deposits]
                lo, hi = min(lo, *dys), max(hi, *dys)
                plt.plot(
                    [(ts - t0) / 60_000 for ts, _ in deposits],
                    dys,
                    label="net deposits (steps: deposits, withdrawals)",
                    marker="dot",
                    color="white",
                )
            label = "equity" if with_deposits else None if selected else name
            plt.plot(
                xs, ys, label=label, marker="braille", color=SERIES_COLOURS[i % len(SERIES_COLOURS)]
            )
            drawn += 1
        if drawn and hi - lo < abs(hi) * 0.002:  # a flat line: show ±0.5%, not ±50%
            lo, hi = lo - abs(lo) * 0.005, hi + abs(hi) * 0.005
            plt.ylim(lo, hi)
        if drawn:
            _y_ticks(plt, lo, hi)
        if selected:
            title = f"{selected} equity"
        elif len(series) > MAX_OVERLAID:  # say what is left out, never silently
            title = f"Equity, top {MAX_OVERLAID} of {len(series)} bots by equity"
        else:
            title = "Equity, all bots"
        if not drawn:
            title += " (waiting for samples)"
        plt.title(title)
        plt.xlabel("minutes")
        self.refresh()


def show_curve(chart: PlotextPlot, title: str, ts: Sequence[int], values: Sequence[float]) -> None:
    """One curve over a long history (a backtest): x in days since the first point, or hours
    when it spans under three days."""
    stable_plotext()  # the same picture whatever the hash seed
    plt = chart.plt
    plt.clear_data()
    plt.clear_figure()
    if len(ts) >= 2:
        points = _thin(
            list(zip((int(t) for t in ts), (float(v) for v in values), strict=True)), MAX_POINTS
        )
        span = points[-1][0] - points[0][0]
        unit, label = (86_400_000, "days") if span >= 3 * 86_400_000 else (3_600_000, "hours")
        t0 = points[0][0]
        ys = [v for _, v in points]
        plt.plot(
            [(t - t0) / unit for t, _ in points], ys, marker="braille", color=SERIES_COLOURS[0]
        )
        lo, hi = min(ys), max(ys)
        if hi - lo < abs(hi) * 0.002:
            lo, hi = lo - abs(lo) * 0.005, hi + abs(hi) * 0.005
            plt.ylim(lo, hi)
        # no more labels than rows: plotext drops colliding ones in an order that varies with
        # the process's hash seed (a short chart beside the backtest's price chart)
        rows = chart.size.height - 4  # title, x axis, its labels, x label
        _y_ticks(plt, lo, hi, max(2, min(5, rows // 2)) if rows > 0 else 5)
        plt.xlabel(f"{label} since {_utc_day(t0)}")
    plt.title(title)
    chart.refresh()


def _top(series: Mapping[str, Sequence[tuple[int, float]]], n: int) -> list[str]:
    """The ``n`` bots with the highest latest equity (all of them when there are fewer)."""
    latest = {name: (pts[-1][1] if pts else float("-inf")) for name, pts in series.items()}
    return sorted(sorted(latest, key=lambda k: -latest[k])[:n])


def _y_ticks(plt: object, lo: float, hi: float, count: int = 5) -> None:
    """Round y labels at a "nice" step (1, 2, 2.5 or 5 times a power of ten) with thousands
    separators: 9,980 / 10,000 / 10,020, not 9,994 / 10,022 / 10,050."""
    if not (hi > lo):
        return
    step = _nice_step((hi - lo) / (count - 1))
    ticks = [k * step for k in range(math.ceil(lo / step), math.floor(hi / step) + 1)]
    if len(ticks) < 2:  # a range narrower than one step: its two ends
        ticks = [lo, hi]
    places = _places(step)
    labels = [f"{t:,.{places}f}" for t in ticks]
    width = max(len(label) for label in labels)  # plotext does not pad: the axis would jog
    plt.yticks(ticks, [label.rjust(width) for label in labels])  # type: ignore[attr-defined]


def _nice_step(raw: float) -> float:
    """The 1, 2, 2.5 or 5 times a power of ten nearest to ``raw`` (so about ``count`` ticks)."""
    power = 10.0 ** math.floor(math.log10(raw))
    candidates = [m * p for p in (power, power * 10) for m in (1, 2, 2.5, 5)]
    return min(candidates, key=lambda c: abs(math.log(c / raw)))


def _places(step: float) -> int:
    """Decimals that show every tick of ``step`` exactly (2.5 needs one, 0.25 two)."""
    places = 0
    while places < 8 and abs(step * 10**places - round(step * 10**places)) > 1e-6:
        places += 1
    return places


def _utc_day(ms: int) -> str:
    from datetime import UTC, datetime  # noqa: PLC0415

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


# Two braille dots per column of a 200-column chart. A fixed bound, not the widget's current
# width: the same data must always draw the same picture (snapshots, resizes mid-draw).
MAX_POINTS = 400


def _thin(points: list[tuple[int, float]], limit: int) -> list[tuple[int, float]]:
    """At most ``limit`` points, evenly strided, always keeping the newest: plotext's cost
    grows with points, and braille gives only two dots per column anyway."""
    if len(points) <= limit:
        return points
    step = len(points) / (limit - 1)
    out = [points[int(i * step)] for i in range(limit - 1)]
    out.append(points[-1])
    return out
