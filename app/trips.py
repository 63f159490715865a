"""Closed round trips and a daily P&L summary, rebuilt from a bot's fills (pure; shared by
`oxbot trades` and any view of closed trades).

A round trip opens with a buy while the symbol is flat and closes when the paper wallet
(engine/portfolio.py) counts it closed: the position sold down to nothing, or to dust. Its P&L
is the realised P&L of its sells net of every fee of the trip, as in the backtest's trades
(engine/backtest/ledger.py ``Trade``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from oxbot.engine.models import ZERO, Fill, Side
from oxbot.engine.portfolio import Portfolio


@dataclass(frozen=True, slots=True)
class RoundTrip:
    bot: str
    symbol: str
    entry_ts: int  # ms, first buy
    exit_ts: int  # ms, the sell that closed it
    qty: Decimal  # bought in all
    entry_price: Decimal  # average buy price
    exit_price: Decimal  # average sell price
    pnl: Decimal  # realised, net of the trip's fees
    fees: Decimal
    reason: str  # of the closing sell: exit, stop_loss, take_profit, flatten

    @property
    def duration_s(self) -> int:
        return (self.exit_ts - self.entry_ts) // 1000


@dataclass(slots=True)
class _Open:
    entry_ts: int
    bought: Decimal = ZERO
    bought_value: Decimal = ZERO
    sold: Decimal = ZERO
    sold_value: Decimal = ZERO
    realised: Decimal = ZERO
    fees: Decimal = ZERO
    fills: list[Fill] = field(default_factory=list)


def round_trips(fills: Iterable[Fill]) -> list[RoundTrip]:
    """The closed round trips of one bot's fills (given in ledger order), oldest first."""
    wallet = Portfolio(ZERO)
    open_: dict[str, _Open] = {}
    out: list[RoundTrip] = []
    for f in fills:
        closed_before = wallet.trades
        pnl = wallet.apply(f)
        trip = open_.get(f.symbol)
        if f.side is Side.BUY:
            if trip is None:
                trip = open_[f.symbol] = _Open(f.ts)
            trip.bought += f.qty
            trip.bought_value += f.qty * f.price
        elif trip is not None:
            trip.sold += f.qty
            trip.sold_value += f.qty * f.price
            trip.realised += pnl
        if trip is None:  # a sell of dust after its trip closed
            continue
        trip.fees += f.fee
        if wallet.trades > closed_before:
            del open_[f.symbol]
            out.append(
                RoundTrip(
                    bot=f.bot,
                    symbol=f.symbol,
                    entry_ts=trip.entry_ts,
                    exit_ts=f.ts,
                    qty=trip.bought,
                    entry_price=trip.bought_value / trip.bought if trip.bought else ZERO,
                    exit_price=trip.sold_value / trip.sold if trip.sold else ZERO,
                    pnl=trip.realised - trip.fees,
                    fees=trip.fees,
                    reason=f.reason.value,
                )
            )
    return out


@dataclass(frozen=True, slots=True)
class DayPnl:
    day: str  # YYYY-MM-DD, UTC, of the trips' exits
    trades: int
    wins: int
    pnl: Decimal
    fees: Decimal


def daily_pnl(trips: Iterable[RoundTrip]) -> list[DayPnl]:
    """Per UTC day of exit, oldest first: trips, winners, net P&L and fees."""
    days: dict[str, list[RoundTrip]] = {}
    for t in trips:
        day = datetime.fromtimestamp(t.exit_ts / 1000, UTC).strftime("%Y-%m-%d")
        days.setdefault(day, []).append(t)
    return [
        DayPnl(
            day,
            len(ts),
            sum(1 for t in ts if t.pnl > 0),
            sum((t.pnl for t in ts), ZERO),
            sum((t.fees for t in ts), ZERO),
        )
        for day, ts in sorted(days.items())
    ]
