"""`oxbot backtest --bot NAME`: a stored bot's configuration over history, all its symbols at
once with one shared cash balance, its risk limits, fees and slippage, in the live engine's
order of events (oxbot.app.backtests ``run_bot``, engine/backtest/botrun.py).

Light at import: `oxbot backtest` registers these flags on every start.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from pathlib import Path


def add_bot_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--bot",
        metavar="NAME",
        help="backtest this stored bot as configured: its strategy and params, all its "
        "symbols with one cash balance (its capital, or --cash), its risk limits, fee and "
        "slippage; candles from --csv or the candle cache (oxbot data download)",
    )
    p.add_argument(
        "--csv",
        action="append",
        default=[],
        metavar="SYMBOL=FILE.csv",
        help="with --bot: the candles of one symbol (repeatable), e.g. BTC/USDT=btc_1h.csv",
    )


def check_single(args: argparse.Namespace) -> None:
    """Without --bot: the single-strategy run needs --strategy and a source of candles."""
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    if args.csv:
        raise UsageError("--csv goes with --bot; a single-strategy run reads --data FILE.csv")
    if not args.strategy:
        raise UsageError(
            "give --strategy NAME (with --data FILE.csv or --exchange ID), or --bot NAME "
            "to backtest a stored bot as configured"
        )
    if not (args.data or args.exchange):
        raise UsageError("give the candles: --data FILE.csv or --exchange ID (with --bot: --csv)")


def _csv_map(items: list[str]) -> dict[str, str]:
    from oxbot.cli.backtest import check_symbol  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    out = {}
    for item in items:
        sym, sep, path = item.partition("=")
        if not sep or not path.strip():
            raise UsageError(
                f"--csv {item!r} must look like SYMBOL=FILE.csv, e.g. BTC/USDT=btc.csv"
            )
        out[check_symbol(sym, "--csv")] = str(Path(path.strip()).expanduser())
    return out


def _refuse_single_flags(args: argparse.Namespace) -> None:
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    given = [
        flag
        for flag, value in (
            ("--strategy", args.strategy),
            ("--param", args.param),
            ("--data", args.data),
            ("--exchange", args.exchange),
            ("--symbol", args.symbol),
            ("--timeframe", args.timeframe),
            ("--no-risk", args.no_risk),
            ("--trades-out", args.trades_out),
            ("--equity-out", args.equity_out),
        )
        if value
    ]
    if given:
        raise UsageError(
            f"--bot runs the bot as configured (its strategy, params, symbols, timeframe, "
            f"limits, fee and slippage); drop {', '.join(given)}, or edit the bot"
        )


def run_bot_command(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415

    from oxbot.app import backtests  # noqa: PLC0415
    from oxbot.cli.backtest import (  # noqa: PLC0415
        Progress,
        _decimal,
        check_chart,
        refuse_chart_in_sweep,
        write_chart,
    )
    from oxbot.engine.backtest.history import parse_date  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415
    from oxbot.storage.paths import resolve_db_path  # noqa: PLC0415

    _refuse_single_flags(args)
    db = resolve_db_path(getattr(args, "db", None))
    config = asyncio.run(backtests.stored_bot(args.bot, db))
    if config.strategy in backtests.NOT_BACKTESTABLE:
        raise UsageError(
            f"bot {config.name} runs the {config.strategy} strategy: "
            f"{backtests.NOT_BACKTESTABLE[config.strategy]}"
        )
    csv = _csv_map(args.csv)
    extra = sorted(set(csv) - set(config.symbols))
    if extra:
        raise UsageError(
            f"--csv {', '.join(extra)}: not a symbol of bot {config.name} "
            f"({', '.join(config.symbols)})"
        )
    cash = (
        _decimal(args.cash, "--cash", strict=True, maximum=backtests.MAX_CASH)
        if args.cash is not None
        else None
    )
    since = parse_date(args.since, "--since") if args.since else None
    until = parse_date(args.until, "--until") if args.until else None
    if since is not None and until is not None and until <= since:
        raise UsageError("--until must be after --since")
    costs = {}
    if args.fee is not None:
        costs["fee_rate"] = _decimal(args.fee, "--fee")
        if costs["fee_rate"] >= Decimal("0.1"):
            raise UsageError(f"--fee is a rate per fill and must be below 0.1, got {args.fee}")
    if args.slippage_bps is not None:
        costs["slippage_bps"] = _decimal(args.slippage_bps, "--slippage-bps", maximum=Decimal(500))
    if costs:  # what-if costs: the bot's other settings stay as stored
        config = config.model_copy(update=costs)
    spec = backtests.BotBacktest(config, csv, cash, since, until)
    from oxbot.cli import sweep  # noqa: PLC0415

    if sweep.wanted(args):
        refuse_chart_in_sweep(args)
        return sweep.run_bot_sweep_command(args, spec)
    chart = check_chart(args)
    from oxbot.engine.backtest.botrun import check_schedule  # noqa: PLC0415

    check_schedule(config)  # a cron bot: refused before it is asked for candles
    strat = backtests.strategy(config.strategy, config.params)  # a bad param: said first
    frames = backtests.bot_frames(spec)
    progress = Progress(enabled=sys.stderr.isatty() and not args.json)
    try:
        outcome = backtests.run_bot(spec, frames, progress=lambda f: progress.update("simulate", f))
    finally:
        progress.done()
    prices = None
    if chart is not None or not args.json:
        from oxbot.app import backtest_prices  # noqa: PLC0415

        prices = backtest_prices.of_bot(frames, outcome, strat)
    if chart is not None and prices:
        write_chart(chart, prices, outcome.metrics)
    if args.json:
        print(json.dumps(outcome.metrics))
        return 0
    from oxbot.cli.backtest_report import render_bot_report  # noqa: PLC0415

    print(
        render_bot_report(outcome.metrics, outcome.result, color=sys.stdout.isatty(), prices=prices)
    )
    return 0


def run_if_bot(args: argparse.Namespace) -> int | None:
    """The exit code of a --bot run, or None when this is a single-strategy run (checked)."""
    if getattr(args, "bot", None):
        return run_bot_command(args)
    check_single(args)
    return None


__all__ = ["add_bot_arguments", "run_if_bot"]
