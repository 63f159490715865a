"""What `oxbot backtest` shows: the JSON metrics (money as exact decimal strings) and the human
report (a compact header, the equity chart with dates, aligned metric rows, risk halts).

Imported only when a backtest has run; numpy and plotext load inside the chart function.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

PCT_KEYS = ("return_pct", "cagr_pct", "max_drawdown_pct", "win_rate", "avg_trade_pct",
            "exposure_pct", "buy_hold_return_pct")
RATIO_KEYS = ("sharpe", "sortino", "profit_factor")
MAX_HALTS_SHOWN = 3


def utc(ms: int | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``1700000000000`` → ``2023-11-14 22:13`` (UTC); ``?`` for None."""
    from datetime import UTC, datetime  # noqa: PLC0415

    return "?" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime(fmt)


def _round(x: Any, places: int = 4) -> Any:
    if x is None:
        return None
    r = round(float(x), places)
    return 0.0 if r == 0 else r  # never -0.0


def json_metrics(result: Any, *, source: str, symbol: str, cash: Decimal) -> dict[str, Any]:
    """The metrics as one JSON-ready dict: money as decimal strings quantised for the quote
    currency (no float noise), percentages and ratios rounded to 4 places, win rate None when
    there was no trade, and each kill-switch / daily-loss-limit trip with its date."""
    from oxbot.engine.backtest.export import money, money_quantum  # noqa: PLC0415

    m = dict(result.metrics)
    mq = money_quantum(symbol)
    trades = result.trades
    pnl = sum((t.pnl for t in trades), Decimal(0))
    fees = sum((t.fees for t in trades), Decimal(0))
    final = result.final_equity
    out: dict[str, Any] = {"source": source, "symbol": symbol, **m}
    out.update(
        start_cash=money(cash, mq), final_equity=money(final, mq),
        avg_trade=money(pnl / len(trades), mq) if trades else money(Decimal(0), mq),
        fees_paid=money(fees, mq), return_pct=float((final / cash - 1) * 100),
        fee_rate=f"{Decimal(str(m['fee_rate'])).normalize():f}",
        slippage_bps=f"{Decimal(str(m['slippage_bps'])).normalize():f}",
    )
    for key in PCT_KEYS + RATIO_KEYS:
        out[key] = _round(out.get(key))
    if not trades:
        out["win_rate"] = None  # 0 % would claim every trade lost
    out["risk_halts"] = [{"ts": ts, "date": utc(ts), "reason": why} for ts, why in result.halts]
    return out


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


def equity_chart(ts: Any, equity: Any, width: int = 100, height: int = 16,
                 color: bool = False) -> str:
    """The equity curve drawn with plotext, downsampled to a few points per column, with
    UTC dates on the x-axis."""
    import numpy as np  # noqa: PLC0415
    import plotext as plt  # noqa: PLC0415

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
        f"data      {source}, {m['bars']:,} bars, {utc(m['first_ts'])} to "
        f"{utc(m['last_ts'])} UTC",
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
        ("Sharpe", _num(m["sharpe"], ".2f"), ""),
        ("Sortino", _num(m["sortino"], ".2f"), ""),
        ("trades", f"{m['trades']:,}", ""),
        ("win rate", _num(m["win_rate"], ".1f"), "%" if m["win_rate"] is not None else ""),
        ("profit factor", _num(m["profit_factor"], ".2f"), ""),
        ("average trade", _num(m["avg_trade"], "+,.2f"), ""),
        ("average trade", _num(m["avg_trade_pct"], "+.2f"), "%"),
        ("exposure", _num(m["exposure_pct"], ".1f"), "%"),
        ("fees paid", _num(m["fees_paid"]), ""),
        ("time", f"{m['elapsed_s']:.3f}", "s"),
    ]
    if m["risk"]:
        rows.append(("rejected", str(m["rejected_decisions"]), ""))
    return rows


def render_report(m: dict[str, Any], result: Any, color: bool = False) -> str:
    """The human report: header, equity chart, the metrics in two aligned columns, halts."""
    import shutil  # noqa: PLC0415

    width = max(40, min(120, shutil.get_terminal_size((100, 24)).columns))
    lines = [*_header(m), "", equity_chart(result.ts, result.equity, width=width, color=color),
             ""]
    rows = _rows(m)
    half = (len(rows) + 1) // 2
    right = rows[half:] + [("", "", "")] * (2 * half - len(rows))

    def cell(label: str, value: str, unit: str) -> str:
        return f"{label:<15}{value:>14} {unit:<1}"

    for left, r in zip(rows[:half], right, strict=True):
        lines.append(f"  {cell(*left)}     {cell(*r)}".rstrip())
    halts = m.get("risk_halts") or []
    for h in halts[:MAX_HALTS_SHOWN]:
        lines.append(f"  risk halt {h['date']} UTC: {h['reason']}; no new entries")
    if len(halts) > MAX_HALTS_SHOWN:
        lines.append(f"  ... and {len(halts) - MAX_HALTS_SHOWN} more risk halts (see --json)")
    return "\n".join(lines)
