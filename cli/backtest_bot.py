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
from typing import Any


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
    p.add_argument(
        "--cache-only",
        action="store_true",
        help="an LLM bot: use only the model replies stored by earlier runs, never call the "
        "model (says which decision points have none)",
    )
    p.add_argument(
        "--max-cost",
        metavar="USD",
        help="an LLM bot on a paid model: refuse to start when the estimate of the calls not "
        "yet stored is above this many dollars, and stop the run once its calls spent it "
        "(every reply is kept: a rerun goes on from there); refused for a model of unknown "
        "price",
    )
    p.add_argument(
        "--yes",
        action="store_true",
        help="an LLM bot on a paid model: call it without asking (the estimate is printed; "
        "off a terminal, without --yes or --max-cost only stored replies are used)",
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
    )
    from oxbot.engine.backtest.history import parse_date  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415
    from oxbot.storage.paths import resolve_db_path  # noqa: PLC0415

    _refuse_single_flags(args)
    db = resolve_db_path(getattr(args, "db", None))
    config = asyncio.run(backtests.stored_bot(args.bot, db))
    if config.strategy != "llm" and config.strategy in backtests.NOT_BACKTESTABLE:
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
    spec = backtests.BotBacktest(config, csv, cash, since, until, db=db)
    from oxbot.cli import sweep  # noqa: PLC0415

    if sweep.wanted(args):
        refuse_chart_in_sweep(args)
        return sweep.run_bot_sweep_command(args, spec)
    chart = check_chart(args)
    from oxbot.engine.backtest.botrun import check_schedule  # noqa: PLC0415

    check_schedule(config)  # a cron bot: refused before it is asked for candles
    strat = None  # an LLM bot's chart has no moving averages of its own
    if config.strategy != "llm":
        _refuse_llm_flags(args, f"bot {config.name} runs {config.strategy}")
        strat = backtests.strategy(config.strategy, config.params)  # a bad param: said first
    frames = backtests.bot_frames(spec)
    progress = Progress(enabled=sys.stderr.isatty() and not args.json)
    return _run_spec(args, spec, frames, progress, chart, strat)


def _run_spec(
    args: argparse.Namespace, spec: Any, frames: Any, progress: Any, chart: Any, strat: Any
) -> int:
    from oxbot.app import backtests  # noqa: PLC0415
    from oxbot.cli.backtest import write_chart  # noqa: PLC0415

    llm = None
    if spec.config.strategy == "llm":
        llm = _llm_options(args, spec, frames, progress)
    try:
        outcome = backtests.run_bot(
            spec, frames, progress=lambda f: progress.update(_stage(llm), f), llm=llm
        )
    except KeyboardInterrupt:
        progress.done()
        if llm is not None and llm.tally is not None and llm.tally.calls:
            t = llm.tally
            print(
                f"oxbot: {t.calls:,} model calls made (${t.spent:.4f}), every finished reply "
                "is stored: run again to go on from there",
                file=sys.stderr,
            )
        raise
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
        return _all_failed(outcome.metrics)
    from oxbot.cli.backtest_report import render_bot_report  # noqa: PLC0415

    print(
        render_bot_report(outcome.metrics, outcome.result, color=sys.stdout.isatty(), prices=prices)
    )
    if "llm" in outcome.metrics:
        print(_llm_lines(outcome.metrics["llm"]))
    return _all_failed(outcome.metrics)


def _all_failed(metrics: dict[str, Any]) -> int:
    """Exit 1 with the reason when every decision point of an LLM run failed: its "0 trades"
    is no result of the model's (no key, server down, every reply unusable)."""
    from oxbot.app import llm_backtest  # noqa: PLC0415

    why = llm_backtest.all_failed(metrics["llm"]) if "llm" in metrics else None
    if why is None:
        return 0
    print(f"oxbot: {why}", file=sys.stderr)
    return 1


def _stage(llm: Any) -> str:
    """The progress bar's label: with an LLM bot, the dollars spent so far."""
    if llm is None or llm.tally is None:
        return "simulate"
    t = llm.tally
    return f"${t.spent:.4f} {t.calls}+{t.hits}"


def _llm_options(args: argparse.Namespace, spec: Any, frames: Any, progress: Any) -> Any:
    """The estimate printed (stderr), then the caller's leave to call a paid model: under
    --max-cost, with --yes, or a yes at the prompt on a terminal (no answer: UsageError).
    Off a terminal without either flag the run reads the stored replies only, and names the
    decision points with none (a rerun needs no flag)."""
    from oxbot.app import llm_backtest  # noqa: PLC0415
    from oxbot.cli.backtest import _decimal  # noqa: PLC0415
    from oxbot.engine.backtest.replies import Tally  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    opts = llm_backtest.LlmOptions(cache_only=args.cache_only, tally=Tally())
    est = llm_backtest.estimate(spec.config, frames, spec.since_ms, spec.until_ms, cash=spec.cash)
    only = " (--cache-only: no model is called)" if args.cache_only else ""
    print(est.line() + only, file=sys.stderr)
    if args.cache_only or est.free or est.points == 0:
        return opts
    cap = _decimal(args.max_cost, "--max-cost") if args.max_cost is not None else None
    if cap is not None and not est.priced:
        raise UsageError(
            f"--max-cost cannot cap model {est.model}: its price is unknown, so every call "
            f'would count as $0; give it with prices={{"{est.model}": [IN, OUT]}} (USD per 1M '
            "input and output tokens) in the bot's params, or run without --max-cost (--yes)"
        )
    if cap is not None and est.usd > cap:
        raise UsageError(
            f"the estimate ${est.usd:.4f} is above --max-cost {args.max_cost}: raise it, "
            "shorten the range (--since/--until), or use --cache-only"
        )
    opts.max_cost = cap
    if est.to_call == 0:  # every reply of the run is stored: a rerun calls nothing
        return opts
    if not (cap is not None or args.yes or sys.stdin.isatty()):
        opts.cache_only = True  # no one to ask: the stored replies only (a rerun is free)
        return opts
    llm_backtest.check_key(spec.config)  # the model will be called: refused now without a key
    if cap is not None or args.yes:
        return opts
    answer = input("Call the model at this cost? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise UsageError("not started: no model was called")
    return opts


def _llm_lines(m: dict[str, Any]) -> str:
    saved = f", {m['calls_saved']:,} skipped by triggers" if m["calls_saved"] else ""
    return (
        f"LLM {m['provider']} {m['model']}: {m['decision_points']:,} decision points{saved}; "
        f"{m.get('calls', 0):,} model calls now, {m.get('cached', 0):,} replies from the cache;\n"
        f"  spent now {_usd(m, 'spent')} "
        f"({m.get('spent_tokens_in', 0):,} tokens in, {m.get('spent_tokens_out', 0):,} out"
        + (
            f"; the usage of {m['usage_estimated']:,} calls estimated, not reported"
            if m.get("usage_estimated")
            else ""
        )
        + "); "
        f"the replies cost {_usd(m, 'recorded_cost')} when recorded; "
        f"{m['failures']:,} decisions failed (held){_kinds(m)}"
        + (f"\n  replies from {m['server']}" if m.get("server") else "")
        + (
            f"\n  {m['not_stored']:,} replies did not finish (cut off): not stored, asked again "
            "next run"
            if m.get("not_stored")
            else ""
        )
        + (f"\n{m['cutoff']['text']}" if m.get("cutoff") else "")
    )


def _usd(m: dict[str, Any], key: str) -> str:
    if not m.get("priced", True):
        return "(price unknown: not counted)"
    return f"${Decimal(m.get(key, '0')):.4f}"


def _kinds(m: dict[str, Any]) -> str:
    kinds = m.get("failure_kinds") or {}
    return f" ({', '.join(f'{k} {n:,}' for k, n in sorted(kinds.items()))})" if kinds else ""


def run_if_bot(args: argparse.Namespace) -> int | None:
    """The exit code of a --bot run or of the LLM strategy's, or None when this is a
    single-strategy run (checked)."""
    if getattr(args, "bot", None):
        return run_bot_command(args)
    check_single(args)
    if args.strategy == "llm" and not _sweep_wanted(args):
        return run_llm_strategy(args)
    _refuse_llm_flags(args, f"this run is {args.strategy}")
    return None


def _sweep_wanted(args: argparse.Namespace) -> bool:
    from oxbot.cli import sweep  # noqa: PLC0415

    return bool(sweep.wanted(args))


def _refuse_llm_flags(args: argparse.Namespace, why: str) -> None:
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    given = [
        f
        for f, v in (
            ("--cache-only", args.cache_only),
            ("--max-cost", args.max_cost),
            ("--yes", args.yes),
        )
        if v
    ]
    if given:
        raise UsageError(f"{', '.join(given)}: only for an LLM bot or --strategy llm ({why})")


def run_llm_strategy(args: argparse.Namespace) -> int:
    """`--strategy llm --param ...` over one market: the LLM strategy as a one-symbol bot
    named ``backtest`` with the default risk limits, --cash as its capital, --fee and
    --slippage-bps (the bot path: the live prompt, risk manager and paper broker, the reply
    cache; decisions at every candle close)."""
    from oxbot.app import backtests  # noqa: PLC0415
    from oxbot.cli.backtest import Progress, _decimal, _load, check_chart  # noqa: PLC0415
    from oxbot.cli.params import strategy_params  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415
    from oxbot.engine.models import BotConfig  # noqa: PLC0415

    for flag, value in (
        ("--no-risk", args.no_risk),
        ("--trades-out", args.trades_out),
        ("--equity-out", args.equity_out),
    ):
        if value:
            raise UsageError(f"{flag} is not available for the llm strategy; drop it")
    params = strategy_params("llm", args.param)
    cash = _decimal(args.cash or "10000", "--cash", strict=True, maximum=backtests.MAX_CASH)
    fee = _decimal(args.fee or "0.001", "--fee")
    if fee >= Decimal("0.1"):
        raise UsageError(f"--fee is a rate per fill and must be below 0.1, got {args.fee}")
    slippage = _decimal(args.slippage_bps or "0", "--slippage-bps", maximum=Decimal(500))
    chart = check_chart(args)  # a bad --chart path: said before the file is read
    progress = Progress(enabled=sys.stderr.isatty() and not args.json)
    frame, _source, symbol = _load(args, progress)
    tf = backtests.timeframe(bar_step(frame))
    try:
        config = BotConfig(
            name="backtest",
            symbols=(symbol,),
            timeframe=tf,
            strategy="llm",
            params=params,
            capital=cash,
            fee_rate=fee,
            slippage_bps=slippage,
        )
    except ValueError as e:
        raise UsageError(f"{tf} candles cannot be run as a bot: {e}") from None
    spec = backtests.BotBacktest(config, {}, None)
    return _run_spec(args, spec, {symbol: frame}, progress, chart, None)


def bar_step(frame: Any) -> int:
    """The candle spacing of a one-symbol file: its most common step (gaps are longer). A
    candle closer to the one before than that is refused, naming it: taking the smallest step
    would let one row late in the file change the timeframe, and so every earlier prompt (a
    look-ahead)."""
    import numpy as np  # noqa: PLC0415

    from oxbot.app.backtests import timeframe, utc  # noqa: PLC0415
    from oxbot.engine.errors import DataError  # noqa: PLC0415

    ts = frame["ts"].to_numpy(np.int64)
    steps = np.diff(ts)
    if not len(steps):
        return 0
    values, counts = np.unique(steps, return_counts=True)
    step = int(values[np.argmax(counts)])
    short = np.flatnonzero(steps < step)
    if len(short):
        i = int(short[0]) + 1
        raise DataError(
            f"the candle at {utc(int(ts[i]))} UTC opens {int(steps[i - 1]) // 60_000} min after "
            f"the one before, in a file of {timeframe(step)} candles ({len(short):,} such "
            "rows): one timeframe per file; remove the stray rows"
        )
    return step


__all__ = ["add_bot_arguments", "run_if_bot"]
