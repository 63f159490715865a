"""The life of a LIVE order on each exchange dialect, through the real ccxt client and the real
CcxtBroker against the strict fakes: a state is taken only from evidence, never guessed.

The exchange behaviour each test relies on is modelled (and sourced) in fake_base.py,
fake_binance.py and fake_okx.py; test_fake_dialects.py / test_fake_faults.py prove the fakes
show it to the real ccxt client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from module_loading import load_by_path

from oxbot.engine import errors as ox
from oxbot.engine.exchange.broker import CcxtBroker, new_client_order_id
from oxbot.engine.exchange.clients import Credentials, ExchangeClients
from oxbot.engine.exchange.lifecycle import Watchlist
from oxbot.engine.models import Order, OrderIntent, OrderReason, OrderStatus, Side

venues = load_by_path("_oxbot_exchange_tests_venues", Path(__file__).with_name("venues.py"))
DIALECTS = ["binance", "okx"]


class Venue:
    def __init__(self, kind: str, fake: Any, broker: CcxtBroker, journal: Any) -> None:
        self.kind, self.fake, self.broker, self.journal = kind, fake, broker, journal

    def creates(self) -> int:
        method, path = "POST", venues.PATHS[self.kind]["create"]
        return sum(1 for e in self.fake.log if (e["method"], e["path"]) == (method, path))

    async def settle(self, order: Order) -> Any:
        ex = await self.broker.refresh(order)
        await self.journal.record_cycle(order.bot, orders=[ex.order], fills=ex.fills)
        return ex


@pytest.fixture(params=DIALECTS)
async def venue(request: Any, journal: Any) -> AsyncIterator[Venue]:
    kind = request.param
    fake = venues.new_fake(
        kind, stall_s=0.4, late_s=0.5, balances={"USDT": Decimal("100000"), "BTC": Decimal("0")}
    )
    fake.retry_after_s = 0
    await fake.start()
    creds = fake.credentials()
    clients = ExchangeClients(
        config={kind: {"timeout": 250, "rateLimit": 1}},
        breaker_threshold=1000,
        configure=lambda c: venues.fake_base.point_ccxt(c, fake.base_url),
    )
    client = await clients.private(
        kind, lambda: Credentials(creds["apiKey"], creds["secret"], creds.get("password"))
    )
    try:
        yield Venue(kind, fake, CcxtBroker(client, clients, journal), journal)
    finally:
        await clients.close_all()
        await fake.stop()


def intent(side: Side = Side.BUY, qty: str = "0.5") -> OrderIntent:
    return OrderIntent(
        "bot1", "BTC/USDT", side, Decimal(qty), OrderReason.ENTRY, new_client_order_id("bot1")
    )


async def test_a_filled_market_buy_holds_what_the_account_received(venue: Venue) -> None:
    # Both exchanges take a buy's fee in the coin bought (Binance without BNB, OKX spot).
    placed = await venue.broker.place(intent(), 1)
    ex = placed.execution
    if venue.kind == "okx":  # the place reply has ids only: settled by a lookup right away
        assert placed.order.status is OrderStatus.FILLED
    assert ex.order.status is OrderStatus.FILLED and ex.fills
    got = sum(f.qty - f.base_fee for f in ex.fills)
    assert got == venue.fake.balances["BTC"] > 0  # the position is what the account holds
    assert all(f.fee_currency == "BTC" and f.fee == f.fee_cost * f.price for f in ex.fills)


async def test_a_reply_without_a_state_is_acknowledged_not_open(venue: Venue) -> None:
    """OKX answers a placed order with ids only; Binance does with newOrderRespType=ACK. The
    order is known to exist, not to be open or filled: it is looked up."""
    if venue.kind == "binance":
        venue.broker.client.options["newOrderRespType"] = {"market": "ACK", "limit": "ACK"}
    await venue.broker.clients.markets(venue.kind)
    venue.fake.fault_fn = lambda m, p: "503" if m == "GET" else None  # lookups fail for now
    placed = await venue.broker.place(intent(), 1)
    assert placed.order.status is OrderStatus.ACKNOWLEDGED
    assert placed.order.exchange_order_id and not placed.execution.fills
    venue.fake.fault_fn = None
    ex = await venue.settle(placed.order)
    assert ex.order.status is OrderStatus.FILLED and ex.fills


@pytest.mark.parametrize("fault", ["empty", "empty_json", "malformed", "html_after"])
async def test_a_reply_that_names_no_order_leaves_it_unknown(fault: str, venue: Venue) -> None:
    """ccxt raises nothing for an empty, ``{}`` or truncated 200 (OKX raises a plain
    ExchangeError for ``{}``); none of them says whether the order exists."""
    venue.fake.script(fault, path=venues.PATHS[venue.kind]["create"], method="POST")
    placed = await venue.broker.place(intent(), 1)
    assert placed.order.status is OrderStatus.UNKNOWN
    assert venue.journal.orders[placed.order.client_order_id].status is OrderStatus.UNKNOWN
    ex = await venue.settle(placed.order)
    applied = fault.endswith("_after")
    assert ex.order.status is (OrderStatus.FILLED if applied else OrderStatus.UNKNOWN)
    assert venue.creates() == 1


async def test_a_request_applied_after_the_client_gave_up_is_found(venue: Venue) -> None:
    venue.fake.script("late", path=venues.PATHS[venue.kind]["create"], method="POST")
    placed = await venue.broker.place(intent(), 1)
    assert placed.order.status is OrderStatus.UNKNOWN and not venue.fake.orders
    first = await venue.settle(placed.order)  # not there yet: not proof of anything
    assert first.order.status is OrderStatus.UNKNOWN
    await venue.fake.settle()  # the exchange applies it now
    ex = await venue.settle(first.order)
    assert ex.order.status is OrderStatus.FILLED and ex.fills and venue.creates() == 1


async def test_a_duplicate_client_order_id_means_the_order_exists(venue: Venue) -> None:
    """Binance -2010 "Duplicate order sent." and OKX 51016 "Duplicated clOrdId" arrive as a
    plain InvalidOrder from ccxt: recognised by the exchange's words, never a rejection."""
    it = intent()
    price = 50.0  # a resting limit order of ours with the same id (the first send got through)
    await venue.broker.client.create_order(
        "BTC/USDT", "limit", "buy", 0.5, price, {"clientOrderId": it.client_order_id}
    )
    placed = await venue.broker.place(it, 1)
    assert placed.order.status is OrderStatus.UNKNOWN
    assert placed.error is not None and "uplicate" in str(placed.error)
    ex = await venue.settle(placed.order)
    assert ex.order.status is OrderStatus.OPEN  # the exchange's order, adopted as it stands


async def test_an_order_refused_by_the_exchange_is_rejected_after_one_send(venue: Venue) -> None:
    with pytest.raises(ox.InsufficientFunds):
        await venue.broker.place(intent(Side.SELL, "5"), 1)
    assert venue.creates() == 1
    (order,) = venue.journal.orders.values()
    assert order.status is OrderStatus.REJECTED


async def test_an_open_order_is_polled_to_its_end(venue: Venue) -> None:
    venue.fake.match_lag_s = 0.3  # accepted NEW/live, executed 0.3 s later
    placed = await venue.broker.place(intent(), 1)
    assert placed.order.status in (OrderStatus.OPEN, OrderStatus.ACKNOWLEDGED)
    await venue.fake.settle()  # the exchange has executed it
    ex = await venue.settle(placed.order)
    assert ex.order.status is OrderStatus.FILLED and ex.fills


async def test_filled_waits_for_its_fills(venue: Venue) -> None:
    """An exchange can list the order filled before its trades show (fills_lag_s): FILLED
    means every fill is in the ledger, so the order waits."""
    venue.fake.fills_lag_s = 0.5
    if venue.kind == "binance":  # a FULL reply carries the fills: take the RESULT one
        venue.broker.client.options["newOrderRespType"] = {"market": "RESULT"}
    placed = await venue.broker.place(intent(), 1)
    assert placed.order.status is not OrderStatus.FILLED and not placed.execution.fills
    await asyncio.sleep(0.6)  # the fake's own lag: its trades show 0.5 s of wall time later
    ex = await venue.settle(placed.order)
    assert ex.order.status is OrderStatus.FILLED and ex.fills


async def test_a_rate_limited_create_is_not_resent(venue: Venue) -> None:
    venue.fake.script("429", path=venues.PATHS[venue.kind]["create"], method="POST")
    placed = await venue.broker.place(intent(), 1)
    assert placed.order.status is OrderStatus.UNKNOWN and venue.creates() == 1
    assert not venue.fake.orders


# --------------------------------------------------------------------------- the watch list


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _order(status: OrderStatus = OrderStatus.UNKNOWN) -> Order:
    return Order("c1", "bot1", "BTC/USDT", Side.BUY, Decimal(1), OrderReason.ENTRY, status, 0)


def test_an_unknown_order_blocks_until_a_lookup_after_the_window_misses_it() -> None:
    clock = Clock()
    wl = Watchlist(window_s=10, clock=clock)
    w = wl.watch(_order())
    deadline = wl.deadline(w)  # 10 * 1.5 + 2 s of skew
    assert deadline == 117.0
    wl.looked_up(w, found=False)  # right after the send
    while clock.t < deadline:
        assert wl.blocking() and not wl.overdue(w)
        clock.t = w.next_at
        wl.looked_up(w, found=False)
    assert wl.overdue(w) and not wl.blocking()
    assert w.next_at == clock.t + wl.overdue_every_s  # still looked up, slowly
    assert w.lookups <= 8  # backoff, plus one lookup right after the window


def test_failed_lookups_prove_nothing() -> None:
    clock = Clock()
    wl = Watchlist(window_s=1, clock=clock)
    w = wl.watch(_order())
    for _ in range(20):
        clock.t += 20
        wl.looked_up(w, found=False, error="503")
    assert not wl.overdue(w) and wl.blocking()


def test_a_known_order_never_goes_overdue() -> None:
    clock = Clock()
    wl = Watchlist(window_s=1, clock=clock)
    w = wl.watch(_order(OrderStatus.OPEN))
    clock.t += 100
    wl.looked_up(w, found=True)
    assert not wl.overdue(w) and wl.blocking()
