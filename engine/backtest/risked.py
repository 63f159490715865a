"""The risk-managed path: the live trading pieces (RiskManager, PaperBroker, Portfolio) driven
over history.

The Python loop visits only bars with events: signal bars, and the first bar where an open
position's stop-loss or take-profit is touched (found with a vectorised scan of low/high).
Within one bar a touched stop-loss wins over a take-profit (the conservative assumption).
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np

from .. import risk as risk_mod
from ..arrays import Floats, Ints, Signals, Times
from ..models import (
    ZERO,
    Action,
    Decision,
    OrderIntent,
    OrderReason,
    RiskLimits,
    Side,
    SymbolDecision,
    to_decimal,
)
from ..paper import PaperBroker
from ..portfolio import Portfolio
from ..strategies.base import ENTER, EXIT
from .ledger import EquitySteps, Trade

BOT = "backtest"
Progress = Callable[[float], None]


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    return name in inspect.signature(fn).parameters


class RiskedRun:
    """One risk-managed simulation over arrays of one symbol's candles."""

    def __init__(
        self,
        *,
        symbol: str,
        cash: Decimal,
        fee_rate: Decimal,
        slippage_bps: Decimal,
        limits: RiskLimits,
    ) -> None:
        self.symbol = symbol
        self.portfolio = Portfolio(cash)
        self.risk = risk_mod.RiskManager(limits, fee_rate=fee_rate)
        ids = itertools.count(1)
        self.new_id: Callable[[], str] = lambda: f"bt-{next(ids)}"
        broker_kw: dict[str, Any] = {"fee_rate": fee_rate, "slippage_bps": slippage_bps}
        if _accepts(PaperBroker.__init__, "new_id"):
            broker_kw["new_id"] = self.new_id
        self.broker = PaperBroker(**broker_kw)
        self._check_takes_ts = _accepts(self.risk.check, "ts")
        self.trades: list[Trade] = []
        self.rejected = 0
        # Each time a kill switch starts blocking entries: (ts, reason), once per trip.
        self.halts: list[tuple[int, str]] = []
        self._blocked: str | None = None
        self.steps = EquitySteps(cash)
        self._entry: tuple[int, Decimal, Decimal] | None = None  # bar, price, fee

    # ------------------------------------------------------------------ decisions and fills

    def _decide(self, action: Action, mark: float, ts: int) -> tuple[OrderIntent, ...]:
        marks = {self.symbol: to_decimal(mark)}
        equity = self.portfolio.equity(marks)
        self.risk.observe(equity, ts)
        if action is Action.BUY:
            self._note_halt(self.risk.entry_block(equity), ts)
        decision = Decision(BOT, ts, (SymbolDecision(self.symbol, action),), source="rule")
        kw: dict[str, Any] = {"ts": ts} if self._check_takes_ts else {}
        verdict = self.risk.check(decision, self.portfolio, marks, new_id=self.new_id, **kw)
        if not verdict.intents:
            self.rejected += 1
        return verdict.intents

    def _note_halt(self, block: str | None, ts: int) -> None:
        """Record a kill switch or the daily loss limit the first time it blocks an entry
        (again only after it has let one through: one row per trip, not per refused signal)."""
        kind = block.split(":", 1)[0] if block else None
        if kind is not None and kind != self._blocked:
            self.halts.append((ts, block or ""))
        self._blocked = kind

    def _fill(self, intent: OrderIntent, price: Decimal, bar: int, ts: Times, reason: str) -> None:
        fill = self.broker.fill(intent, price, int(ts[bar]))
        self.portfolio.apply(fill)
        if intent.side is Side.BUY:
            self.portfolio.set_stops(self.symbol, intent.stop_loss, intent.take_profit)
            self._entry = (bar, fill.price, fill.fee)
        else:
            assert self._entry is not None
            e_bar, e_px, e_fee = self._entry
            pnl = fill.qty * (fill.price - e_px) - e_fee - fill.fee
            self.trades.append(
                Trade(
                    int(ts[e_bar]),
                    int(ts[bar]),
                    e_bar,
                    bar,
                    e_px,
                    fill.price,
                    fill.qty,
                    pnl,
                    e_fee + fill.fee,
                    reason,
                )
            )
            self._entry = None
        pos = self.portfolio.position(self.symbol)
        self.steps.record(bar, self.portfolio.cash, pos.qty if pos else ZERO)

    def _sell(self, qty: Decimal, reason: OrderReason) -> OrderIntent:
        return OrderIntent(BOT, self.symbol, Side.SELL, qty, reason, self.new_id())

    # ------------------------------------------------------------------ the run

    def run(
        self,
        ts: Times,
        open_: Floats,
        high: Floats,
        low: Floats,
        close: Floats,
        signals: Signals,
        progress: Progress | None = None,
    ) -> None:
        n = len(close)
        enters = np.flatnonzero(signals[: n - 1] == ENTER)
        exits = np.flatnonzero(signals[: n - 1] == EXIT)
        k = 0  # search position: the first bar not yet simulated
        next_report = 0.0
        while k < n:
            if progress is not None and k / n >= next_report:
                progress(k / n)
                next_report += 0.02
            # Flat: jump to the next entry signal.
            e = int(np.searchsorted(enters, k))
            if e >= len(enters):
                break
            i = int(enters[e])
            intents = self._decide(Action.BUY, float(close[i]), int(ts[i]))
            buy = next((t for t in intents if t.side is Side.BUY), None)
            if buy is None:
                k = i + 1
                continue
            self._fill(buy, to_decimal(float(open_[i + 1])), i + 1, ts, "entry")
            k = self._hold(i + 1, ts, open_, high, low, close, exits)

    def _hold(
        self,
        start: int,
        ts: Times,
        open_: Floats,
        high: Floats,
        low: Floats,
        close: Floats,
        exits: Ints,
    ) -> int:
        """Hold from bar ``start`` (entered at its open) until a stop, an exit signal or the
        end; returns the first bar at which the strategy may decide again."""
        n = len(close)
        pos = self.portfolio.position(self.symbol)
        assert pos is not None
        x_at = int(np.searchsorted(exits, start))
        x = int(exits[x_at]) if x_at < len(exits) else n - 1  # last bar the position is held
        sl = float(pos.stop_loss) if pos.stop_loss is not None else -np.inf
        tp = float(pos.take_profit) if pos.take_profit is not None else np.inf
        lo, hi = start, x + 1
        while lo < hi:
            # Float pre-filter on the whole window; the Decimal check below confirms each hit.
            touched = np.flatnonzero((low[lo:hi] <= sl) | (high[lo:hi] >= tp))
            if len(touched) == 0:
                break
            j = lo + int(touched[0])
            gap_open = to_decimal(float(open_[j])) if j > start else None
            hit = risk_mod.stop_hit(
                pos, to_decimal(float(low[j])), to_decimal(float(high[j])), gap_open
            )
            if hit is not None:
                reason, price = hit
                self._fill(self._sell(pos.qty, reason), price, j, ts, reason.value)
                return j  # flat at bar j's close: its signal may open a new trade
            lo = j + 1
        if x_at < len(exits):  # exit signal at x's close, fill at the next open
            intents = self._decide(Action.CLOSE, float(close[x]), int(ts[x]))
            sell = next((t for t in intents if t.side is Side.SELL), None)
            if sell is None:  # the risk manager refused the exit: keep holding to the end
                return self._hold(x + 1, ts, open_, high, low, close, exits)
            self._fill(sell, to_decimal(float(open_[x + 1])), x + 1, ts, "signal")
            return x + 1
        self._fill(
            self._sell(pos.qty, OrderReason.FLATTEN),
            to_decimal(float(close[n - 1])),
            n - 1,
            ts,
            "end",
        )
        return n
