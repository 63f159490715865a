"""`oxbot backtest ... --sweep NAME=SPEC` / `--search N`: parameter sweeps with a held-out period.

The options are added to `oxbot backtest` (cli/backtest.py calls `add_options`); the sweep runs
in oxbot.app.sweeps, on every core. This module checks the flags before anything runs, draws
the progress on stderr and prints the table (or the JSON) and the export. Import-cheap.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, TextIO

MAX_SEED = 2**32 - 1  # optuna's TPE sampler seeds numpy's RandomState: 0 to 2**32 - 1
SWEEP_ONLY = ("holdout", "walk_forward", "objective", "jobs", "top", "out", "seed")


def add_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sweeps (many parameter sets, judged on a held-out period)")
    g.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="sweep a parameter (repeatable): from:to:step inclusive, or a list a,b,c; "
        "with --search a range from:to narrows the search. e.g. --sweep fast=5:30:5",
    )
    g.add_argument(
        "--search",
        type=int,
        metavar="N",
        help="N trials of an optuna TPE search over the parameters' schema ranges "
        "(narrowed by --sweep; --param fixes one)",
    )
    g.add_argument("--seed", type=int, metavar="N", help="seed of --search: same seed, same trials")
    g.add_argument(
        "--objective",
        metavar="NAME",
        help="rank by return, sharpe (default), sortino, calmar or profit_factor; "
        "n/a (too few trades) ranks last",
    )
    held = g.add_mutually_exclusive_group()
    held.add_argument(
        "--holdout",
        metavar="PCT",
        help="keep the last PCT of the range out of the search and score every row on it "
        "(default 30%%)",
    )
    held.add_argument(
        "--walk-forward",
        type=int,
        metavar="K",
        help="K folds: optimise on each part of the range, score on the part after it",
    )
    g.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="processes to run on, this one included (default: every core)",
    )
    g.add_argument("--top", type=int, metavar="N", help="rows to print (default 10)")
    g.add_argument(
        "--out", metavar="FILE", help="write every row to FILE.csv or FILE.json (the JSON: --json)"
    )


def wanted(args: argparse.Namespace) -> bool:
    """Whether this `oxbot backtest` is a sweep; UsageError for a sweep flag without one."""
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    if args.sweep or args.search is not None:
        return True
    given = [f"--{n.replace('_', '-')}" for n in SWEEP_ONLY if getattr(args, n, None) is not None]
    if given:
        raise UsageError(
            f"{', '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} to a sweep; "
            "add --sweep NAME=FROM:TO:STEP or --search N"
        )
    return False


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_sweep_command(args: argparse.Namespace) -> int:
    from decimal import Decimal  # noqa: PLC0415

    from oxbot.app import backtests  # noqa: PLC0415
    from oxbot.app.sweeps import CandleEvaluator, CandleSource, Plan  # noqa: PLC0415
    from oxbot.cli.backtest import Progress, _decimal, _load  # noqa: PLC0415
    from oxbot.engine.backtest.history import parse_date  # noqa: PLC0415
    from oxbot.engine.backtest.sweep import (  # noqa: PLC0415
        field_ranges,
    )
    from oxbot.engine.errors import UsageError  # noqa: PLC0415
    from oxbot.engine.strategies import strategy_class  # noqa: PLC0415

    backtests.check_backtestable(args.strategy)
    ranges = field_ranges(strategy_class(args.strategy).Params)
    fixed = _fixed(args.param, ranges)
    axes = _axes(args, ranges, fixed)
    objective, holdout, holdout_text, jobs = _settings(args)
    if not args.data:
        raise UsageError(
            "sweeps read a CSV file (--data); download the candles once with "
            "`oxbot data download`, then sweep over the file"
        )
    for flag, value in (("--trades-out", args.trades_out), ("--equity-out", args.equity_out)):
        if value:
            raise UsageError(f"{flag} applies to a single backtest, not a sweep; use --out")
    _check_out(args.out, args.data)
    cash = _decimal(args.cash or "10000", "--cash", strict=True, maximum=backtests.MAX_CASH)
    fee = _decimal(args.fee or "0.001", "--fee")
    if fee >= Decimal("0.1"):
        raise UsageError(f"--fee is a rate per fill and must be below 0.1, got {args.fee}")
    slippage = _decimal(args.slippage_bps or "0", "--slippage-bps")
    # the candles, trimmed by --since/--until with the backtest's own messages
    frame, _source, symbol = _load(args, Progress(enabled=False))
    source = CandleSource(
        path=args.data,
        strategy=args.strategy,
        symbol=symbol,
        cash=cash,
        fee_rate=fee,
        slippage_bps=slippage,
        use_risk=not args.no_risk,
        fixed=fixed,
        since_ms=parse_date(args.since, "--since") if args.since else None,
        until_ms=parse_date(args.until, "--until") if args.until else None,
    )
    plan = Plan(
        strategy=args.strategy,
        objective=objective,
        axes=axes,
        fixed=fixed,
        search=args.search,
        seed=args.seed,
        holdout=holdout,
        holdout_text=holdout_text,
        folds=args.walk_forward,
    )
    return _run_and_print(args, plan, source, jobs, CandleEvaluator(frame, source))


def _run_and_print(
    args: argparse.Namespace, plan: Any, source: Any, jobs: int, local: Any = None
) -> int:
    from oxbot.app.sweeps import run_sweep  # noqa: PLC0415

    bar = Bar(sys.stderr, "search" if plan.search is not None else "sweep")
    try:
        result = run_sweep(plan, source, jobs, bar, local)
    finally:
        bar.close()
    from oxbot.cli.sweep_report import render, write_out  # noqa: PLC0415

    if args.out:
        write_out(result, args.out)
    if args.json:
        import json  # noqa: PLC0415

        print(json.dumps(result.to_json()))
    else:
        print(render(result, top=args.top or 10))
    return 0


def _axes(args: argparse.Namespace, ranges: dict[str, Any], fixed: dict[str, Any]) -> list[Any]:
    """The --sweep axes (each checked against the schema); with --search, every parameter the
    search explores."""
    from oxbot.engine.backtest.sweep import parse_sweep, search_axes  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    searching = args.search is not None
    axes = [parse_sweep(s, ranges, grid=not searching) for s in args.sweep]
    names = [a.name for a in axes]
    for name in names:
        if names.count(name) > 1:
            raise UsageError(f"--sweep {name} is given twice; give each parameter once")
        if name in fixed:
            raise UsageError(
                f"{name} is both swept (--sweep) and fixed (--param); drop one of them"
            )
    if args.seed is not None and not searching:
        raise UsageError(
            f"--seed {args.seed} only applies to --search N (a grid --sweep has no randomness); "
            "drop --seed or add --search N"
        )
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        raise UsageError(f"--seed {args.seed}: give a whole number from 0 to {MAX_SEED}")
    if searching:
        if not 1 <= args.search <= 100_000:
            raise UsageError(f"--search {args.search}: give 1 to 100000 trials, e.g. 100")
        axes = search_axes(ranges, axes, fixed)
    return axes


def _settings(args: argparse.Namespace) -> tuple[str, Any, str | None, int]:
    """The objective, the held-out fraction (None with --walk-forward) and its text, the jobs."""
    from oxbot.engine.backtest.sweep import (  # noqa: PLC0415
        DEFAULT_OBJECTIVE,
        objective_key,
        parse_holdout,
    )
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    objective = args.objective or DEFAULT_OBJECTIVE
    objective_key(objective)
    holdout = holdout_text = None
    if args.walk_forward is None:
        holdout_text = args.holdout or "30%"
        holdout = parse_holdout(holdout_text)
        holdout_text = f"{holdout * 100:f}".rstrip("0").rstrip(".") + "%"
    cores = default_jobs()
    jobs = cores if args.jobs is None else args.jobs
    if jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: give 1 process or more")
    if jobs > cores:  # more processes than cores only share them, each paying its start-up
        print(
            f"oxbot: --jobs {jobs} is more than the {cores} core(s) here; using {cores}",
            file=sys.stderr,
        )
        jobs = cores
    if args.top is not None and args.top < 1:
        raise UsageError(f"--top {args.top}: give 1 row or more")
    return objective, holdout, holdout_text, jobs


def run_bot_sweep_command(args: argparse.Namespace, spec: Any) -> int:
    """`--bot NAME --sweep/--search`: the bot as configured (``spec``: app.backtests.BotBacktest),
    its swept parameters replaced, the others as stored."""
    from oxbot.app import backtests  # noqa: PLC0415
    from oxbot.app.sweeps import BotSource, Plan  # noqa: PLC0415
    from oxbot.engine.backtest.sweep import field_ranges  # noqa: PLC0415
    from oxbot.engine.strategies import strategy_class  # noqa: PLC0415

    config = spec.config
    if config.strategy in backtests.NOT_BACKTESTABLE:
        from oxbot.engine.errors import UsageError  # noqa: PLC0415

        how = "--search" if getattr(args, "search", None) else "--sweep"
        raise UsageError(
            f"bot {config.name} uses the {config.strategy} strategy, which cannot be swept "
            "(every parameter set would call the model at every decision); drop "
            f"{how} to backtest the bot as configured: oxbot backtest --bot {config.name} ..."
        )
    backtests.check_backtestable(config.strategy)
    ranges = field_ranges(strategy_class(config.strategy).Params)
    axes = _axes(args, ranges, {})
    swept = {a.name for a in axes}
    fixed = {k: v for k, v in config.params.items() if k not in swept}
    objective, holdout, holdout_text, jobs = _settings(args)
    _check_out(args.out, *spec.csv.values())
    source = BotSource(config, spec.csv, spec.cash, spec.since_ms, spec.until_ms)
    plan = Plan(
        strategy=config.strategy,
        objective=objective,
        axes=axes,
        fixed=fixed,
        search=args.search,
        seed=args.seed,
        holdout=holdout,
        holdout_text=holdout_text,
        folds=args.walk_forward,
    )
    return _run_and_print(args, plan, source, jobs, source.load())


def _fixed(items: list[str], ranges: dict[str, Any]) -> dict[str, Any]:
    """--param values, each checked against its field alone (the schema's cross-field rules
    are checked per combination)."""
    from oxbot.cli.params import split_params  # noqa: PLC0415
    from oxbot.engine.backtest.sweep import parse_value, schema_text  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    out: dict[str, Any] = {}
    for key, text in split_params(items).items():
        f = ranges.get(key)
        if f is None:
            raise UsageError(
                f"--param {key}: the strategy has no parameter {key!r}; its parameters: "
                f"{schema_text(ranges)}"
            )
        out[key] = parse_value(text, f, f"--param {key}={text}")
    return out


def _check_out(out: str | None, *inputs: str) -> None:
    from pathlib import Path  # noqa: PLC0415

    from oxbot.engine.backtest.export import check_writable  # noqa: PLC0415
    from oxbot.engine.errors import UsageError  # noqa: PLC0415

    if not out:
        return
    if out == "-" or Path(out).suffix.lower() not in (".csv", ".json"):
        raise UsageError(f"--out {out}: name a .csv or a .json file, e.g. --out sweep.csv")
    path = check_writable(out)
    for data in inputs:
        if (
            path is not None
            and path.exists()
            and path.resolve() == Path(data).expanduser().resolve()
        ):
            raise UsageError(f"--out {out} is one of the candle files read; give another file name")


class Bar:
    """The sweep's progress on stderr: on a terminal a bar with done/total and the time left;
    otherwise (a log, a pipe) one line per 10 %."""

    WIDTH = 30

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self._shown_tenth = 0
        self._last_draw = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        if total <= 0:
            return
        now = time.monotonic()
        elapsed = now - self.started
        left = elapsed / done * (total - done) if done else None
        if self.tty:
            if done < total and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            filled = int(min(1.0, done / total) * self.WIDTH)
            bar = "█" * filled + "░" * (self.WIDTH - filled)
            eta = f"ETA {_clock(left)}" if left is not None else "ETA --:--"
            self.stream.write(f"\r  {self.label} {bar} {done}/{total}  {eta}   ")
            self.stream.flush()
            self._drawn = True
            return
        tenth = done * 10 // total
        if tenth > self._shown_tenth:
            self._shown_tenth = tenth
            self.stream.write(
                f"{self.label}: {tenth * 10} % ({done}/{total} runs, "
                f"{_clock(elapsed)} elapsed, {_clock(left or 0.0)} left)\n"
            )
            self.stream.flush()

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
