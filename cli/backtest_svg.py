"""`oxbot backtest --chart FILE`: the report's price chart as a self-contained SVG (or an HTML
page holding it), one panel per symbol: candles, the strategy's moving averages, a triangle at
each fill (``<path class="buy">`` / ``class="sell"`` with ``data-ts`` in ms and ``data-price``,
and a tooltip), UTC dates on the x-axis. Written by hand: no plotting dependency.
"""

from __future__ import annotations

import math
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from oxbot.app.backtest_prices import PriceSeries, downsample

WIDTH = 1100
PANEL = 380  # the height of one symbol's panel
LEFT, RIGHT, TOP, BOTTOM = 80, 50, 34, 40
MOST_CANDLES = 600  # more are down-sampled (the panel's title says so)
MA_COLOURS = ("#0097a7", "#ef6c00", "#8e24aa", "#c0a000", "#1e40af")
EXTENSIONS = (".svg", ".html")


def check_chart_path(value: str) -> Path:
    """The --chart file, checked before any work: .svg or .html, in a folder one can write to."""
    from oxbot.engine.backtest.export import check_writable  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    if Path(value).suffix.lower() not in EXTENSIONS:
        raise UsageError(
            f"--chart {value}: give a file ending in .svg or .html, e.g. --chart report.svg"
        )
    path = check_writable(value)
    if path is None:
        raise UsageError("--chart needs a file name (.svg or .html), not '-'")
    return path


def _num(v: float) -> str:
    return f"{v:.1f}"


def _price(v: float) -> str:
    return f"{v:,.6g}"


def _panel(s: PriceSeries, top: float) -> list[str]:
    from oxbot.app.backtests import utc  # noqa: PLC0415
    from oxbot.cli.backtest_chart import x_range  # noqa: PLC0415

    t0, t1 = x_range(s)  # the whole span: a merged candle sits at its first's time
    s = downsample(s, MOST_CANDLES)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, PANEL - TOP - BOTTOM
    prices = [*s.low.tolist(), *s.high.tolist(), *(p for _, p in (*s.buys, *s.sells))]
    finite = [p for p in prices if math.isfinite(p)]
    lo, hi = min(finite), max(finite)
    pad = (hi - lo) * 0.04 or abs(hi) * 0.005 or 1.0
    lo, hi = lo - pad, hi + pad

    def x(t: float) -> float:
        return LEFT + (t - t0) / (t1 - t0) * plot_w if t1 > t0 else LEFT + plot_w / 2

    def y(p: float) -> float:
        return top + TOP + (hi - p) / (hi - lo) * plot_h

    out = [
        f'<g class="panel" data-symbol={quoteattr(s.symbol)}>',
        f'<text x="{LEFT}" y="{_num(top + 22)}" class="title">{escape(s.title())}</text>',
        f'<rect x="{LEFT}" y="{_num(top + TOP)}" width="{plot_w}" height="{plot_h}" '
        'class="frame"/>',
    ]
    for i in range(5):
        p = lo + (hi - lo) * i / 4
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{_num(y(p))}" y2="{_num(y(p))}" '
            f'class="grid"/><text x="{LEFT - 6}" y="{_num(y(p) + 4)}" class="ylabel">'
            f"{escape(_price(p))}</text>"
        )
    fmt = "%Y-%m-%d" if t1 - t0 >= 3 * 86_400_000 else "%m-%d %H:%M"
    for i in range(5):
        t = t0 + (t1 - t0) * i / 4
        out.append(
            f'<text x="{_num(x(t))}" y="{_num(top + PANEL - BOTTOM + 18)}" class="xlabel">'
            f"{escape(utc(int(t), fmt))}</text>"
        )
    body = max(1.0, plot_w / max(1, len(s.ts)) * 0.6)
    for t, o, h, low, c in zip(s.ts, s.open, s.high, s.low, s.close, strict=True):
        if not all(map(math.isfinite, (o, h, low, c))):
            continue
        cls = "up" if c >= o else "down"
        cx = x(float(t))
        out.append(
            f'<line x1="{_num(cx)}" x2="{_num(cx)}" y1="{_num(y(h))}" y2="{_num(y(low))}" '
            f'class="wick {cls}"/><rect x="{_num(cx - body / 2)}" y="{_num(y(max(o, c)))}" '
            f'width="{_num(body)}" height="{_num(max(0.5, abs(y(o) - y(c))))}" class="{cls}"/>'
        )
    mas = sorted(s.mas.items())
    for i, (name, values) in enumerate(mas):
        pts = " ".join(
            f"{_num(x(float(t)))},{_num(y(v))}"
            for t, v in zip(s.ts, values.tolist(), strict=True)
            if math.isfinite(v)
        )
        if pts:
            colour = MA_COLOURS[i % len(MA_COLOURS)]
            out.append(
                f'<polyline points="{pts}" class="ma" stroke="{colour}" '
                f"data-name={quoteattr(name)}/>"
                f'<text x="{LEFT + plot_w - 90 * (len(mas) - 1 - i)}" y="{_num(top + 22)}" '
                f'class="legend" fill="{colour}">{escape(name)}</text>'
            )
    for side, points, shape in (
        ("buy", s.buys, "l -6,11 h 12 z"),
        ("sell", s.sells, "l -6,-11 h 12 z"),
    ):
        for t, p in points:
            tip = f"{side} {utc(t)} UTC at {_price(p)}"
            out.append(
                f'<path class="{side}" d="M {_num(x(t))},{_num(y(p))} {shape}" '
                f'data-ts="{t}" data-price="{p!r}"><title>{escape(tip)}</title></path>'
            )
    out.append("</g>")
    return out


STYLE = (
    "text{font:12px sans-serif;fill:#333}.title{font-weight:bold;font-size:14px}"
    ".ylabel{text-anchor:end}.xlabel{text-anchor:middle}.legend{text-anchor:end}"
    ".frame{fill:none;stroke:#999}.grid{stroke:#eee}.wick{stroke-width:1}"
    ".wick.up{stroke:#26a69a}.wick.down{stroke:#ef5350}rect.up{fill:#26a69a}"
    "rect.down{fill:#ef5350}.ma{fill:none;stroke-width:1.5}.buy{fill:#1b8a3a}"
    ".sell{fill:#c62828}"
)


def svg(charts: list[PriceSeries], heading: str) -> str:
    """The SVG document: ``heading`` on top, one panel per chart."""
    height = 30 + PANEL * len(charts)
    lines = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}">',
        f"<style>{STYLE}</style>",
        f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>',
        f'<text x="{LEFT}" y="20" class="title">{escape(heading)}</text>',
    ]
    for i, chart in enumerate(charts):
        lines += _panel(chart, 30 + PANEL * i)
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def write_chart(path: Path, charts: list[PriceSeries], heading: str) -> None:
    """``path`` (.svg, or .html: a page holding the same SVG)."""
    doc = svg(charts, heading)
    if path.suffix.lower() == ".html":
        doc = (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(heading)}</title></head><body>\n{doc}</body></html>\n"
        )
    path.write_text(doc, encoding="utf-8")
