"""Backtest metrics: pure functions of the trade ledger and the close-marked equity curve.

Sums of money come from the Decimal ledger; ratios (drawdown, Sharpe, Sortino) from the
float equity curve. Crypto trades around the clock, so a year is 365.25 days of bars: Sharpe and
Sortino are annualised by the bars per year of the data's candle spacing (8,766 for 1h bars, 365.25
for 1d). Below MIN_PERIODS return periods or MIN_TRADES closed trades they (and Calmar) are None,
shown as n/a: a ratio of a handful of trades says nothing (no "Sharpe 34" on 4 trades).
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
DAY_MS = 86_400_000
# Below either of these, Sharpe, Sortino and Calmar are None (n/a): too few samples to mean much.
MIN_PERIODS = 30  # bar-to-bar returns of the equity curve
MIN_TRADES = 10  # closed round trips


def bars_per_year(step_ms: int) -> float:
    """Bars in a year of 24/7 trading at this candle spacing; 0 when the spacing is unknown."""
    return YEAR_MS / step_ms if step_ms > 0 else 0.0


def enough_samples(periods: int, trades: int) -> bool:
    """Whether Sharpe, Sortino and Calmar are shown (see MIN_PERIODS, MIN_TRADES)."""
    return periods >= MIN_PERIODS and trades >= MIN_TRADES


def max_drawdown_pct(equity: Floats) -> float:
    """Largest peak-to-trough fall of the equity curve, in percent of the peak (>= 0)."""
    if len(equity) == 0:
        return 0.0
    peak = np.maximum.accumulate(equity)
    return float(-np.min(equity / peak - 1.0) * 100.0)


def max_drawdown_duration_ms(equity: Floats, ts: Times) -> int:
    """Longest time spent under a previous equity peak: from the peak bar's time to the first
    bar back at or above it, or to the last bar if the curve never got back (0 if never under)."""
    n = len(equity)
    if n < 2:
        return 0
    idx = np.arange(n)
    at_peak = equity >= np.maximum.accumulate(equity)  # a new high, or back level with it
    under = ~at_peak
    if not under.any():
        return 0
    # the latest bar at a peak at or before each bar, and the first at or after it
    last_peak = np.maximum.accumulate(np.where(at_peak, idx, 0))
    next_peak = np.minimum.accumulate(np.where(at_peak, idx, n)[::-1])[::-1]
    starts = np.flatnonzero(under & ~np.concatenate(([False], under[:-1])))
    ends = np.minimum(next_peak[starts], n - 1)  # never back: under water until the last bar
    return int(np.max(ts[ends] - ts[last_peak[starts]]))


def avg_holding_ms(trades: Sequence[Trade]) -> float | None:
    """Mean time from entry fill to exit fill over closed trades; None without a trade."""
    if not trades:
        return None
    return sum(t.exit_ts - t.entry_ts for t in trades) / len(trades)


def expectancy(trades: Sequence[Trade]) -> Decimal | None:
    """Average P&L per closed trade, net of fees (= win rate x average win - loss rate x
    average loss); None without a trade."""
    if not trades:
        return None
    return sum((t.pnl for t in trades), ZERO) / len(trades)


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


def buy_hold_equity(
    first_open: float, last_close: float, cash: Decimal, fee_rate: Decimal, slippage_bps: Decimal
) -> Decimal:
    """Buy and hold, the one baseline of every backtest (single strategy, sweeps, --bot per
    symbol): ``cash`` buys at the open of the first candle of the run and sells at the close
    of its last, both fills through the paper broker with the run's fee and slippage, the
    quantity floored to the quantity step. Returns the final equity (unspent cash + the sale).
    """
    from ..models import OrderIntent, OrderReason, Side, to_decimal  # noqa: PLC0415
    from ..paper import PaperBroker  # noqa: PLC0415
    from ..risk import QTY_STEP, floor_to  # noqa: PLC0415

    broker = PaperBroker(fee_rate, slippage_bps)
    buy_px, sell_px = to_decimal(first_open), to_decimal(last_close)
    paid = buy_px * (1 + slippage_bps / 10_000) * (1 + fee_rate)
    qty = floor_to(cash / paid, QTY_STEP)
    if qty <= 0:
        return cash
    buy = broker.fill(OrderIntent("hold", "-", Side.BUY, qty, OrderReason.ENTRY, "b"), buy_px, 0)
    left = cash - buy.qty * buy.price - buy.fee
    sell = broker.fill(OrderIntent("hold", "-", Side.SELL, qty, OrderReason.EXIT, "s"), sell_px, 0)
    return left + sell.qty * sell.price - sell.fee


def compute_metrics(
    *,
    trades: Sequence[Trade],
    equity: Floats,
    held: Floats,
    ts: Times,
    buy_hold: Decimal,
    start_cash: Decimal,
    final_equity: Decimal,
    step_ms: int,
    elapsed_s: float,
) -> dict[str, Any]:
    """Every number of the report, JSON-ready (Decimal money as strings rounded to cents is the
    CLI's business; here money is float for JSON, computed from Decimal)."""
    n = len(equity)
    per_year = bars_per_year(step_ms)
    span_ms = float(ts[-1] - ts[0] + step_ms) if n else 0.0
    wins = sum(1 for t in trades if t.pnl > 0)
    fees = sum((t.fees for t in trades), ZERO)
    avg = expectancy(trades) or ZERO
    avg_pct = (sum((t.return_pct for t in trades), ZERO) / len(trades)) if trades else ZERO
    shown = enough_samples(n - 1, len(trades))
    cagr = cagr_pct(start_cash, final_equity, span_ms)
    drawdown = max_drawdown_pct(equity)
    holding = avg_holding_ms(trades)
    return {
        "bars": n,
        "trades": len(trades),
        "start_cash": float(start_cash),
        "final_equity": float(final_equity.quantize(Decimal("0.00000001"))),
        "return_pct": float((final_equity / start_cash - 1) * HUNDRED),
        "cagr_pct": cagr,
        "max_drawdown_pct": drawdown,
        "max_drawdown_duration_h": max_drawdown_duration_ms(equity, ts) / 3_600_000,
        "sharpe": sharpe(equity, per_year) if shown else None,
        "sortino": sortino(equity, per_year) if shown else None,
        "calmar": cagr / drawdown if shown and cagr is not None and drawdown > 0 else None,
        "win_rate": (wins / len(trades) * 100.0) if trades else 0.0,
        # gated as Sharpe is: a ratio of a handful of trades is luck, and the sweep ranks it
        # n/a below the gate, so every table, JSON and CSV shows it n/a too (adv13 A8)
        "profit_factor": profit_factor(trades) if shown else None,
        "avg_trade": float(avg),
        "expectancy": float(avg),
        "avg_trade_pct": float(avg_pct),
        "exposure_pct": float(np.count_nonzero(held) / n * 100.0) if n else 0.0,
        "trades_per_day": len(trades) / (span_ms / DAY_MS) if span_ms > 0 else 0.0,
        "avg_holding_h": holding / 3_600_000 if holding is not None else None,
        "fees_paid": float(fees),
        "buy_hold_return_pct": float((buy_hold / start_cash - 1) * HUNDRED) if n else 0.0,
        "buy_hold_final_equity": float(buy_hold.quantize(Decimal("0.00000001"))),
        "bar_ms": step_ms,
        "bars_per_year": per_year,
        "return_periods": max(n - 1, 0),
        "ratio_min_periods": MIN_PERIODS,
        "ratio_min_trades": MIN_TRADES,
        "first_ts": int(ts[0]) if n else None,
        "last_ts": int(ts[-1]) if n else None,
        "elapsed_s": round(elapsed_s, 4),
    }
