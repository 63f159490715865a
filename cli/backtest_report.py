"""What `oxbot backtest` shows: the human report (a compact header, the equity chart with dates,
aligned metric rows, risk halts) from the metrics oxbot.app.backtests computes.

Imported only when a backtest has run; numpy and plotext load inside the chart function.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oxbot.app.backtests import ratio_legend, span, utc

MAX_HALTS_SHOWN = 3
# A bot's symbols each get a price chart in the terminal, up to this many (the rest are in
# the --chart file): every symbol's entries and exits are what one checks, but a long report
# scrolls its metrics away.
MAX_PRICE_CHARTS = 4


def _num(value: Any, spec: str = ",.2f") -> str:
    """Formatted, with no ``-0.00``: a value that rounds to zero shows unsigned."""
    if value is None:
        return "n/a"
    text = f"{Decimal(str(value)):{spec}}"
    if text.lstrip("+-").strip("0.,") == "":
        text = f"{Decimal(0):{spec.replace('+', '')}}"
    return text


def _ticks(ts: Any, count: int = 5) -> tuple[list[float], list[str]]:
    first, last = int(ts[0]), int(ts[-1])
    span = max(1, last - first)
    fmt = "%Y-%m-%d" if span >= 3 * 86_400_000 else "%m-%d %H:%M"
    pos = [first + span * i / (count - 1) for i in range(count)]
    return pos, [utc(int(p), fmt) for p in pos]


def equity_chart(
    ts: Any, equity: Any, width: int = 100, height: int = 16, color: bool = False
) -> str:
    """The equity curve drawn with plotext, downsampled to a few points per column, with
    UTC dates on the x-axis."""
    import numpy as np  # noqa: PLC0415
    import plotext as plt  # noqa: PLC0415

    from oxbot.app.plot_order import stable_plotext  # noqa: PLC0415

    stable_plotext()
    n = len(equity)
    idx = np.unique(np.linspace(0, n - 1, num=min(n, width * 4)).astype(np.int64))
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("pro" if color else "clear")
    plt.plot(ts[idx].astype(np.float64).tolist(), equity[idx].tolist(), marker="braille")
    if n > 1:
        plt.xticks(*_ticks(ts))
    plt.title("equity (marked at each close)")
    plt.xlabel("date (UTC)")
    text: str = plt.build()
    return text if color else plt.uncolorize(text)


def _hold(hours: float | None) -> str:
    return span(None if hours is None else hours * 3_600_000)


def _header(m: dict[str, Any]) -> list[str]:
    from pathlib import Path  # noqa: PLC0415

    params = " ".join(f"{k}={v}" for k, v in m["params"].items())
    if len(params) > 60:
        params = params[:57] + "..."
    mode = "risk-managed" if m["risk"] else "no risk (all-in, no SL/TP)"
    source = m["source"]
    if ":" not in source or Path(source).exists():
        source = Path(source).name
    fee_pct = Decimal(m["fee_rate"]) * 100
    return [
        f"backtest  {m['strategy']} {params} on {m['symbol']}, {mode}".rstrip(),
        f"data      {source}, {m['bars']:,} bars, {utc(m['first_ts'])} to {utc(m['last_ts'])} UTC",
        f"costs     fee {fee_pct.normalize():f} %, slippage {m['slippage_bps']} bps, "
        f"start cash {_num(m['start_cash'])}",
    ]


def _rows(m: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = [
        ("final equity", _num(m["final_equity"]), ""),
        ("return", _num(m["return_pct"], "+,.2f"), "%"),
        ("buy & hold", _num(m["buy_hold_return_pct"], "+,.2f"), "%"),
        ("CAGR", _num(m["cagr_pct"], "+,.2f"), "%"),
        ("max drawdown", _num(m["max_drawdown_pct"], ".2f"), "%"),
        ("drawdown time", span(m["max_drawdown_duration_h"] * 3_600_000), ""),
        ("Sharpe", _num(m["sharpe"], ".2f"), ""),
        ("Sortino", _num(m["sortino"], ".2f"), ""),
        ("Calmar", _num(m["calmar"], ",.2f"), ""),
        ("exposure", _num(m["exposure_pct"], ".1f"), "%"),
        ("trades", f"{m['trades']:,}", ""),
        ("trades per day", _num(m["trades_per_day"], ",.2f"), ""),
        ("win rate", _num(m["win_rate"], ".1f"), "%" if m["win_rate"] is not None else ""),
        ("profit factor", _num(m["profit_factor"], ".2f"), ""),
        ("expectancy", _num(m["expectancy"], "+,.2f"), ""),
        ("average trade", _num(m["avg_trade_pct"], "+.2f"), "%"),
        ("average hold", _hold(m["avg_holding_h"]), ""),
        ("fees paid", _num(m["fees_paid"]), ""),
        ("time", f"{m['elapsed_s']:.3f}", "s"),
    ]
    if m["risk"]:
        rows.append(("rejected", str(m["rejected_decisions"]), ""))
    return rows


def price_charts(prices: list[Any] | None, width: int, color: bool) -> list[str]:
    """The price chart of each symbol (at most ``MAX_PRICE_CHARTS``, then a note), each
    followed by a blank line."""
    if not prices:
        return []
    from oxbot.cli.backtest_chart import price_chart  # noqa: PLC0415

    lines = []
    for s in prices[:MAX_PRICE_CHARTS]:
        lines += [price_chart(s, width=width, color=color), ""]
    if len(prices) > MAX_PRICE_CHARTS:
        rest = ", ".join(s.symbol for s in prices[MAX_PRICE_CHARTS:])
        lines += [f"  price charts of {rest}: in the --chart FILE.svg file", ""]
    return lines


def render_report(
    m: dict[str, Any], result: Any, color: bool = False, prices: list[Any] | None = None
) -> str:
    """The human report: header, equity chart, price chart (``prices``: PriceSeries of
    oxbot.app.backtest_prices), the metrics in two aligned columns, halts."""
    import shutil  # noqa: PLC0415

    width = max(40, min(120, shutil.get_terminal_size((100, 24)).columns))
    lines = [*_header(m), "", equity_chart(result.ts, result.equity, width=width, color=color), ""]
    lines += price_charts(prices, width, color)
    rows = _rows(m)
    half = (len(rows) + 1) // 2
    right = rows[half:] + [("", "", "")] * (2 * half - len(rows))

    def cell(label: str, value: str, unit: str) -> str:
        return f"{label:<15}{value:>14} {unit:<1}"

    for left, r in zip(rows[:half], right, strict=True):
        lines.append(f"  {cell(*left)}     {cell(*r)}".rstrip())
    if m.get("buy_hold_final_equity") is not None:
        lines.append(
            "  buy & hold: the start cash bought at the first open, sold at the last close, "
            f"same fees and slippage: {_num(m['buy_hold_final_equity'])}"
        )
    lines.extend(f"  {line}" for line in ratio_legend(m))
    halts = m.get("risk_halts") or []
    for h in halts[:MAX_HALTS_SHOWN]:
        lines.append(f"  risk halt {h['date']} UTC: {h['reason']}; no new entries")
    if len(halts) > MAX_HALTS_SHOWN:
        lines.append(f"  ... and {len(halts) - MAX_HALTS_SHOWN} more risk halts (see --json)")
    return "\n".join(lines)


def symbol_rows(m: dict[str, Any]) -> list[str]:
    """The per-symbol table of a bot backtest, with the total and the buy-and-hold baseline."""
    head = f"  {'symbol':<14}{'trades':>7}{'win rate':>10}{'P&L':>14}{'fees':>12}{'open':>14}"
    head += f"{'buy & hold':>12}"
    lines = [head]
    for r in m["per_symbol"]:
        win = "n/a" if r["win_rate"] is None else f"{r['win_rate']:.1f} %"
        held = "-" if Decimal(r["open_qty"]) == 0 else r["open_qty"]
        lines.append(
            f"  {r['symbol']:<14}{r['trades']:>7,}{win:>10}{_num(r['pnl'], '+,.2f'):>14}"
            f"{_num(r['fees']):>12}{held:>14}{_num(r['buy_hold_return_pct'], '+,.2f') + ' %':>12}"
        )
    win = "n/a" if m["win_rate"] is None else f"{m['win_rate']:.1f} %"
    lines.append(
        f"  {'total':<14}{m['trades']:>7,}{win:>10}"
        f"{_num(Decimal(m['final_equity']) - Decimal(m['start_cash']), '+,.2f'):>14}"
        f"{_num(m['fees_paid']):>12}{'':>14}{_num(m['buy_hold_return_pct'], '+,.2f') + ' %':>12}"
    )
    return lines


def render_bot_report(
    m: dict[str, Any], result: Any, color: bool = False, prices: list[Any] | None = None
) -> str:
    """The report of `oxbot backtest --bot`: header, equity chart, a price chart per symbol
    (``prices``), per-symbol rows with the total and the baseline, the total metrics, halts.
    The total P&L includes open positions at the last close."""
    import shutil  # noqa: PLC0415

    width = max(40, min(120, shutil.get_terminal_size((100, 24)).columns))
    params = " ".join(f"{k}={v}" for k, v in m["params"].items())
    lim = m["limits"]
    fee_pct = Decimal(m["fee_rate"]) * 100
    lines = [
        f"backtest  bot {m['bot']}: {m['strategy']} {params} on {m['symbol']}".rstrip(),
        f"data      {m['timeframe']} candles, {m['bars']:,} decisions possible, "
        f"{utc(m['first_ts'])} to {utc(m['last_ts'])} UTC",
        f"costs     fee {fee_pct.normalize():f} %, slippage {m['slippage_bps']} bps, "
        f"start cash {_num(m['start_cash'])} shared by {len(m['symbols'])} symbol(s)",
        f"limits    position {lim['max_position_pct']} %, exposure {lim['max_exposure_pct']} %, "
        f"SL {lim['stop_loss_pct']} %, TP {lim['take_profit_pct']} %, daily loss "
        f"{lim['daily_loss_limit_pct']} %, drawdown {lim['max_drawdown_pct']} %",
        "",
    ]
    if len(result.ts) > 1:
        lines += [equity_chart(result.ts, result.equity, width=width, color=color), ""]
        lines += price_charts(prices, width, color)
    lines += symbol_rows(m)
    lines.append(
        f"  buy & hold: the start cash split equally, bought at the first open, sold at the "
        f"last close, same fees and slippage: {_num(m['buy_hold_final_equity'])}"
    )
    lines.append("")
    rows = _rows(m)
    half = (len(rows) + 1) // 2
    right = rows[half:] + [("", "", "")] * (2 * half - len(rows))

    def cell(label: str, value: str, unit: str) -> str:
        return f"{label:<15}{value:>14} {unit:<1}"

    for left, r in zip(rows[:half], right, strict=True):
        lines.append(f"  {cell(*left)}     {cell(*r)}".rstrip())
    lines.extend(f"  {line}" for line in ratio_legend(m))
    halts = m.get("risk_halts") or []
    for h in halts[:MAX_HALTS_SHOWN]:
        lines.append(f"  risk halt {h['date']} UTC: {h['reason']}; no new entries")
    if len(halts) > MAX_HALTS_SHOWN:
        lines.append(f"  ... and {len(halts) - MAX_HALTS_SHOWN} more risk halts (see --json)")
    return "\n".join(lines)
