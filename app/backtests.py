"""Backtests as the command line and the cockpit both run them: load a CSV of candles, keep a
date range, build the strategy, simulate, and the metrics as one JSON-ready dict.

One API so `oxbot backtest` and the backtest screen cannot drift apart; each words its own
errors and draws its own report. Light at import (the CLI's start-up stays fast): pandas, the
engine's backtester and the strategies load inside the functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oxbot.engine.errors import DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

    from oxbot.engine.backtest import BacktestResult
    from oxbot.engine.strategies import Strategy

# The largest starting cash: a bot's capital has the same bound (engine/models.py). Above it
# the ledger's exact Decimal arithmetic runs out of digits (28) for fees to 1e-10.
MAX_CASH = Decimal("1e12")
# Strategies a backtest cannot run, and why (the cockpit shows this; the CLI says it its way).
# (Since issue 15 an LLM bot is backtested as a bot, app/llm_backtest.py; this text is kept as
# the cockpit's snapshots show it, tests/tui/__snapshots__/*backtest_report*: the lead words it.)
NOT_BACKTESTABLE = {
    "llm": "llm is backtested as a bot: `oxbot backtest --bot NAME` (B on the dashboard); no sweeps"
}
PCT_KEYS = (
    "return_pct",
    "cagr_pct",
    "max_drawdown_pct",
    "win_rate",
    "avg_trade_pct",
    "exposure_pct",
    "buy_hold_return_pct",
)
RATIO_KEYS = (
    "sharpe",
    "sortino",
    "calmar",
    "profit_factor",
    "trades_per_day",
    "avg_holding_h",
    "max_drawdown_duration_h",
    "bars_per_year",
)

Progress = Callable[[str, float], None]


def backtestable_names() -> list[str]:
    """The registered strategies a backtest can run, sorted."""
    from oxbot.app.strategies import load_user_strategies  # noqa: PLC0415
    from oxbot.engine.strategies import REGISTRY  # noqa: PLC0415

    load_user_strategies()
    return sorted(n for n in REGISTRY if n not in NOT_BACKTESTABLE)


def check_backtestable(name: str) -> None:
    """UsageError for a strategy this backtest cannot run (the LLM one runs as a bot, through
    its reply cache: app/llm_backtest.py)."""
    from oxbot.app.strategies import load_user_strategies_for, skipped_file_hint  # noqa: PLC0415
    from oxbot.engine.errors import ConfigError  # noqa: PLC0415
    from oxbot.engine.strategies import strategy_class  # noqa: PLC0415

    load_user_strategies_for(name)  # the user's files, reloaded when edited
    try:
        strategy_class(name)  # unknown names: the registry's own message
    except ConfigError as e:
        hint = skipped_file_hint(name)
        if not hint:
            raise
        raise ConfigError(f"{e}{hint}") from None
    if name in NOT_BACKTESTABLE:
        raise UsageError(
            f"this backtest runs rule strategies only; the {name} strategy is backtested as "
            "a bot (`oxbot backtest --bot NAME`, or --strategy llm with --data and no sweep); "
            f"use one of: {', '.join(backtestable_names())}"
        )


def strategy(name: str, params: dict[str, Any]) -> Strategy:
    """The strategy ``name`` with ``params``, checked: ConfigError names a bad parameter."""
    from oxbot.engine.strategies import build_strategy, strategy_class  # noqa: PLC0415
    from oxbot.engine.strategies.checks import user_code  # noqa: PLC0415

    check_backtestable(name)
    with user_code(strategy_class(name)):  # a Params validator of the user's may raise
        return build_strategy(name, params)


def symbol_from_name(path: str) -> str:
    """A label for the risk manager and the report: ``binance_BTC-USDT_1h.csv`` → BTC/USDT."""
    m = re.search(r"([A-Z0-9]{2,15})-([A-Z0-9]{2,10})(?=[_.]|$)", Path(path).name.upper())
    return f"{m.group(1)}/{m.group(2)}" if m else "ASSET/QUOTE"


def load_candles(path: str) -> pd.DataFrame:
    """The candles of a CSV file (timestamp,open,high,low,close,volume); DataError if bad."""
    from oxbot.engine.market.csvdata import load_csv  # noqa: PLC0415

    return load_csv(path)


class EmptyRange(DataError):
    """No candle between the dates asked for; ``first_ms``/``last_ms``: what the data covers."""

    def __init__(self, first_ms: int, last_ms: int) -> None:
        super().__init__("no candles in the range")
        self.first_ms, self.last_ms = first_ms, last_ms


def between(frame: Any, since_ms: int | None, until_ms: int | None) -> Any:
    """The candles from ``since_ms`` (inclusive) to ``until_ms`` (exclusive); either may be
    None (open-ended); EmptyRange when none is left."""
    if since_ms is None and until_ms is None:
        return frame
    import numpy as np  # noqa: PLC0415

    from oxbot.engine.market.columns import Columns  # noqa: PLC0415

    if isinstance(frame, Columns):  # numpy columns (a columnar backtest): the same rows
        ts = frame["ts"].to_numpy()
        mask = np.ones(len(ts), dtype=bool)
        if since_ms is not None:
            mask &= ts >= since_ms
        if until_ms is not None:
            mask &= ts < until_ms
        if not mask.any():
            raise EmptyRange(int(ts[0]), int(ts[-1]))
        return frame.rows(mask)
    keep = frame["ts"].notna()
    if since_ms is not None:
        keep &= frame["ts"] >= since_ms
    if until_ms is not None:
        keep &= frame["ts"] < until_ms
    out = frame[keep].reset_index(drop=True)
    if out.empty:
        raise EmptyRange(int(frame["ts"].iloc[0]), int(frame["ts"].iloc[-1]))
    return out


@dataclass(frozen=True)
class Backtest:
    """One run's settings: what to run, on what, at what cost."""

    strategy: Strategy
    source: str  # the CSV file, or exchange:symbol:timeframe
    symbol: str
    cash: Decimal
    fee_rate: Decimal
    slippage_bps: Decimal
    use_risk: bool


@dataclass(frozen=True)
class Outcome:
    result: BacktestResult
    metrics: dict[str, Any]  # json_metrics of the result


def run(frame: pd.DataFrame, spec: Backtest, progress: Progress | None = None) -> Outcome:
    """Simulate ``spec`` over ``frame`` (blocking: a worker thread's or the CLI's)."""
    from oxbot.engine.backtest import BacktestConfig, run_backtest  # noqa: PLC0415

    config = BacktestConfig(
        spec.strategy,
        cash=spec.cash,
        fee_rate=spec.fee_rate,
        slippage_bps=spec.slippage_bps,
        use_risk=spec.use_risk,
        symbol=spec.symbol,
    )
    result = run_backtest(frame, config, progress=progress)
    return Outcome(
        result, json_metrics(result, source=spec.source, symbol=spec.symbol, cash=spec.cash)
    )


def utc(ms: int | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``1700000000000`` → ``2023-11-14 22:13`` (UTC); ``?`` for None."""
    return "?" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime(fmt)


def span(ms: float | None) -> str:
    """A time span as a trader reads it: ``3d 4h``, ``5h 30m``, ``45m``; ``n/a`` for None."""
    if ms is None:
        return "n/a"
    minutes = round(ms / 60_000)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days:,}d {hours}h"
    return f"{hours}h {mins}m" if hours else f"{mins}m"


def timeframe(bar_ms: int) -> str:
    """The candle spacing as a timeframe: 3600000 → ``1h``; ``?`` when unknown."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if bar_ms >= size and bar_ms % size == 0:
            return f"{bar_ms // size}{unit}"
    return f"{bar_ms}ms" if bar_ms > 0 else "?"


def ratio_legend(m: dict[str, Any]) -> tuple[str, str]:
    """What the report's ratios mean, from json_metrics' keys, as two lines short enough for the
    backtest screen's report pane: how Sharpe, Sortino and Calmar are annualised and when they
    are n/a (the CLI report and the backtest screen both print them)."""
    per_year = m.get("bars_per_year") or 0
    basis = (
        f"Sharpe/Sortino/Calmar: {m['timeframe']} bars, {per_year:,.0f} a year (24/7)"
        if per_year
        else "Sharpe/Sortino/Calmar: not annualised (bar spacing unknown)"
    )
    return (
        basis,
        f"n/a below {m['ratio_min_periods']} return periods or {m['ratio_min_trades']} "
        "closed trades",
    )


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
        start_cash=money(cash, mq),
        final_equity=money(final, mq),
        avg_trade=money(pnl / len(trades), mq) if trades else money(Decimal(0), mq),
        expectancy=money(pnl / len(trades), mq) if trades else None,
        fees_paid=money(fees, mq),
        return_pct=float((final / cash - 1) * 100),
        buy_hold_final_equity=money(Decimal(repr(m["buy_hold_final_equity"])), mq),
        fee_rate=f"{Decimal(str(m['fee_rate'])).normalize():f}",
        slippage_bps=f"{Decimal(str(m['slippage_bps'])).normalize():f}",
    )
    for key in PCT_KEYS + RATIO_KEYS:
        out[key] = _round(out.get(key))
    if not trades:
        out["win_rate"] = None  # 0 % would claim every trade lost
    out["timeframe"] = timeframe(int(m.get("bar_ms") or 0))
    out["risk_halts"] = [{"ts": ts, "date": utc(ts), "reason": why} for ts, why in result.halts]
    return out


# ---------------------------------------------------------------------- a bot as configured


def candle_cache(exchange: str, symbol: str, timeframe: str) -> Path:
    """Where the candles of one market are kept for `oxbot backtest --bot`:
    ``<data dir>/candles/<exchange>_<BASE>-<QUOTE>_<timeframe>.csv`` (the file name pattern
    of the shared data sets); `oxbot data download --out` this path fills it."""
    from oxbot.storage.paths import data_dir  # noqa: PLC0415

    name = f"{exchange}_{symbol.replace('/', '-').replace(':', '-')}_{timeframe}.csv"
    return data_dir() / "candles" / name


def download_hint(exchange: str, symbol: str, timeframe: str) -> str:
    """The command line that fills the cache for one market (the sim exchange has none)."""
    if exchange == "sim":
        return f"give them with --csv {symbol}=FILE.csv (the sim market has no history to download)"
    path = candle_cache(exchange, symbol, timeframe)
    return (
        f"mkdir -p {path.parent} && oxbot data download --exchange {exchange} --symbol {symbol} "
        f"--timeframe {timeframe} --since 2024-01-01 --out {path}"
    )


async def stored_bot(name: str, db: Path) -> Any:
    """The stored configuration of the bot ``name`` (a BotConfig); UsageError listing the
    bots there are when there is none of that name."""
    from oxbot.storage.store import Store  # noqa: PLC0415

    if not db.exists():
        raise UsageError(f"no bot named {name!r}: there is no database at {db} yet")
    store = await Store.open(db, writer=False)
    try:
        bots = {cfg.name: cfg for cfg, _ in await store.load_bots()}
    finally:
        await store.close()
    if name not in bots:
        known = ", ".join(sorted(bots)) or "none yet (`oxbot bots add`)"
        raise UsageError(f"no bot named {name!r}; the bots are: {known}")
    return bots[name]


@dataclass(frozen=True)
class BotBacktest:
    """A stored bot's configuration run over history: ``csv`` (symbol -> file) overrides the
    candle cache per symbol; ``cash`` None means the bot's capital."""

    config: Any  # engine.models.BotConfig
    csv: dict[str, str]
    cash: Decimal | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    db: Path | None = None  # the bot's database: a sim bot's candles are kept beside it


@dataclass(frozen=True)
class BotOutcome:
    result: Any  # engine.backtest.botrun.BotRunResult
    metrics: dict[str, Any]  # bot_metrics of the result


def bot_frames(spec: BotBacktest) -> dict[str, pd.DataFrame]:
    """Each symbol's candles: its --csv file, else the cache. DataError naming the symbols
    with no candles and the command line that downloads them."""
    cfg = spec.config
    frames, missing, sources = {}, [], {}
    for sym in cfg.symbols:
        cache = candle_cache(cfg.exchange, sym, cfg.timeframe)
        if cfg.exchange == "sim" and isinstance(spec.db, Path):  # kept beside a FILE only
            # what the engine kept of this database's sim market (app/candle_record.py), else
            # the cache
            from oxbot.app.candle_record import file_name, sim_candles_dir  # noqa: PLC0415

            kept = sim_candles_dir(spec.db) / file_name("sim", sym, cfg.timeframe)
            cache = kept if kept.exists() else cache
        path = spec.csv.get(sym) or str(cache)
        if sym not in spec.csv and not Path(path).exists():
            missing.append(sym)
            continue
        frames[sym] = load_candles(path)
        sources[sym] = path
    if missing:
        if cfg.exchange == "sim":
            flags = " ".join(f"--csv {s}=FILE.csv" for s in missing)
            hints = (
                f"give them with {flags} (the sim market has no history to download; the "
                "engine keeps the candles of sim bots it runs, in a candles folder beside "
                "the database)"
            )
        else:
            hints = "; ".join(
                f"{s}: {download_hint(cfg.exchange, s, cfg.timeframe)}" for s in missing
            )
        raise DataError(
            f"no {cfg.timeframe} candles for {', '.join(missing)} of bot {cfg.name}: {hints}"
        )
    check_spacing(cfg, frames, sources)
    return frames


def check_spacing(cfg: Any, frames: dict[str, pd.DataFrame], sources: dict[str, str]) -> None:
    """DataError unless every symbol's candles are spaced as the bot's timeframe (the most
    common step of each file; a file of one candle says nothing): candles of another spacing
    would be run as the bot's timeframe, so every clock (decision times, cadence, daily loss,
    max hold) and the annualised ratios would be wrong, and files of different spacings
    would be mixed in one run."""
    from oxbot.engine.market.csvdata import step_ms  # noqa: PLC0415

    want = timeframe_ms(cfg.timeframe)
    steps = {s: st for s, f in frames.items() if (st := step_ms(f)) is not None}
    named = {s: f"{s}={sources.get(s, '?')} has {timeframe(st)} candles" for s, st in steps.items()}
    if len(set(steps.values())) > 1:
        raise DataError(
            f"mixed timeframes: {'; '.join(named[s] for s in steps)}; bot {cfg.name} trades "
            f"{cfg.timeframe}: give {cfg.timeframe} candles for every symbol"
        )
    wrong = [s for s, st in steps.items() if st != want]
    if wrong:
        have = timeframe(steps[wrong[0]])
        raise DataError(
            f"{'; '.join(named[s] for s in wrong)}; bot {cfg.name} trades {cfg.timeframe}: "
            f"give {cfg.timeframe} candles, or add a bot with --timeframe {have} to run "
            f"these"
        )


def run_bot(
    spec: BotBacktest,
    frames: dict[str, pd.DataFrame] | None = None,
    progress: Callable[[float], None] | None = None,
    llm: Any = None,
) -> BotOutcome:
    """Simulate the bot as the live engine runs it (blocking: a worker thread's or the CLI's).
    UsageError for a strategy a backtest cannot run; DataError for missing or disjoint
    candles. An LLM bot's model is reached as ``llm`` (app/llm_backtest.py ``LlmOptions``)
    allows; without it a paid model is never called, and UsageError says which decision
    points have no stored reply."""
    from oxbot.engine.backtest.botrun import run_bot as simulate  # noqa: PLC0415

    cfg = spec.config
    replay = None
    if cfg.strategy == "llm":
        from oxbot.app import llm_backtest  # noqa: PLC0415

        strat, replay = llm_backtest.prepared(cfg, llm)
    else:
        strat = strategy(cfg.strategy, cfg.params)
    frames = bot_frames(spec) if frames is None else frames
    try:
        result = simulate(
            cfg,
            strat,
            frames,
            cash=spec.cash,
            since_ms=spec.since_ms,
            until_ms=spec.until_ms,
            progress=progress,
            llm=replay,
        )
    finally:
        if replay is not None and replay.cache is not None:
            replay.cache.close()
    metrics = bot_metrics(result, cfg, frames, strat.params.model_dump(mode="json"))
    if replay is not None:
        llm_backtest.check_complete(result, cfg)
        metrics["llm"] = llm_backtest.summary(result, replay.tally)
    return BotOutcome(result, metrics)


def baseline(
    frames: dict[str, pd.DataFrame],
    symbols: Any,
    cash: Decimal,
    fee: Decimal,
    slip: Decimal,
    first_ms: int,
    last_ms: int,
) -> tuple[Decimal, dict[str, Decimal]]:
    """Buy and hold over the same symbols: the cash split equally, each part bought at the
    first traded candle's open and sold at the last one's close with the same fee and
    slippage (engine/backtest/metrics.py ``buy_hold_equity``, the single-strategy run's
    baseline too). Returns (final equity, symbol -> its final part)."""
    from oxbot.engine.backtest.metrics import buy_hold_equity  # noqa: PLC0415

    part = cash / len(symbols)
    out = {}
    for sym in symbols:
        f = frames[sym]
        rows = f[(f["ts"] >= first_ms) & (f["ts"] <= last_ms)]
        out[sym] = buy_hold_equity(
            float(rows["open"].iloc[0]), float(rows["close"].iloc[-1]), part, fee, slip
        )
    return sum(out.values(), Decimal(0)), out


def bot_metrics(
    result: Any,
    config: Any,
    frames: dict[str, pd.DataFrame],
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report of a bot backtest as one JSON-ready dict: the total (the single-symbol
    metrics over the bot's equity curve), one row per symbol and the buy-and-hold baseline."""

    from oxbot.engine.backtest.export import money, money_quantum  # noqa: PLC0415
    from oxbot.engine.backtest.metrics import compute_metrics  # noqa: PLC0415

    syms = list(config.symbols)
    mq = money_quantum(syms[0])
    trades = [t for rep in result.symbols.values() for t in rep.trades]
    step = timeframe_ms(config.timeframe)
    ts = result.ts
    first_open = int(ts[0]) - step if len(ts) else 0
    last_open = int(ts[-1]) - step if len(ts) else 0
    hold_total, hold_parts = baseline(
        frames, syms, result.start_cash, config.fee_rate, config.slippage_bps, first_open, last_open
    )
    m = compute_metrics(
        trades=trades,
        equity=result.equity,
        held=result.held,
        ts=ts,
        buy_hold=hold_total,
        start_cash=result.start_cash,
        final_equity=result.final_equity,
        step_ms=step,
        elapsed_s=result.elapsed_s,
    )
    pnl = sum((t.pnl for t in trades), Decimal(0))
    fees = sum((r.fees for r in result.symbols.values()), Decimal(0))
    out: dict[str, Any] = {
        "source": "bot",
        "bot": config.name,
        "symbol": ", ".join(syms),
        "symbols": syms,
        **m,
    }
    out.update(
        strategy=config.strategy,
        params=dict(config.params if params is None else params),
        risk=True,
        start_cash=money(result.start_cash, mq),
        cash=money(result.cash, mq),
        final_equity=money(result.final_equity, mq),
        return_pct=float((result.final_equity / result.start_cash - 1) * 100),
        avg_trade=money(pnl / len(trades), mq) if trades else money(Decimal(0), mq),
        expectancy=money(pnl / len(trades), mq) if trades else None,
        fees_paid=money(fees, mq),
        fee_rate=f"{config.fee_rate.normalize():f}",
        slippage_bps=f"{config.slippage_bps.normalize():f}",
        rejected_decisions=result.rejected,
        decisions=result.decisions,
        fills=len(result.fills),
        buy_hold_final_equity=money(hold_total, mq),
        buy_hold_return_pct=float((hold_total / result.start_cash - 1) * 100),
        limits={  # an unset limit (max_hold_s None) is left out
            k: f"{v.normalize():f}" if isinstance(v, Decimal) else str(v)
            for k, v in config.risk.model_dump().items()
            if v is not None
        },
    )
    for key in PCT_KEYS + RATIO_KEYS:
        out[key] = _round(out.get(key))
    if not trades:
        out["win_rate"] = None
    out["timeframe"] = timeframe(step)
    out["risk_halts"] = [{"ts": t, "date": utc(t), "reason": why} for t, why in result.halts]
    part = result.start_cash / len(syms)
    out["per_symbol"] = [
        {
            "symbol": s,
            "trades": len(rep.trades),
            "wins": rep.wins,
            "win_rate": _round(rep.wins / len(rep.trades) * 100) if rep.trades else None,
            "pnl": money(rep.pnl, mq),
            "fees": money(rep.fees, mq),
            "open_qty": f"{rep.open_qty.normalize():f}",
            "unrealised": money(rep.unrealised, mq),
            "buy_hold_return_pct": _round(float((hold_parts[s] / part - 1) * 100)),
        }
        for s, rep in result.symbols.items()
    ]
    return out


def timeframe_ms(tf: str) -> int:
    from oxbot.engine.models import timeframe_seconds  # noqa: PLC0415

    return timeframe_seconds(tf) * 1000


def csv_in_folder(folder: Path, exchange: str, symbols: Any, timeframe: str) -> dict[str, str]:
    """symbol -> the candle file of that symbol and timeframe in ``folder``: named
    ``<exchange>_<BASE>-<QUOTE>_<timeframe>.csv`` (the candle cache's and ../shared's pattern),
    else the shortest ``*_<BASE>-<QUOTE>_<timeframe>.csv`` (another exchange's). Symbols with
    no such file are left out."""
    out = {}
    for sym in symbols:
        pair = sym.replace("/", "-").replace(":", "-")
        exact = folder / f"{exchange}_{pair}_{timeframe}.csv"
        others = sorted(folder.glob(f"*_{pair}_{timeframe}.csv"), key=lambda p: len(p.name))
        if exact.is_file():
            out[sym] = str(exact)
        elif others:
            out[sym] = str(others[0])
    return out
