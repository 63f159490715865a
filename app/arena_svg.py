"""The arena's overlaid equity chart as a self-contained SVG: one line per contestant over the
shared decision times, the buy-and-hold baseline dashed, a legend with each name and return,
UTC dates on the x-axis. Written by hand like cli/backtest_svg.py (no plotting dependency);
each line is a ``<polyline class="equity" data-name=...>`` (the baseline's also ``baseline``).
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape, quoteattr

from oxbot.app.arena_model import ArenaResult, EquitySeries

WIDTH, HEIGHT = 1100, 520
LEFT, RIGHT, TOP, BOTTOM = 90, 230, 40, 40  # the legend sits in the right margin
MOST_POINTS = 1000  # more are thinned to about this many per line
COLOURS = (
    "#1e88e5",
    "#e53935",
    "#43a047",
    "#fb8c00",
    "#8e24aa",
    "#00897b",
    "#c0ca33",
    "#6d4c41",
    "#d81b60",
    "#3949ab",
)
BASELINE_COLOUR = "#555"
STYLE = (
    "text{font:12px sans-serif;fill:#333}.title{font-weight:bold;font-size:14px}"
    ".ylabel{text-anchor:end}.xlabel{text-anchor:middle}.frame{fill:none;stroke:#999}"
    ".grid{stroke:#eee}.equity{fill:none;stroke-width:1.5}"
    ".baseline{stroke-dasharray:6 4;stroke-width:2}"
)


def _thin(s: EquitySeries) -> list[tuple[int, float]]:
    n = len(s.ts)
    every = max(1, math.ceil(n / MOST_POINTS))
    idx = list(range(0, n, every))
    if n and idx[-1] != n - 1:
        idx.append(n - 1)
    return [(s.ts[i], s.equity[i]) for i in idx if math.isfinite(s.equity[i])]


def _n(v: float) -> str:
    return f"{v:.1f}"


def equity_svg(result: ArenaResult) -> str:
    """The SVG document of ``result``'s curves (an empty frame when there are none)."""
    from oxbot.app.backtests import utc  # noqa: PLC0415

    curves = [(c, _thin(c)) for c in result.curves]
    points = [p for _, pts in curves for p in pts]
    t0 = min((t for t, _ in points), default=result.first_ms)
    t1 = max((t for t, _ in points), default=result.last_ms)
    lo = min((v for _, v in points), default=float(result.start_cash))
    hi = max((v for _, v in points), default=float(result.start_cash))
    pad = (hi - lo) * 0.04 or abs(hi) * 0.01 or 1.0
    lo, hi = lo - pad, hi + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - t0) / (t1 - t0) * plot_w if t1 > t0 else LEFT + plot_w / 2

    def y(v: float) -> float:
        return TOP + (hi - v) / (hi - lo) * plot_h

    heading = f"{result.title}: equity ({result.market}, {result.timeframe})"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}">',
        f"<style>{STYLE}</style>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        f'<text x="{LEFT}" y="24" class="title">{escape(heading)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="frame"/>',
    ]
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{_n(y(v))}" y2="{_n(y(v))}" '
            f'class="grid"/><text x="{LEFT - 6}" y="{_n(y(v) + 4)}" class="ylabel">'
            f"{escape(f'{v:,.2f}')}</text>"
        )
    fmt = "%Y-%m-%d" if t1 - t0 >= 3 * 86_400_000 else "%m-%d %H:%M"
    for i in range(5):
        t = t0 + (t1 - t0) * i / 4
        out.append(
            f'<text x="{_n(x(t))}" y="{HEIGHT - BOTTOM + 18}" class="xlabel">'
            f"{escape(utc(int(t), fmt))}</text>"
        )
    returns = {r.name: r.return_pct for r in result.rows if r.error is None}
    kinds = {r.name: r.kind for r in result.rows}
    colour_i = 0
    for k, (c, pts) in enumerate(curves):
        base = kinds.get(c.name) == "baseline"
        if base:
            colour, cls = BASELINE_COLOUR, "equity baseline"
        else:
            colour, cls = COLOURS[colour_i % len(COLOURS)], "equity"
            colour_i += 1
        line = " ".join(f"{_n(x(t))},{_n(y(v))}" for t, v in pts)
        out.append(
            f'<polyline points="{line}" class="{cls}" stroke="{colour}" '
            f"data-name={quoteattr(c.name)}/>"
        )
        ly = TOP + 14 + 20 * k
        ret = returns.get(c.name)
        label = c.name + (f"  {ret:+.2f} %" if ret is not None else "")
        dash = ' stroke-dasharray="6 4"' if base else ""
        out.append(
            f'<line x1="{WIDTH - RIGHT + 14}" x2="{WIDTH - RIGHT + 40}" y1="{ly - 4}" '
            f'y2="{ly - 4}" stroke="{colour}" stroke-width="2"{dash}/>'
            f'<text x="{WIDTH - RIGHT + 46}" y="{ly}">{escape(label)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
