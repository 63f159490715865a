"""Backtest metrics: pure functions of the trade ledger and the close-marked equity curve.

Sums of money come from the Decimal ledger; ratios (drawdown, Sharpe, Sortino) from the
float equity curve. Crypto trades around the clock, so a year is 365.25 days of bars.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from ..arrays import Floats, Times
from ..models import HUNDRED, ZERO
from .ledger import Trade

YEAR_MS = 365.25 * 86_400_000


def max_drawdown_pct(equity: Floats) -> float:
    """Largest peak-to-trough fall of the equity curve, in percent of the peak (>= 0)."""
    if len(equity) == 0:
        return 0.0
    peak = np.maximum.accumulate(equity)
    return float(-np.min(equity / peak - 1.0) * 100.0)


def bar_returns(equity: Floats) -> Floats:
    return np.diff(equity) / equity[:-1] if len(equity) > 1 else np.zeros(0)


def sharpe(equity: Floats, bars_per_year: float) -> float | None:
    """Annualised Sharpe ratio of per-bar returns (risk-free rate 0); None if undefined."""
    r = bar_returns(equity)
    if len(r) < 2:
        return None
    sd = float(np.std(r, ddof=1))
    return float(np.mean(r)) / sd * math.sqrt(bars_per_year) if sd > 0 else None


def sortino(equity: Floats, bars_per_year: float) -> float | None:
    """Annualised Sortino ratio: mean return over the downside deviation (target 0)."""
    r = bar_returns(equity)
    if len(r) < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    return float(np.mean(r)) / downside * math.sqrt(bars_per_year) if downside > 0 else None


def cagr_pct(start: Decimal, final: Decimal, span_ms: float) -> float | None:
    if span_ms <= 0 or start <= 0:
        return None
    ratio = float(final / start)
    if ratio <= 0:
        return -100.0
    growth: float = ratio ** (YEAR_MS / span_ms)
    return (growth - 1.0) * 100.0


def profit_factor(trades: Sequence[Trade]) -> float | None:
    """Gross profit / gross loss; None when there is no losing trade."""
    gains = sum((t.pnl for t in trades if t.pnl > 0), ZERO)
    losses = -sum((t.pnl for t in trades if t.pnl < 0), ZERO)
    return float(gains / losses) if losses > 0 else None


def compute_metrics(
    *,
    trades: Sequence[Trade],
    equity: Floats,
    held: Floats,
    ts: Times,
    close: Floats,
    start_cash: Decimal,
    final_equity: Decimal,
    step_ms: int,
    elapsed_s: float,
) -> dict[str, Any]:
    """Every number of the report, JSON-ready (Decimal money as strings rounded to cents is the
    CLI's business; here money is float for JSON, computed from Decimal)."""
    n = len(equity)
    bars_per_year = YEAR_MS / step_ms if step_ms > 0 else 0.0
    span_ms = float(ts[-1] - ts[0] + step_ms) if n else 0.0
    wins = sum(1 for t in trades if t.pnl > 0)
    fees = sum((t.fees for t in trades), ZERO)
    total_pnl = sum((t.pnl for t in trades), ZERO)
    avg = total_pnl / len(trades) if trades else ZERO
    avg_pct = (sum((t.return_pct for t in trades), ZERO) / len(trades)) if trades else ZERO
    return {
        "bars": n,
        "trades": len(trades),
        "start_cash": float(start_cash),
        "final_equity": float(final_equity.quantize(Decimal("0.00000001"))),
        "return_pct": float((final_equity / start_cash - 1) * HUNDRED),
        "cagr_pct": cagr_pct(start_cash, final_equity, span_ms),
        "max_drawdown_pct": max_drawdown_pct(equity),
        "sharpe": sharpe(equity, bars_per_year),
        "sortino": sortino(equity, bars_per_year),
        "win_rate": (wins / len(trades) * 100.0) if trades else 0.0,
        "profit_factor": profit_factor(trades),
        "avg_trade": float(avg),
        "avg_trade_pct": float(avg_pct),
        "exposure_pct": float(np.count_nonzero(held) / n * 100.0) if n else 0.0,
        "fees_paid": float(fees),
        "buy_hold_return_pct": float((close[-1] / close[0] - 1.0) * 100.0) if n else 0.0,
        "first_ts": int(ts[0]) if n else None,
        "last_ts": int(ts[-1]) if n else None,
        "elapsed_s": round(elapsed_s, 4),
    }
