"""Run one strategy over one symbol's history: indicators, signals, simulation, metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from ..arrays import Floats, Signals, Times
from ..errors import DataError
from ..market.columns import Columns
from ..market.csvdata import step_ms
from ..market.kernels import compute_fast
from ..models import RiskLimits
from ..strategies.base import Strategy
from ..strategies.checks import run_signals, user_code
from .allin import run_all_in
from .ledger import Trade
from .metrics import buy_hold_equity, compute_metrics

if TYPE_CHECKING:
    import pandas as pd

# progress(stage, fraction): stages are "indicators", "simulate", "metrics".
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class BacktestConfig:
    """What to simulate. ``use_risk=False`` is the no-risk, all-in parity mode."""

    strategy: Strategy
    cash: Decimal = Decimal("10000")
    fee_rate: Decimal = Decimal("0.001")
    slippage_bps: Decimal = Decimal("0")
    use_risk: bool = True
    limits: RiskLimits | None = None  # None: the default RiskLimits
    symbol: str = "BTC/USDT"


@dataclass
class BacktestResult:
    """The ledger, the per-bar curve (numpy arrays, one float per bar) and the metrics."""

    trades: list[Trade]
    ts: Times
    equity: Floats
    signals: Signals
    metrics: dict[str, Any]
    rejected: int = 0
    final_equity: Decimal = Decimal(0)  # exact, from the ledger (metrics hold a float)
    # (ts, reason) each time a kill switch or the daily loss limit started blocking entries
    halts: list[tuple[int, str]] = field(default_factory=list)


def min_bars(strategy: Strategy) -> int:
    """Bars needed: the warm-up, plus one bar for a decision to fill at its open."""
    return strategy.warmup() + 1


def columnar(strategy: Strategy) -> bool:
    """Whether ``strategy.signals`` takes numpy ``Columns`` (its own class says so: a subclass,
    e.g. a user's, may read the frame as a DataFrame)."""
    return bool(type(strategy).__dict__.get("columnar", False))


def run_backtest(
    frame: pd.DataFrame | Columns, config: BacktestConfig, progress: Progress | None = None
) -> BacktestResult:
    """Backtest ``config.strategy`` on ``frame`` (columns ts, open, high, low, close, volume,
    as `load_csv` returns, or as numpy ``Columns`` from `load_columns`: a strategy that is not
    `columnar` gets them as a DataFrame). Raises DataError when there are too few bars for the
    warm-up. Both kinds of frame give the same result (tests/backtest/test_columnar.py)."""
    started = time.perf_counter()
    strat = config.strategy
    if isinstance(frame, Columns) and not columnar(strat):
        frame = frame.to_pandas()
    with user_code(strat):
        need = min_bars(strat)
        specs = strat.indicators()
    if len(frame) < need:
        raise DataError(
            f"only {len(frame)} candles; strategy {strat.name} with these parameters needs at "
            f"least {need} (warm-up {strat.warmup()} + 1 to fill); give a longer history"
        )
    report = progress or (lambda _s, _f: None)
    report("indicators", 0.0)
    full = compute_fast(frame, specs)
    signals = run_signals(strat, full)
    del full  # only the signals are needed from here on
    ts = frame["ts"].to_numpy(np.int64)
    open_ = frame["open"].to_numpy(np.float64)
    close = frame["close"].to_numpy(np.float64)
    report("simulate", 0.0)
    rejected = 0
    halts: list[tuple[int, str]] = []
    if config.use_risk:
        from .risked import RiskedRun  # noqa: PLC0415 - the no-risk path needs none of it

        run = RiskedRun(
            symbol=config.symbol,
            cash=config.cash,
            fee_rate=config.fee_rate,
            slippage_bps=config.slippage_bps,
            limits=config.limits or RiskLimits.model_validate({}),
        )
        run.run(
            ts,
            open_,
            frame["high"].to_numpy(np.float64),
            frame["low"].to_numpy(np.float64),
            close,
            signals,
            progress=lambda f: report("simulate", f),
        )
        trades, steps, rejected, halts = run.trades, run.steps, run.rejected, run.halts
        final = run.portfolio.cash
    else:
        trades, steps = run_all_in(
            ts, open_, close, signals, config.cash, config.fee_rate, config.slippage_bps
        )
        final = config.cash + sum((t.pnl for t in trades), Decimal(0))
    report("metrics", 0.0)
    equity, held = steps.curve(close)
    metrics = compute_metrics(
        trades=trades,
        equity=equity,
        held=held,
        ts=ts,
        buy_hold=buy_hold_equity(
            float(open_[0]), float(close[-1]), config.cash, config.fee_rate, config.slippage_bps
        ),
        start_cash=config.cash,
        final_equity=final,
        step_ms=step_ms(frame) or 0,
        elapsed_s=time.perf_counter() - started,
    )
    metrics.update(
        strategy=strat.name,
        params=strat.params.model_dump(),
        risk=config.use_risk,
        fee_rate=float(config.fee_rate),
        slippage_bps=float(config.slippage_bps),
        rejected_decisions=rejected,
    )
    report("metrics", 1.0)
    return BacktestResult(trades, ts, equity, signals, metrics, rejected, final, halts)
