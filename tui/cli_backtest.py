"""`oxbot backtest`: one strategy over history, with metrics, an equity chart and exports.

Heavy imports (pandas, pandas-ta, ccxt, plotext) happen inside the handler only.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXAMPLE = ("example: oxbot backtest --strategy sma_cross --param fast=10 --param slow=30 "
           "--data BTC-USDT_1h.csv --no-risk")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "backtest", help="run a strategy over history (CSV file or exchange download)",
        description="Backtest one strategy over history: the same strategies, risk manager and "
                    "paper broker as live trading. Decisions at a candle's close fill at the "
                    "next candle's open.", epilog=EXAMPLE)
    p.add_argument("--strategy", required=True, metavar="NAME",
                   help="strategy name, e.g. sma_cross or rsi_reversion")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="strategy parameter (repeatable), e.g. --param fast=10")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", metavar="FILE.csv",
                     help="CSV with header timestamp,open,high,low,close,volume (ms, UTC)")
    src.add_argument("--exchange", metavar="ID", help="download history from this ccxt exchange")
    p.add_argument("--symbol", metavar="SYM", help="symbol for --exchange, e.g. BTC/USDT")
    p.add_argument("--timeframe", metavar="TF", help="timeframe for --exchange, e.g. 1h")
    p.add_argument("--since", metavar="DATE", help="start date (UTC) for --exchange, YYYY-MM-DD")
    p.add_argument("--until", metavar="DATE", help="end date (UTC, exclusive) for --exchange")
    p.add_argument("--cash", default="10000", metavar="AMOUNT", help="starting cash (10000)")
    p.add_argument("--fee", default="0.001", metavar="RATE", help="fee rate per fill (0.001)")
    p.add_argument("--slippage-bps", default="0", metavar="BPS",
                   help="slippage against you per fill, in basis points (0)")
    p.add_argument("--no-risk", action="store_true",
                   help="all-in sizing with no SL/TP (to compare with other tools)")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument("--trades-out", metavar="FILE.csv", help="write the trades to a CSV file")
    p.add_argument("--equity-out", metavar="FILE.csv", help="write the equity curve to a CSV file")
    p.set_defaults(handler=run_backtest_command)


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``["fast=10", "name=x"]`` → ``{"fast": 10, "name": "x"}`` (JSON values when they parse)."""
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {pair!r} must look like KEY=VALUE, e.g. --param fast=10")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def _decimal(text: str, flag: str, *, minimum: float = 0.0, strict: bool = False) -> Any:
    from decimal import Decimal, InvalidOperation  # noqa: PLC0415

    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UsageError(f"{flag} {text!r} is not a number") from None
    if not value.is_finite() or value < minimum or (strict and value == minimum):
        raise UsageError(f"{flag} must be {'>' if strict else '>='} {minimum:g}, got {text}")
    return value


def run_backtest_command(args: argparse.Namespace) -> int:
    from oxbot.engine.backtest import BacktestConfig, run_backtest  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415
    from oxbot.engine.strategies import build_strategy  # noqa: PLC0415

    strategy = build_strategy(args.strategy, parse_params(args.param))
    cash = _decimal(args.cash, "--cash", strict=True)
    fee = _decimal(args.fee, "--fee")
    if fee >= 1:
        raise UsageError(f"--fee is a rate, e.g. 0.001 for 0.1 %; got {args.fee}")
    slippage = _decimal(args.slippage_bps, "--slippage-bps")
    progress = Progress(enabled=sys.stderr.isatty() and not args.json)
    frame, source, symbol = _load(args, progress)
    config = BacktestConfig(strategy, cash=cash, fee_rate=fee, slippage_bps=slippage,
                            use_risk=not args.no_risk, symbol=symbol)
    try:
        result = run_backtest(frame, config, progress=progress.update)
    finally:
        progress.done()
    if args.trades_out or args.equity_out:
        from oxbot.engine.backtest.export import write_equity, write_trades  # noqa: PLC0415

        if args.trades_out:
            write_trades(args.trades_out, result.trades)
        if args.equity_out:
            write_equity(args.equity_out, result.ts, result.equity)
    metrics = {"source": source, "symbol": symbol, **result.metrics}
    if args.json:
        print(json.dumps(metrics, default=str))
    else:
        print(render_report(metrics, result))
    return 0


def _load(args: argparse.Namespace, progress: Any) -> tuple[Any, str, str]:
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    if args.data:
        from oxbot.engine.market.csvdata import load_csv  # noqa: PLC0415

        extra = [f for f in ("symbol", "timeframe", "since", "until") if getattr(args, f)]
        if extra:
            raise UsageError(f"--{extra[0]} only applies to --exchange; the CSV file holds "
                             "one symbol's candles")
        progress.update("loading", 0.0)
        return load_csv(args.data), args.data, symbol_from_name(args.data)
    missing = [f for f in ("symbol", "timeframe", "since") if not getattr(args, f)]
    if missing:
        raise UsageError(f"--exchange needs --{' --'.join(missing)}, e.g. --exchange binance "
                         "--symbol BTC/USDT --timeframe 1h --since 2024-01-01")
    from oxbot.engine.backtest.history import download  # noqa: PLC0415

    progress.update("downloading", 0.0)
    frame = download(args.exchange, args.symbol.upper(), args.timeframe, args.since, args.until)
    return frame, f"{args.exchange}:{args.symbol.upper()}:{args.timeframe}", args.symbol.upper()


def symbol_from_name(path: str) -> str:
    """A label for the risk manager and the report: ``binance_BTC-USDT_1h.csv`` → BTC/USDT."""
    import re  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    m = re.search(r"([A-Z0-9]{2,15})-([A-Z0-9]{2,10})(?=[_.]|$)", Path(path).name.upper())
    return f"{m.group(1)}/{m.group(2)}" if m else "ASSET/QUOTE"


class Progress:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""

    WIDTH = 30

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._shown = False

    def update(self, stage: str, fraction: float) -> None:
        if not self.enabled:
            return
        filled = int(max(0.0, min(1.0, fraction)) * self.WIDTH)
        bar = "█" * filled + "░" * (self.WIDTH - filled)
        sys.stderr.write(f"\r  {stage:<12} {bar} {fraction * 100:5.1f} %")
        sys.stderr.flush()
        self._shown = True

    def done(self) -> None:
        if self._shown:
            sys.stderr.write("\r" + " " * (self.WIDTH + 30) + "\r")
            sys.stderr.flush()


def _fmt(value: Any, spec: str = ",.2f", suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def _utc(ms: int | None) -> str:
    from datetime import UTC, datetime  # noqa: PLC0415

    return "?" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def equity_chart(ts: Any, equity: Any, width: int = 100, height: int = 16,
                 color: bool = False) -> str:
    """The equity curve drawn with plotext, downsampled to a few points per column."""
    import numpy as np  # noqa: PLC0415
    import plotext as plt  # noqa: PLC0415

    n = len(equity)
    idx = np.unique(np.linspace(0, n - 1, num=min(n, width * 4)).astype(np.int64))
    years = 1970 + ts[idx] / (365.25 * 86_400_000)
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("pro" if color else "clear")
    plt.plot(years.tolist(), equity[idx].tolist(), marker="braille")
    plt.title("equity (marked at each close)")
    plt.xlabel("year")
    text: str = plt.build()
    return text if color else plt.uncolorize(text)


def render_report(m: dict[str, Any], result: Any) -> str:
    """The human report: header, equity chart, then the metrics in two columns."""
    import shutil  # noqa: PLC0415

    params = ", ".join(f"{k}={v}" for k, v in m["params"].items())
    mode = "risk-managed" if m["risk"] else "no risk (all-in, no SL/TP)"
    width = max(40, min(120, shutil.get_terminal_size((100, 24)).columns))
    lines = [
        f"oxbot backtest: {m['strategy']}({params}) on {m['symbol']}, {mode}",
        f"data: {m['source']}  {m['bars']:,} bars  {_utc(m['first_ts'])} -> "
        f"{_utc(m['last_ts'])} UTC",
        f"fee {m['fee_rate'] * 100:g} %  slippage {m['slippage_bps']:g} bps  "
        f"start cash {m['start_cash']:,.2f}",
        "",
        equity_chart(result.ts, result.equity, width=width, color=sys.stdout.isatty()),
        "",
    ]
    rows = [
        ("final equity", _fmt(m["final_equity"])),
        ("return", _fmt(m["return_pct"], "+,.2f", " %")),
        ("buy & hold", _fmt(m["buy_hold_return_pct"], "+,.2f", " %")),
        ("CAGR", _fmt(m["cagr_pct"], "+,.2f", " %")),
        ("max drawdown", _fmt(m["max_drawdown_pct"], ".2f", " %")),
        ("Sharpe", _fmt(m["sharpe"], ".2f")),
        ("Sortino", _fmt(m["sortino"], ".2f")),
        ("trades", f"{m['trades']:,}"),
        ("win rate", _fmt(m["win_rate"], ".1f", " %")),
        ("profit factor", _fmt(m["profit_factor"], ".2f")),
        ("average trade",
         f"{_fmt(m['avg_trade'], '+,.2f')} ({_fmt(m['avg_trade_pct'], '+.2f')} %)"),
        ("exposure", _fmt(m["exposure_pct"], ".1f", " %")),
        ("fees paid", _fmt(m["fees_paid"])),
        ("time", f"{m['elapsed_s']:.3f} s"),
    ]
    if m["risk"]:
        rows.append(("rejected decisions", str(m["rejected_decisions"])))
    half = (len(rows) + 1) // 2
    right_col = rows[half:] + [("", "")] * (2 * half - len(rows))
    for left, right in zip(rows[:half], right_col, strict=True):
        lines.append(f"  {left[0]:<15}{left[1]:>22}     {right[0]:<15}{right[1]:>22}")
    return "\n".join(lines)
