"""The paper wallet: a pure, synchronous Decimal ledger built from fills and capital flows.

Invariant (exact, tested at every step): cash + cost basis of open positions
= start cash + deposits + realised P&L - fees, where ``deposits`` is the net of the user's
deposits and withdrawals (a capital edit), never profit or loss. When flat,
cash = start + deposits + realised - fees. Cost basis is tracked as an exact sum, not as
qty x average (which would round).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from .models import ZERO, CapitalFlow, Fill, Position, Side

# Cost removed by a partial sell is a division: rounded to this step so every ledger value keeps
# a bounded number of decimals and sums of them stay exact.
COST_Q = Decimal("0.000000000001")


@dataclass(slots=True)
class _Lot:
    qty: Decimal
    cost: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None
    opened_ts: int


class Portfolio:
    def __init__(self, start_cash: Decimal) -> None:
        self.start_cash = start_cash
        self.cash = start_cash
        self.deposits = ZERO  # net capital flows: deposits minus withdrawals
        self.realised = ZERO
        self.fees = ZERO
        self.trades = 0  # closed round trips
        self._lots: dict[str, _Lot] = {}

    @classmethod
    def from_fills(
        cls,
        start_cash: Decimal,
        fills: Iterable[Fill],
        stops: Mapping[str, tuple[Decimal | None, Decimal | None]] | None = None,
        flows: Iterable[CapitalFlow] = (),
    ) -> Portfolio:
        """Rebuild the wallet from the fills ledger and the capital flows (restart); SL/TP
        come from ``stops``. Cash is additive, so the order of fills and flows does not
        matter here; each withdrawal was checked against the cash of its time."""
        p = cls(start_cash)
        for f in fills:
            p.apply(f)
        for flow in flows:
            p.cash += flow.amount
            p.deposits += flow.amount
        for symbol, (sl, tp) in (stops or {}).items():
            if symbol in p._lots:
                p.set_stops(symbol, sl, tp)
        return p

    # ------------------------------------------------------------------ reads

    @property
    def positions(self) -> dict[str, Position]:
        return {s: self._position(s, lot) for s, lot in self._lots.items()}

    def position(self, symbol: str) -> Position | None:
        lot = self._lots.get(symbol)
        return None if lot is None else self._position(symbol, lot)

    def cost_basis(self) -> Decimal:
        return sum((lot.cost for lot in self._lots.values()), ZERO)

    def exposure(self, marks: Mapping[str, Decimal]) -> Decimal:
        """Market value of open positions (at ``marks``, else at cost)."""
        total = ZERO
        for s, lot in self._lots.items():
            m = marks.get(s)
            total += lot.qty * m if m is not None else lot.cost
        return total

    def equity(self, marks: Mapping[str, Decimal]) -> Decimal:
        return self.cash + self.exposure(marks)

    def unrealised(self, marks: Mapping[str, Decimal]) -> Decimal:
        return self.exposure(marks) - self.cost_basis()

    @property
    def net_deposits(self) -> Decimal:
        """What the user put in, net: the start cash plus deposits minus withdrawals (the
        base of the bot's return: return on net deposits)."""
        return self.start_cash + self.deposits

    def invariant_holds(self) -> bool:
        return (self.cash + self.cost_basis()
                == self.start_cash + self.deposits + self.realised - self.fees)

    def free_cash(self) -> Decimal:
        """Cash a withdrawal may take: what is not held in positions."""
        return max(self.cash, ZERO)

    # ------------------------------------------------------------------ writes

    def apply(self, fill: Fill) -> Decimal:
        """Book one fill; returns the realised P&L of this fill (fees excluded)."""
        with localcontext() as ctx:
            ctx.prec = 60  # products of 8-decimal quantities and prices never round here
            return self._apply(fill)

    def _apply(self, fill: Fill) -> Decimal:
        self.fees += fill.fee
        lot = self._lots.get(fill.symbol)
        if fill.side is Side.BUY:
            self.cash -= fill.qty * fill.price + fill.fee
            if lot is None:
                self._lots[fill.symbol] = _Lot(fill.qty, fill.qty * fill.price, None, None, fill.ts)
            else:
                lot.qty += fill.qty
                lot.cost += fill.qty * fill.price
            return ZERO
        if lot is None or fill.qty > lot.qty:
            held = ZERO if lot is None else lot.qty
            raise ValueError(f"sell of {fill.qty} {fill.symbol} exceeds the position ({held})")
        self.cash += fill.qty * fill.price - fill.fee
        if fill.qty == lot.qty:
            removed = lot.cost
            del self._lots[fill.symbol]
            self.trades += 1
        else:
            removed = (lot.cost * fill.qty / lot.qty).quantize(COST_Q, ROUND_HALF_EVEN)
            lot.qty -= fill.qty
            lot.cost -= removed
        pnl = fill.qty * fill.price - removed
        self.realised += pnl
        return pnl

    def transfer(self, amount: Decimal) -> None:
        """Book a deposit (``amount`` > 0) or a withdrawal (< 0). ValueError for a
        withdrawal larger than the free cash: positions are never sold for it."""
        if amount < 0 and -amount > self.free_cash():
            raise ValueError(f"a withdrawal of {-amount} exceeds the free cash {self.cash}")
        self.cash += amount
        self.deposits += amount

    def set_stops(self, symbol: str, stop_loss: Decimal | None,
                  take_profit: Decimal | None) -> None:
        lot = self._lots[symbol]
        lot.stop_loss, lot.take_profit = stop_loss, take_profit

    @staticmethod
    def _position(symbol: str, lot: _Lot) -> Position:
        return Position(symbol, lot.qty, lot.cost / lot.qty, lot.stop_loss, lot.take_profit,
                        lot.opened_ts)
