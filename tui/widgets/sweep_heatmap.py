"""A sweep's heatmap: the objective of every pair of values of two swept parameters, coloured
from the theme's loss colour (lowest) to its profit colour (highest), each cell with its value;
n/a cells (too few trades for the ratio) and combinations that did not run (the schema refused
them) look different from any value, and a legend gives the min and the max.

With more than two parameters swept, a cell shows the best value over the other parameters.
`heat_grid` is the pure part (tested without a screen); `SweepHeatmap` draws it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.color import Color, ColorParseError
from textual.widgets import Static

from oxbot.engine.backtest.sweep import OBJECTIVES, SweepResult, objective_value

NA = "n/a"
NOT_RUN = "·"
SIDES = {"in_sample": "in-sample", "held_out": "held-out"}


@dataclass(frozen=True)
class HeatGrid:
    """``cells[(x, y)]``: the value, None for n/a; a pair missing from ``cells`` did not run.
    ``y_name`` is None when one parameter was swept (a single row)."""

    x_name: str
    y_name: str | None
    xs: list[Any]
    ys: list[Any]
    cells: dict[tuple[Any, Any], float | None]
    others: list[str]  # the swept parameters a cell takes the best over
    pivot: float = 0.0  # the neutral value: 1 for a profit factor, else 0

    def values(self) -> list[float]:
        return [v for v in self.cells.values() if v is not None]

    def best(self) -> tuple[Any, Any] | None:
        scored = [(v, k) for k, v in self.cells.items() if v is not None]
        return max(scored, key=lambda vk: vk[0])[1] if scored else None


def pairs(result: SweepResult) -> list[tuple[str, str | None]]:
    """The parameter pairs a heatmap can show: the first two swept first."""
    names = result.param_names
    if len(names) == 1:
        return [(names[0], None)]
    return list(itertools.combinations(names, 2))


def heat_grid(result: SweepResult, x: str, y: str | None, side: str = "in_sample") -> HeatGrid:
    """The ``side`` ("in_sample" or "held_out") objective of each (x, y) pair of values."""
    axis = {n: list(vals) for n, vals in result.ranges.items()}
    cells: dict[tuple[Any, Any], float | None] = {}
    for row in result.rows:
        key = (row.params.get(x), row.params.get(y) if y is not None else None)
        v = objective_value(getattr(row, side), result.objective)
        if key not in cells or _better(v, cells[key]):
            cells[key] = v
    xs = axis.get(x) or sorted({k[0] for k in cells})
    ys = [None] if y is None else (axis.get(y) or sorted({k[1] for k in cells}))
    others = [n for n in result.param_names if n not in (x, y)]
    pivot = 1.0 if result.objective == "profit_factor" else 0.0
    return HeatGrid(x, y, xs, ys, cells, others, pivot)


def _better(v: float | None, old: float | None) -> bool:
    return v is not None and (old is None or v > old)


def value_text(v: float | None) -> str:
    if v is None:
        return NA
    return f"{v:,.2f}" if abs(v) < 1000 else f"{v:,.0f}"


def param_text(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def parse_colour(value: str) -> Color:
    """A theme colour as tui.palette.colour gives it: Rich's names, so ANSI colours come
    without Textual's ``ansi_`` prefix (``bright_red``)."""
    try:
        return Color.parse(value)
    except ColorParseError:
        return Color.parse(f"ansi_{value}")


class Scale:
    """Values coloured by which side of ``pivot`` they are (0; 1 for a profit factor): above it
    from the theme's neutral colour to its profit colour at the highest value, below it to its
    loss colour at the lowest, so red always means a loss. On a 16-colour theme (ANSI colours
    cannot be blended) the three colours themselves."""

    def __init__(
        self, low: str, mid: str, high: str, lo: float, hi: float, pivot: float = 0.0
    ) -> None:
        self.colours = [parse_colour(c) for c in (low, mid, high)]
        self.ansi = any(c.ansi is not None for c in self.colours)
        self.lo, self.hi, self.pivot = lo, hi, pivot

    def at(self, v: float) -> Color:
        low, mid, high = self.colours
        if v > self.pivot:
            t = (v - self.pivot) / (self.hi - self.pivot) if self.hi > self.pivot else 1.0
            return high if self.ansi else mid.blend(high, 0.25 + 0.75 * t)
        if v < self.pivot:
            t = (self.pivot - v) / (self.pivot - self.lo) if self.lo < self.pivot else 1.0
            return low if self.ansi else mid.blend(low, 0.25 + 0.75 * t)
        return mid


def _cell_style(bg: Color) -> Style:
    fg = bg.get_contrast_text(1.0)
    return Style(color=fg.rich_color, bgcolor=bg.rich_color)


class SweepHeatmap(Static):
    """Draws a HeatGrid; ``show(result, pair_index, side)`` picks what. Wider than its pane it
    narrows its cells first, then its container scrolls."""

    DEFAULT_CSS = """
    SweepHeatmap { width: auto; height: auto; }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__("", **kw)
        self.result: SweepResult | None = None
        self.pair_index = 0
        self.side = "in_sample"
        self.room = 0  # columns available (the container's width); 0: unknown

    def show(
        self, result: SweepResult | None, pair_index: int = 0, side: str = "in_sample"
    ) -> None:
        self.result, self.side = result, side
        self.pair_index = pair_index % len(pairs(result)) if result and result.param_names else 0
        self.redraw()

    def redraw(self) -> None:
        self.update(self.picture())

    def picture(self) -> Text:
        r = self.result
        if r is None:
            return Text("Run a sweep (ctrl+r) to see its heatmap.", style="dim")
        if r.folds:
            return Text(
                "Walk-forward keeps only each fold's best parameter set, so there is no grid "
                "to draw: see the table. A held-out % sweep draws the heatmap.",
                style="dim",
            )
        x, y = pairs(r)[self.pair_index]
        g = heat_grid(r, x, y, self.side)
        return draw(g, self._palette(), f"{SIDES[self.side]} {_label(r)}", self.room)

    def _palette(self) -> dict[str, str]:
        # Textual's own values (``ansi_red`` on a 16-colour theme; tui.palette's are Rich's)
        css = self.app.get_css_variables()
        names = ("pnl-down", "pnl-flat", "pnl-up", "foreground", "background", "panel")
        pal = {n: css.get(n) or "grey50" for n in names}
        # n/a: a fifth of the way from the background to the text, on dark and light themes
        # alike; a 16-colour theme's panel colour (ANSI colours do not blend)
        back, fore = parse_colour(pal["background"]), parse_colour(pal["foreground"])
        na = parse_colour(pal["panel"]) if back.ansi is not None else back.blend(fore, 0.2)
        pal["na"] = na.hex
        return pal


def _label(r: SweepResult) -> str:
    return {"return_pct": "return %", "profit_factor": "profit factor"}.get(
        OBJECTIVES[r.objective], OBJECTIVES[r.objective]
    )


def draw(g: HeatGrid, pal: dict[str, str], what: str, room: int = 0) -> Text:
    """The grid as text: a title line, the x values, one line per y value, then the legend."""
    values = g.values()
    lo, hi = (min(values), max(values)) if values else (0.0, 0.0)
    scale = Scale(pal["pnl-down"], pal["pnl-flat"], pal["pnl-up"], lo, hi, g.pivot)
    best = g.best()
    texts = {k: value_text(v) for k, v in g.cells.items()}
    y_labels = [param_text(v) for v in g.ys] if g.y_name else [""]
    corner = f"{g.y_name} ↓ {g.x_name} →" if g.y_name else f"{g.x_name} →"
    lead = max([len(s) for s in y_labels] + [len(corner)]) + 1
    inner = max([len(t) for t in texts.values()] + [len(param_text(v)) for v in g.xs] + [3])
    width = inner + 2
    if room and lead + width * len(g.xs) > room:
        width = inner + 1  # one space between cells rather than two
    elif room:  # wider cells where there is room, up to three more columns each
        width = max(width, min(inner + 5, (room - lead) // max(1, len(g.xs))))
    out = Text()
    out.append(f"{what} by {g.x_name}" + (f" and {g.y_name}" if g.y_name else ""), style="bold")
    if g.others:
        out.append(f"  (each cell: the best over {', '.join(g.others)})", style="dim")
    out.append("\n")
    out.append(corner.ljust(lead), style="dim")
    for xv in g.xs:
        out.append(param_text(xv).rjust(width), style="bold")
    out.append("\n")
    for yv, ylab in zip(g.ys, y_labels, strict=True):
        out.append(ylab.rjust(lead - 1) + " ", style="bold")
        for xv in g.xs:
            key = (xv, yv)
            if key not in g.cells:
                out.append(NOT_RUN.center(width), style="dim")
                continue
            v = g.cells[key]
            body = texts[key].rjust(width - 1) + " "
            if v is None:
                out.append(body, style=_na_style(pal))
            else:
                style = _cell_style(scale.at(v))
                if key == best:
                    style += Style(bold=True, underline=True)
                out.append(body, style=style)
        out.append("\n")
    out.append("\n")
    out.append_text(legend(scale, values, pal))
    return out


def legend(scale: Scale, values: list[float], pal: dict[str, str]) -> Text:
    """``min -1.20 ▇▇▇▇▇ max 2.34 (best underlined)``, then what n/a and · mean."""
    t = Text()
    if values:
        t.append(f"min {value_text(scale.lo)} ")
        steps = 9
        for i in range(steps):
            v = scale.lo + (scale.hi - scale.lo) * i / (steps - 1)
            t.append("  ", style=Style(bgcolor=scale.at(v).rich_color))
        t.append(f" max {value_text(scale.hi)} (best underlined)\n")
    t.append(f" {NA} ", style=_na_style(pal))
    t.append(" too few trades   ", style="dim")
    t.append(f" {NOT_RUN} ", style="dim")
    t.append(" skipped", style="dim")
    return t


def _na_style(pal: dict[str, str]) -> Style:
    bg = parse_colour(pal["na"])
    return Style(color=bg.get_contrast_text(1.0).rich_color, bgcolor=bg.rich_color, italic=True)
