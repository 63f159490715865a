"""The backtest's trade ledger (Decimal) and the per-bar equity curve built from it (numpy).

Money is exact in the ledger: there are only as many rows as trades. The curve has one float
per bar and is rebuilt from the ledger's cash/quantity change points, so no per-bar Python
object is ever held.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from ..arrays import Floats
from ..models import ZERO


@dataclass(frozen=True, slots=True)
class Trade:
    """One closed round trip. ``pnl`` is net of both fees; ``reason`` says how it ended:
    ``signal``, ``stop_loss``, ``take_profit`` or ``end`` (closed at the last close)."""

    entry_ts: int
    exit_ts: int
    entry_bar: int
    exit_bar: int
    entry_price: Decimal
    exit_price: Decimal
    qty: Decimal
    pnl: Decimal
    fees: Decimal
    reason: str

    @property
    def return_pct(self) -> Decimal:
        cost = self.qty * self.entry_price
        return self.pnl / cost * 100 if cost else ZERO


class EquitySteps:
    """Cash and quantity after each fill, keyed by the bar the fill happened in.

    Fills happen at a bar's open (or inside it for SL/TP), so the state after the bar's last
    fill is what the bar's close is marked with.
    """

    def __init__(self, start_cash: Decimal) -> None:
        self._bars: list[int] = [0]
        self._cash: list[float] = [float(start_cash)]
        self._qty: list[float] = [0.0]

    def record(self, bar: int, cash: Decimal, qty: Decimal) -> None:
        if bar == self._bars[-1]:  # a later fill in the same bar supersedes the earlier state
            self._cash[-1], self._qty[-1] = float(cash), float(qty)
        else:
            self._bars.append(bar)
            self._cash.append(float(cash))
            self._qty.append(float(qty))

    def curve(self, close: Floats) -> tuple[Floats, Floats]:
        """(equity, held quantity) per bar, marked to market at each close."""
        n = len(close)
        starts = np.asarray(self._bars, dtype=np.int64)
        lengths = np.diff(np.append(starts, n))
        cash = np.repeat(np.asarray(self._cash), lengths)
        qty = np.repeat(np.asarray(self._qty), lengths)
        return cash + qty * close, qty
