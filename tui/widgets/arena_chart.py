"""The arena's equity curves overlaid on one chart, drawn as the cockpit's other equity charts
are (tui/widgets/equity_chart.py: its colours, thinning and round y labels); the buy-and-hold
baseline is a dotted white line (as the dashboard draws net deposits), the contestants solid
braille lines, and the legend under the chart names each colour."""

from __future__ import annotations

from rich.text import Text
from textual.events import Resize
from textual_plotext import PlotextPlot

from oxbot.app.arena_model import ArenaResult, EquitySeries
from oxbot.app.plot_order import stable_plotext

from .arena_table import BASELINE_MARK
from .equity_chart import MAX_POINTS, SERIES_COLOURS, _thin, _utc_day, _y_ticks

BASELINE_COLOUR = "white"
CONTESTANT_COLOURS = tuple(c for c in SERIES_COLOURS if c != BASELINE_COLOUR)
# plotext's colour names as Rich writes them (plotext's "orange" is xterm colour 208)
RICH_COLOURS = {"orange": "dark_orange"}


def curve_colours(result: ArenaResult) -> dict[str, str]:
    """Each drawn curve's plotext colour: the baseline's white, the others in the order of
    ``result.curves`` (the runner's contestant order, so a colour never moves on a re-sort)."""
    kinds = {r.name: r.kind for r in result.rows}
    out: dict[str, str] = {}
    i = 0
    for c in result.curves:
        if kinds.get(c.name) == "baseline":
            out[c.name] = BASELINE_COLOUR
        else:
            out[c.name] = CONTESTANT_COLOURS[i % len(CONTESTANT_COLOURS)]
            i += 1
    return out


def legend(result: ArenaResult) -> Text:
    """``━ alpha  ━ beta  ··· ◆ buy & hold (baseline)``, each in its line's colour."""
    kinds = {r.name: r.kind for r in result.rows}
    t = Text()
    for name, plotext_colour in curve_colours(result).items():
        if t:
            t.append("  ")
        style = RICH_COLOURS.get(plotext_colour, plotext_colour)
        if kinds.get(name) == "baseline":
            t.append("··· ", style=style)
            t.append(f"{BASELINE_MARK} {name} (baseline)")
        else:
            t.append("━ ", style=f"bold {style}")
            t.append(name)
    return t


class ArenaChart(PlotextPlot):
    """``show(result)`` draws every curve of at least two points; drawn again when resized (how
    many y labels fit depends on the height)."""

    result: ArenaResult | None = None

    def show(self, result: ArenaResult | None) -> None:
        self.result = result
        stable_plotext()  # the same picture whatever the hash seed
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        curves: list[EquitySeries] = [c for c in (result.curves if result else []) if len(c.ts) > 1]
        if result is None or not curves:
            plt.title("Equity (no curve yet)")
            self.refresh()
            return
        colours = curve_colours(result)
        t0 = min(c.ts[0] for c in curves)
        span = max(c.ts[-1] for c in curves) - t0
        unit, label = (86_400_000, "days") if span >= 3 * 86_400_000 else (3_600_000, "hours")
        lo, hi = float("inf"), float("-inf")
        # the baseline first, so the contestants' lines are drawn over it
        for c in sorted(curves, key=lambda c: colours[c.name] != BASELINE_COLOUR):
            points = _thin(list(zip(c.ts, c.equity, strict=True)), MAX_POINTS)
            ys = [float(v) for _, v in points]
            lo, hi = min(lo, *ys), max(hi, *ys)
            baseline = colours[c.name] == BASELINE_COLOUR
            plt.plot(
                [(t - t0) / unit for t, _ in points],
                ys,
                marker="dot" if baseline else "braille",
                color=colours[c.name],
            )
        if hi - lo < abs(hi) * 0.002:  # flat lines: show ±0.5%, not ±50%
            lo, hi = lo - abs(lo) * 0.005, hi + abs(hi) * 0.005
            plt.ylim(lo, hi)
        rows = self.size.height - 4  # title, x axis, its labels, x label
        _y_ticks(plt, lo, hi, max(2, min(5, rows // 2)) if rows > 0 else 5)
        plt.title(f"Equity of {len(curves)} contestant{'s' if len(curves) != 1 else ''}")
        plt.xlabel(f"{label} since {_utc_day(t0)}")
        self.refresh()

    def on_resize(self, _event: Resize) -> None:
        if self.result is not None:
            self.show(self.result)
