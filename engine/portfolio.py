"""The paper wallet: a pure, synchronous Decimal ledger built from fills and capital flows.

Invariant (exact, tested at every step): cash + cost basis of open positions
= start cash + deposits + realised P&L - fees, where ``deposits`` is the net of the user's
deposits and withdrawals (a capital edit), never profit or loss. When flat,
cash = start + deposits + realised - fees. Cost basis is tracked as an exact sum, not as
qty x average (which would round). A fee the exchange takes in the base coin is booked at the
fill price: the position holds what the account received (``qty - fee``), and the invariant
holds as written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from .models import ZERO, CapitalFlow, Fill, Position, Side

# Cost removed by a partial sell is a division: rounded to this step so every ledger value keeps
# a bounded number of decimals and sums of them stay exact.
COST_Q = Decimal("0.000000000001")
# A sell that leaves less than 1/DUST_SHARE of what it sold closes the round trip.
DUST_SHARE = Decimal(100)


@dataclass(slots=True)
class _Lot:
    qty: Decimal
    cost: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None
    opened_ts: int
    closed: bool = False  # only dust is left: its round trip is counted already
    # The Position read of this lot (a Decimal division), built on first read and dropped by
    # every change of the lot: ticks and cycles read it far more often than fills change it.
    view: Position | None = None


class Portfolio:
    def __init__(self, start_cash: Decimal) -> None:
        self.start_cash = start_cash
        self.cash = start_cash
        self.deposits = ZERO  # net capital flows: deposits minus withdrawals
        self.realised = ZERO
        self.fees = ZERO
        self.trades = 0  # closed round trips
        self.last_fill_ts = 0  # the newest fill's time: fills are applied in time order
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

    @classmethod
    def from_ledger(
        cls,
        capital: Decimal,
        fills: Iterable[Fill],
        stops: Mapping[str, tuple[Decimal | None, Decimal | None]] | None = None,
        flows: Iterable[CapitalFlow] = (),
    ) -> Portfolio:
        """The wallet of a stored bot: ``capital`` is its config's capital, which is what the
        user put in, net (the start plus every deposit minus every withdrawal since), so the
        start is ``capital`` less the flows; counting them on top of it would count each deposit
        twice."""
        flows = list(flows)
        start = capital - sum((f.amount for f in flows), ZERO)
        return cls.from_fills(start, fills, stops, flows)

    # ------------------------------------------------------------------ reads

    @property
    def positions(self) -> dict[str, Position]:
        return {s: self._position(s, lot) for s, lot in self._lots.items()}

    def position(self, symbol: str) -> Position | None:
        lot = self._lots.get(symbol)
        return None if lot is None else self._position(symbol, lot)

    def holds(self, symbol: str) -> bool:
        """Whether any of ``symbol`` is held (dust included): ``position`` would not be None."""
        return symbol in self._lots

    @property
    def flat(self) -> bool:
        """Nothing held at all (not even dust)."""
        return not self._lots

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
        return (
            self.cash + self.cost_basis()
            == self.start_cash + self.deposits + self.realised - self.fees
        )

    def free_cash(self) -> Decimal:
        """Cash a withdrawal may take: what is not held in positions."""
        return max(self.cash, ZERO)

    # ------------------------------------------------------------------ writes

    def apply(self, fill: Fill) -> Decimal:
        """Book one fill; returns the realised P&L of this fill (fees excluded)."""
        with localcontext() as ctx:
            ctx.prec = 60  # products of 8-decimal quantities and prices never round here
            pnl = self._apply(fill)
        lot = self._lots.get(fill.symbol)
        if lot is not None:
            lot.view = None  # qty, cost or the round trip changed
        self.last_fill_ts = max(self.last_fill_ts, fill.ts)
        return pnl

    def _apply(self, fill: Fill) -> Decimal:
        # A fee taken in the base coin (LIVE: Binance without BNB, OKX spot buys) leaves fewer
        # coins and no less cash; ``fill.fee`` is its quote value either way. Base-coin fees
        # move the position at the fill price, so the invariant stays exact.
        base_fee = fill.base_fee
        lot = self._lots.get(fill.symbol)
        if fill.side is Side.BUY:
            got = fill.qty - base_fee
            if got < 0:
                raise ValueError(
                    f"the fee of a buy of {fill.qty} {fill.symbol} is larger than "
                    f"the buy ({base_fee})"
                )
            self.fees += fill.fee
            self.cash -= fill.qty * fill.price + (fill.fee if not base_fee else ZERO)
            if got == 0:  # the fee ate the whole fill: nothing more is held
                return ZERO
            if lot is None:
                self._lots[fill.symbol] = _Lot(got, got * fill.price, None, None, fill.ts)
            else:
                if lot.closed:  # a new round trip on top of dust
                    lot.closed, lot.opened_ts = False, fill.ts
                lot.qty += got
                lot.cost += got * fill.price
            return ZERO
        if lot is None or fill.qty > lot.qty:
            held = ZERO if lot is None else lot.qty
            raise ValueError(f"sell of {fill.qty} {fill.symbol} exceeds the position ({held})")
        if base_fee:
            # The fee of a sell in the coin sold (BNB/USDT with fees paid in BNB): the bot's
            # coins pay what they can; the rest came from coins the account holds beyond the
            # bot (the user's own BNB kept for fees), so it is not the bot's fee.
            paid = min(base_fee, lot.qty - fill.qty)
            self.fees += paid * fill.price
            self.cash += fill.qty * fill.price
            return self._lose(lot, fill.symbol, fill.qty + paid, fill.price)
        self.fees += fill.fee
        self.cash += fill.qty * fill.price - fill.fee
        return self._lose(lot, fill.symbol, fill.qty, fill.price)

    def _lose(self, lot: _Lot, symbol: str, qty: Decimal, price: Decimal) -> Decimal:
        """Take ``qty`` out of ``lot`` valued at ``price``; returns (and books) the P&L."""
        if qty == lot.qty:
            removed = lot.cost
            del self._lots[symbol]
            self.trades += not lot.closed
        else:
            removed = (lot.cost * qty / lot.qty).quantize(COST_Q, ROUND_HALF_EVEN)
            lot.qty -= qty
            lot.cost -= removed
            if not lot.closed and lot.qty * DUST_SHARE < qty:
                # Less than 1 % left: a sell of what could be sold, the rest is dust (a fee
                # taken in the coin bought, an exchange's amount step). The round trip is over.
                lot.closed = True
                self.trades += 1
        pnl = qty * price - removed
        self.realised += pnl
        return pnl

    def transfer(self, amount: Decimal) -> None:
        """Book a deposit (``amount`` > 0) or a withdrawal (< 0). ValueError for a
        withdrawal larger than the free cash: positions are never sold for it."""
        if amount < 0 and -amount > self.free_cash():
            raise ValueError(f"a withdrawal of {-amount} exceeds the free cash {self.cash}")
        self.cash += amount
        self.deposits += amount

    def set_stops(
        self, symbol: str, stop_loss: Decimal | None, take_profit: Decimal | None
    ) -> None:
        lot = self._lots[symbol]
        lot.stop_loss, lot.take_profit = stop_loss, take_profit
        lot.view = None

    @staticmethod
    def _position(symbol: str, lot: _Lot) -> Position:
        view = lot.view
        if view is None:
            view = lot.view = Position(
                symbol, lot.qty, lot.cost / lot.qty, lot.stop_loss, lot.take_profit, lot.opened_ts
            )
        return view
