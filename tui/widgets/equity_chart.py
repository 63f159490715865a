"""The equity curve: the selected bot's, or every bot overlaid with a legend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from textual_plotext import PlotextPlot

SERIES_COLOURS = ("cyan", "orange", "green", "magenta", "yellow", "blue", "red", "white")
MAX_OVERLAID = 8  # more lines than this are unreadable in a terminal


class EquityChart(PlotextPlot):
    def show(self, selected: str | None,
             series: Mapping[str, Sequence[tuple[int, float]]]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        names = [selected] if selected else sorted(series)[:MAX_OVERLAID]
        drawn = 0
        lo, hi = float("inf"), float("-inf")
        for i, name in enumerate(names):
            points = series.get(name, ())
            if len(points) < 2:
                continue
            points = _thin(list(points), max(20, self.size.width * 2))
            t0 = points[0][0]
            xs = [(ts - t0) / 60_000 for ts, _ in points]  # minutes since the first sample
            ys = [v for _, v in points]
            lo, hi = min(lo, *ys), max(hi, *ys)
            plt.plot(xs, ys, label=None if selected else name, marker="braille",
                     color=SERIES_COLOURS[i % len(SERIES_COLOURS)])
            drawn += 1
        if drawn and hi - lo < abs(hi) * 0.002:  # a flat line: show ±0.5%, not ±50%
            plt.ylim(lo - abs(lo) * 0.005, hi + abs(hi) * 0.005)
        title = f"{selected} equity" if selected else "Equity, all bots"
        if not drawn:
            title += " (waiting for samples)"
        plt.title(title)
        plt.xlabel("minutes")
        self.refresh()


def _thin(points: list[tuple[int, float]], limit: int) -> list[tuple[int, float]]:
    """At most ``limit`` points, evenly strided, always keeping the newest: plotext's cost
    grows with points, and braille gives only two dots per column anyway."""
    if len(points) <= limit:
        return points
    step = len(points) / (limit - 1)
    out = [points[int(i * step)] for i in range(limit - 1)]
    out.append(points[-1])
    return out
