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
NOT_BACKTESTABLE = {
    "llm": "llm can't be backtested: it would call a model at every "
    "candle (slow, paid, not reproducible)"
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
    """UsageError for a strategy a backtest cannot run (the LLM one would call a model at
    every candle: slow, paid, and not reproducible)."""
    from oxbot.app.strategies import load_user_strategies  # noqa: PLC0415
    from oxbot.engine.strategies import strategy_class  # noqa: PLC0415

    load_user_strategies()  # the user's files, reloaded when edited
    strategy_class(name)  # unknown names: the registry's own message
    if name in NOT_BACKTESTABLE:
        raise UsageError(
            f"backtests run rule strategies only; the {name} strategy would call "
            f"a model at every candle; use one of: {', '.join(backtestable_names())}"
        )


def strategy(name: str, params: dict[str, Any]) -> Strategy:
    """The strategy ``name`` with ``params``, checked: ConfigError names a bad parameter."""
    from oxbot.engine.strategies import build_strategy  # noqa: PLC0415

    check_backtestable(name)
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


def between(frame: pd.DataFrame, since_ms: int | None, until_ms: int | None) -> pd.DataFrame:
    """The candles from ``since_ms`` (inclusive) to ``until_ms`` (exclusive); either may be
    None (open-ended); EmptyRange when none is left."""
    if since_ms is None and until_ms is None:
        return frame
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
