"""Closed round trips and the daily P&L summary (app/trips.py), from crafted fills: several
buys and sells per trip, two symbols interleaved, dust left after a sell, a trip still open,
trips closing on two UTC days. The expected figures are worked out by hand below."""

from __future__ import annotations

from decimal import Decimal

from oxbot.app.trips import daily_pnl, round_trips
from oxbot.engine.models import Fill, OrderReason, Side

D = Decimal
DAY = 86_400_000


def fill(
    n: int,
    ts: int,
    side: Side,
    qty: str,
    price: str,
    fee: str,
    sym: str = "BTC/USDT",
    reason: OrderReason | None = None,
) -> Fill:
    why = reason or (OrderReason.ENTRY if side is Side.BUY else OrderReason.EXIT)
    return Fill(f"f{n}", f"o{n}", "b", sym, side, D(qty), D(price), D(fee), ts, why)


def test_trips_average_their_legs_and_net_every_fee() -> None:
    fills = [
        fill(1, 1_000, Side.BUY, "1", "100", "0.1"),
        fill(2, 2_000, Side.BUY, "1", "110", "0.11", sym="ETH/USDT"),
        fill(3, 3_000, Side.BUY, "1", "102", "0.1"),  # BTC: 2 @ 101 on average
        fill(4, 4_000, Side.SELL, "0.5", "104", "0.05"),  # partial: still open
        fill(5, 65_000, Side.SELL, "1.5", "106", "0.15", reason=OrderReason.TAKE_PROFIT),
        fill(
            6, DAY + 5_000, Side.SELL, "1", "100", "0.1", sym="ETH/USDT", reason=OrderReason.FLATTEN
        ),
        fill(7, DAY + 6_000, Side.BUY, "1", "100", "0.1"),  # open at the end: not a trip
    ]
    btc, eth = round_trips(fills)
    assert (btc.symbol, btc.entry_ts, btc.exit_ts, btc.duration_s) == (
        "BTC/USDT",
        1_000,
        65_000,
        64,
    )
    assert (btc.qty, btc.entry_price, btc.reason) == (D("2"), D("101"), "take_profit")
    assert btc.exit_price == (D("0.5") * 104 + D("1.5") * 106) / 2  # 105.5
    assert btc.fees == D("0.4")
    assert btc.pnl == D("0.5") * 3 + D("1.5") * 5 - D("0.4")  # 9 realised - fees
    assert (eth.symbol, eth.pnl, eth.fees, eth.reason) == (
        "ETH/USDT",
        D("-10.21"),
        D("0.21"),
        "flatten",
    )

    day1, day2 = daily_pnl([btc, eth])
    assert (day1.day, day1.trades, day1.wins, day1.pnl) == ("1970-01-01", 1, 1, btc.pnl)
    assert (day2.day, day2.trades, day2.wins, day2.pnl) == ("1970-01-02", 1, 0, D("-10.21"))


def test_dust_left_by_a_sell_ends_the_trip_and_a_new_buy_starts_another() -> None:
    fills = [
        fill(1, 1_000, Side.BUY, "1", "100", "0"),
        fill(2, 2_000, Side.SELL, "0.999", "110", "0"),  # 0.001 left: under 1 % of the sale
        fill(3, 3_000, Side.SELL, "0.001", "90", "0"),  # the dust, sold later: no new trip
        fill(4, 4_000, Side.BUY, "2", "50", "0"),
        fill(5, 5_000, Side.SELL, "2", "40", "0", reason=OrderReason.STOP_LOSS),
    ]
    first, second = round_trips(fills)
    assert (first.exit_ts, first.qty, first.pnl) == (2_000, D("1"), D("0.999") * 10)
    assert (second.entry_ts, second.exit_ts, second.pnl, second.reason) == (
        4_000,
        5_000,
        D("-20"),
        "stop_loss",
    )
    assert round_trips([]) == [] and daily_pnl([]) == []
