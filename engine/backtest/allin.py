"""The no-risk path: all-in long trades on the strategy's signals, the reference semantics.

- a signal decided at bar i's close fills at bar i+1's open (no look-ahead);
- an entry buys units = cash / (open x (1 + fee)), rounded down to 1e-8;
- the fee is charged on entry and on exit notional; slippage moves fills against the trader;
- a position still open after the last bar is closed at the last close and counted.

Only signal bars are visited (``np.flatnonzero``), so the Python loop runs once per trade,
not once per bar.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

import numpy as np

from ..arrays import Floats, Signals, Times
from ..models import ZERO, to_decimal
from ..strategies.base import ENTER, EXIT
from .ledger import EquitySteps, Trade

QTY_STEP = Decimal("0.00000001")
PRICE_Q = Decimal("0.00000001")
BPS = Decimal(10_000)


def _fill_price(price: float, slippage: Decimal, buy: bool) -> Decimal:
    px = to_decimal(price)
    if slippage:
        px = px * (1 + slippage) if buy else px * (1 - slippage)
        px = px.quantize(PRICE_Q, rounding=ROUND_HALF_EVEN)
    return px


def run_all_in(
    ts: Times,
    open_: Floats,
    close: Floats,
    signals: Signals,
    cash: Decimal,
    fee_rate: Decimal,
    slippage_bps: Decimal = ZERO,
) -> tuple[list[Trade], EquitySteps]:
    """Simulate all-in trading; returns the trade ledger and the equity change points."""
    n = len(close)
    slip = slippage_bps / BPS
    steps = EquitySteps(cash)
    trades: list[Trade] = []
    qty = ZERO
    entry_px = entry_fee = ZERO
    entry_bar = -1
    # Signals at the last bar cannot fill (there is no next open): drop them up front.
    events = np.flatnonzero(signals[: n - 1])
    kinds = signals[events]
    for i, kind in zip(events.tolist(), kinds.tolist(), strict=True):
        j = i + 1
        if kind == ENTER and qty == 0:
            px = _fill_price(float(open_[j]), slip, buy=True)
            units = (cash / (px * (1 + fee_rate))).quantize(QTY_STEP, rounding=ROUND_DOWN)
            if units <= 0:
                continue  # not enough cash for the smallest unit: the signal is skipped
            entry_fee = units * px * fee_rate
            cash -= units * px + entry_fee
            qty, entry_px, entry_bar = units, px, j
            steps.record(j, cash, qty)
        elif kind == EXIT and qty > 0:
            px = _fill_price(float(open_[j]), slip, buy=False)
            cash = _close(
                trades, ts, entry_bar, j, entry_px, entry_fee, qty, px, fee_rate, cash, "signal"
            )
            qty = ZERO
            steps.record(j, cash, qty)
    if qty > 0:  # still open after the last bar: closed at the last close, and counted
        px = _fill_price(float(close[n - 1]), slip, buy=False)
        cash = _close(
            trades, ts, entry_bar, n - 1, entry_px, entry_fee, qty, px, fee_rate, cash, "end"
        )
        steps.record(n - 1, cash, ZERO)
    return trades, steps


def _close(
    trades: list[Trade],
    ts: Times,
    entry_bar: int,
    exit_bar: int,
    entry_px: Decimal,
    entry_fee: Decimal,
    qty: Decimal,
    px: Decimal,
    fee_rate: Decimal,
    cash: Decimal,
    reason: str,
) -> Decimal:
    exit_fee = qty * px * fee_rate
    pnl = qty * (px - entry_px) - entry_fee - exit_fee
    trades.append(
        Trade(
            int(ts[entry_bar]),
            int(ts[exit_bar]),
            entry_bar,
            exit_bar,
            entry_px,
            px,
            qty,
            pnl,
            entry_fee + exit_fee,
            reason,
        )
    )
    return cash + qty * px - exit_fee
