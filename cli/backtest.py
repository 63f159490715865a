"""`oxbot backtest`: one strategy over history, with metrics, an equity chart and exports.

The backtest itself is oxbot.app.backtests (the cockpit's backtest screen runs the same); this
module reads the flags, words the errors and prints. Heavy imports (pandas, pandas-ta, ccxt,
plotext) happen inside the handler only.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from typing import Any

from oxbot.cli.backtest_bot import add_bot_arguments, run_if_bot

EXAMPLE = (
    "example: oxbot backtest --strategy sma_cross --param fast=10 --param slow=30 "
    "--data BTC-USDT_1h.csv --no-risk"
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "backtest",
        help="run a strategy over history (CSV file or exchange download)",
        description="Backtest one strategy over history: the same strategies, risk manager and "
        "paper broker as live trading. Decisions at a candle's close fill at the "
        "next candle's open.",
        epilog=EXAMPLE,
    )
    p.add_argument(
        "--strategy",
        metavar="NAME",
        help="strategy name, e.g. sma_cross or rsi_reversion",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="strategy parameter (repeatable), e.g. --param fast=10",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--data",
        metavar="FILE.csv",
        help="CSV with header timestamp,open,high,low,close,volume (ms, UTC)",
    )
    src.add_argument("--exchange", metavar="ID", help="download history from this ccxt exchange")
    p.add_argument(
        "--symbol",
        metavar="SYM",
        help="symbol to download with --exchange, or the label of a --data run "
        "(default: read from the file name), e.g. BTC/USDT",
    )
    p.add_argument("--timeframe", metavar="TF", help="timeframe for --exchange, e.g. 1h")
    p.add_argument(
        "--since",
        metavar="DATE",
        help="start date (UTC), YYYY-MM-DD: download from it, or trim a --data file",
    )
    p.add_argument("--until", metavar="DATE", help="end date (UTC, exclusive)")
    p.add_argument(
        "--cash", metavar="AMOUNT", help="starting cash (10000; with --bot: the bot's capital)"
    )
    p.add_argument(
        "--fee",
        metavar="RATE",
        help="fee rate per fill, below 0.1 (0.001 = 0.1 %%; with --bot: the bot's)",
    )
    p.add_argument(
        "--slippage-bps",
        metavar="BPS",
        help="slippage against you per fill, in basis points (0; with --bot: the bot's)",
    )
    p.add_argument(
        "--no-risk",
        action="store_true",
        help="all-in sizing with no SL/TP (to compare with other tools)",
    )
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument(
        "--trades-out",
        metavar="FILE.csv",
        help="write the trades to a CSV file ('-': stdout, the report to stderr)",
    )
    p.add_argument(
        "--equity-out",
        metavar="FILE.csv",
        help="write the equity curve to a CSV file ('-': stdout)",
    )
    p.add_argument(
        "--chart",
        metavar="FILE.svg",
        help="also write the price chart (candles, moving averages, a marker at each fill) "
        "to a self-contained .svg or .html file",
    )
    add_bot_arguments(p)
    from oxbot.cli import sweep  # noqa: PLC0415

    sweep.add_options(p)
    p.set_defaults(handler=run_backtest_command)


def _decimal(
    text: str,
    flag: str,
    *,
    minimum: float = 0.0,
    strict: bool = False,
    maximum: Decimal | None = None,
) -> Any:
    from decimal import InvalidOperation  # noqa: PLC0415

    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UsageError(f"{flag} {text!r} is not a number") from None
    if not value.is_finite() or value < minimum or (strict and value == minimum):
        raise UsageError(f"{flag} must be {'>' if strict else '>='} {minimum:g}, got {text}")
    if maximum is not None and value > maximum:
        raise UsageError(f"{flag} {text} is too large: at most {maximum:,.0f}")
    return value


def _outputs(args: argparse.Namespace) -> None:
    """Check --trades-out / --equity-out before any download or simulation."""
    from pathlib import Path  # noqa: PLC0415

    from oxbot.engine.backtest.export import check_writable  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    outs = [
        (f, v)
        for f, v in (("--trades-out", args.trades_out), ("--equity-out", args.equity_out))
        if v
    ]
    for flag, value in outs:
        path = check_writable(value)
        if (
            path is not None
            and args.data
            and path.exists()
            and path.resolve() == Path(args.data).expanduser().resolve()
        ):
            raise UsageError(
                f"{flag} {value} is the --data file itself; writing it would "
                "destroy the candles; give another file name"
            )
    if len(outs) == 2 and (
        outs[0][1] == outs[1][1]
        or Path(outs[0][1]).expanduser().resolve() == Path(outs[1][1]).expanduser().resolve()
    ):
        raise UsageError("--trades-out and --equity-out name the same file; give two names")


def run_backtest_command(args: argparse.Namespace) -> int:
    from oxbot.engine.strategies.loader import user_stdout_to_stderr  # noqa: PLC0415

    # stdout is a machine's (one JSON document, or a CSV): a strategy's print() goes to stderr
    machine = bool(getattr(args, "json", False)) or "-" in (
        getattr(args, "trades_out", None),
        getattr(args, "equity_out", None),
    )
    user_stdout_to_stderr(machine)
    try:
        return _run_backtest_command(args)
    finally:
        user_stdout_to_stderr(False)


def _run_backtest_command(args: argparse.Namespace) -> int:
    from oxbot.app import backtests  # noqa: PLC0415
    from oxbot.cli import sweep  # noqa: PLC0415
    from oxbot.cli.params import strategy_params  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    code = run_if_bot(args)
    if code is not None:
        return code
    if sweep.wanted(args):
        refuse_chart_in_sweep(args)
        return sweep.run_sweep_command(args)
    backtests.check_backtestable(args.strategy)
    strategy = backtests.strategy(args.strategy, strategy_params(args.strategy, args.param))
    cash = _decimal(args.cash or "10000", "--cash", strict=True, maximum=backtests.MAX_CASH)
    fee = _decimal(args.fee or "0.001", "--fee")
    if fee >= Decimal("0.1"):
        raise UsageError(
            f"--fee is a rate per fill and must be below 0.1, got {args.fee}; "
            "e.g. 0.001 for 0.1 % or 0.005 for 0.5 %"
        )
    slippage = _decimal(args.slippage_bps or "0", "--slippage-bps")
    _outputs(args)
    chart = check_chart(args)
    to_stdout = "-" in (args.trades_out, args.equity_out)
    progress = Progress(enabled=sys.stderr.isatty() and not args.json)
    frame, source, symbol = _load(args, progress, strategy)
    spec = backtests.Backtest(
        strategy,
        source=source,
        symbol=symbol,
        cash=cash,
        fee_rate=fee,
        slippage_bps=slippage,
        use_risk=not args.no_risk,
    )
    try:
        outcome = backtests.run(frame, spec, progress.update)
    finally:
        progress.done()
    result, metrics = outcome.result, outcome.metrics
    if args.trades_out or args.equity_out:
        from oxbot.engine.backtest.export import write_equity, write_trades  # noqa: PLC0415

        if args.trades_out:
            write_trades(args.trades_out, result.trades, symbol)
        if args.equity_out:
            write_equity(args.equity_out, result.ts, result.equity, symbol)
    from oxbot.cli.backtest_report import render_report  # noqa: PLC0415

    out = sys.stderr if to_stdout else sys.stdout  # stdout carries the CSV then
    prices = None
    if chart is not None or not args.json:
        from oxbot.app import backtest_prices  # noqa: PLC0415

        prices = [backtest_prices.single(frame, spec.strategy, outcome)]
    if chart is not None and prices:
        write_chart(chart, prices, metrics)
    if args.json:
        print(json.dumps(metrics), file=out)
    else:
        print(render_report(metrics, result, color=out.isatty(), prices=prices), file=out)
    return 0


def check_chart(args: argparse.Namespace) -> Any:
    """The --chart file (checked before any work), or None."""
    if not getattr(args, "chart", None):
        return None
    from oxbot.cli.backtest_svg import check_chart_path  # noqa: PLC0415

    return check_chart_path(args.chart)


def refuse_chart_in_sweep(args: argparse.Namespace) -> None:
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    if getattr(args, "chart", None):
        raise UsageError(
            "--chart draws one backtest; a sweep runs many: drop --chart, then run the "
            "best parameters again with --chart"
        )


def write_chart(path: Any, prices: list[Any], m: dict[str, Any]) -> None:
    """The price chart file, headed by what ran (`oxbot backtest --chart`)."""
    from oxbot.cli.backtest_svg import write_chart as write  # noqa: PLC0415

    params = " ".join(f"{k}={v}" for k, v in m["params"].items())
    who = f"bot {m['bot']}: " if m.get("bot") else ""
    heading = f"oxbot backtest {who}{m['strategy']} {params} on {m['symbol']}".rstrip()
    write(path, prices, heading + f", return {m['return_pct']:+.2f} %")


SYMBOL_RE = r"^[A-Z0-9]{1,15}/[A-Z0-9]{1,10}(:[A-Z0-9]{1,10})?$"


def check_symbol(text: str, flag: str = "--symbol") -> str:
    """``btc/usdt`` → ``BTC/USDT``; UsageError unless it looks like BASE/QUOTE."""
    import re  # noqa: PLC0415

    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    sym = text.strip().upper()
    if not re.match(SYMBOL_RE, sym):
        raise UsageError(f"{flag} {text!r} must look like BASE/QUOTE, e.g. BTC/USDT")
    return sym


def _trim(frame: Any, args: argparse.Namespace) -> Any:
    from oxbot.app.backtests import EmptyRange, between, utc  # noqa: PLC0415
    from oxbot.engine.errors import DataError  # noqa: PLC0415

    if args.since or args.until:  # history.py loads asyncio (for downloads)
        from oxbot.engine.backtest.history import parse_date  # noqa: PLC0415
    lo = parse_date(args.since, "--since") if args.since else None
    hi = parse_date(args.until, "--until") if args.until else None
    try:
        return between(frame, lo, hi)
    except EmptyRange as e:
        raise DataError(
            f"{args.data} has no candles between --since {args.since or '(start)'} "
            f"and --until {args.until or '(end)'}; it covers "
            f"{utc(e.first_ms)} to {utc(e.last_ms)}"
        ) from None


def _load(args: argparse.Namespace, progress: Any, strategy: Any = None) -> tuple[Any, str, str]:
    """The candles (numpy ``Columns`` from a CSV file for a `columnar` strategy: no pandas
    import, else a DataFrame), the source's label and the symbol."""
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    if args.data:
        from oxbot.app.backtests import load_candles, symbol_from_name  # noqa: PLC0415
        from oxbot.engine.backtest.runner import columnar  # noqa: PLC0415

        if strategy is not None and columnar(strategy):
            from oxbot.engine.market.csvdata import load_columns as load_candles  # noqa: PLC0415

        if args.timeframe:
            raise UsageError(
                "--timeframe only applies to --exchange; a CSV file's candles "
                "keep their own timeframe"
            )
        symbol = check_symbol(args.symbol) if args.symbol else symbol_from_name(args.data)
        progress.update("loading", 0.0)
        return _trim(load_candles(args.data), args), args.data, symbol
    missing = [f for f in ("symbol", "timeframe", "since") if not getattr(args, f)]
    if missing:
        raise UsageError(
            f"--exchange needs --{' --'.join(missing)}, e.g. --exchange binance "
            "--symbol BTC/USDT --timeframe 1h --since 2024-01-01"
        )
    from oxbot.engine.backtest.history import download  # noqa: PLC0415

    symbol = check_symbol(args.symbol)
    progress.update("downloading", 0.0)
    frame = download(args.exchange.strip().lower(), symbol, args.timeframe, args.since, args.until)
    return frame, f"{args.exchange}:{symbol}:{args.timeframe}", symbol


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
