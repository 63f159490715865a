"""CcxtBroker against the fake exchange through real ccxt: intent saved before I/O, no blind
re-send, adoption by clientOrderId, fills once, reconciliation."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from oxbot.engine import errors as ox
from oxbot.engine.exchange.broker import CcxtBroker, bot_prefix, new_client_order_id
from oxbot.engine.exchange.reconcile import apply, reconcile
from oxbot.engine.models import OrderIntent, OrderReason, OrderStatus, Side

ORDER = "/api/v3/order"


async def make_broker(clients: Any, creds: Any, journal: Any, timeout_ms: int = 2000) -> Any:
    client = await clients.private("binance", lambda: creds)
    client.timeout = timeout_ms
    return CcxtBroker(client, clients, journal)


def intent(side: Side = Side.BUY, qty: str = "0.01", bot: str = "live1") -> OrderIntent:
    return OrderIntent(bot, "BTC/USDT", side, Decimal(qty), OrderReason.ENTRY,
                       new_client_order_id(bot))


def posts(fake: Any) -> int:
    return sum(1 for m, p, _ in fake.requests if (m, p) == ("POST", ORDER))


async def test_client_order_ids_are_unique_and_valid_for_binance() -> None:
    ids = {new_client_order_id("my.bot", 1_700_000_000_000) for _ in range(5000)}
    assert len(ids) == 5000
    assert all(i.startswith(bot_prefix("my.bot")) and len(i) <= 36 and i.isalnum() for i in ids)


async def test_market_order_filled_and_intent_saved_before_io(fake: Any, clients: Any,
                                                            creds: Any, journal: Any) -> None:
    broker = await make_broker(clients, creds, journal)
    it = intent()
    ex = await broker.execute(it, Decimal("100"), 1)
    assert journal.saves[0].status is OrderStatus.PENDING  # durable before the POST
    assert ex.order.status is OrderStatus.FILLED and ex.order.exchange_order_id
    assert [(f.qty, f.price, f.fee) for f in ex.fills] == [
        (Decimal("0.01"), Decimal("100.0"), Decimal("0.001"))]
    assert fake.by_coid[it.client_order_id].status == "FILLED"
    again = await broker.execute(it, Decimal("100"), 2)  # a replay must not re-send
    assert again.order.status is OrderStatus.FILLED and posts(fake) == 1


async def test_dropped_response_is_adopted_not_resent(fake: Any, clients: Any, creds: Any,
                                                     journal: Any) -> None:
    broker = await make_broker(clients, creds, journal)
    fake.script("drop_after", path=ORDER, method="POST")
    ex = await broker.execute(intent(), Decimal("100"), 1)
    assert posts(fake) == 1 and len(fake.orders) == 1
    assert ex.order.status is OrderStatus.FILLED
    assert [f.fill_id for f in ex.fills] == ["binance:1"]


async def test_lost_request_is_resent_once_with_the_same_id(fake: Any, clients: Any,
                                                          creds: Any, journal: Any) -> None:
    broker = await make_broker(clients, creds, journal)
    fake.script("drop", path=ORDER, method="POST")
    it = intent()
    ex = await broker.execute(it, Decimal("100"), 1)
    assert posts(fake) == 2 and list(fake.by_coid) == [it.client_order_id]
    assert ex.order.status is OrderStatus.FILLED


async def test_two_lost_sends_leave_nothing_placed(fake: Any, clients: Any, creds: Any,
                                                  journal: Any) -> None:
    broker = await make_broker(clients, creds, journal)
    fake.script("503", path=ORDER, method="POST", times=2)
    it = intent()
    with pytest.raises(ox.TemporaryError, match="not accepted after two sends"):
        await broker.execute(it, Decimal("100"), 1)
    assert posts(fake) == 2 and not fake.orders
    assert journal.orders[it.client_order_id].status is OrderStatus.REJECTED


async def test_refused_order_is_rejected_with_one_send(fake: Any, clients: Any, creds: Any,
                                                      journal: Any) -> None:
    broker = await make_broker(clients, creds, journal)
    it = intent(Side.SELL, "5")
    with pytest.raises(ox.InsufficientFunds):
        await broker.execute(it, Decimal("100"), 1)
    assert posts(fake) == 1
    assert journal.orders[it.client_order_id].status is OrderStatus.REJECTED


async def test_1000_random_timeouts_and_drops_make_no_duplicate(fake: Any, clients: Any,
                                                                creds: Any,
                                                                journal: Any) -> None:
    rng = random.Random(20240601)
    faults = ["drop", "drop_after", "stall", "stall_after", "503", "malformed"]
    fake.stall_s = 0.12
    fake.fault_fn = lambda m, p: (rng.choice(faults) if (m, p) == ("POST", ORDER)
                                  and rng.random() < 0.5 else None)
    broker = await make_broker(clients, creds, journal, timeout_ms=60)
    intents = []
    for i in range(1000):
        it = intent(Side.BUY if i % 2 == 0 else Side.SELL)
        intents.append(it)
        try:
            await broker.execute(it, Decimal("100"), i)
        except (ox.TemporaryError, ox.InsufficientFunds):
            pass
        mine = journal.orders[it.client_order_id]
        on_exchange = fake.by_coid.get(it.client_order_id)
        if on_exchange is None:
            assert mine.status is OrderStatus.REJECTED, (i, mine)
        else:
            assert mine.status is OrderStatus.FILLED and on_exchange.status == "FILLED", i
            assert mine.exchange_order_id == str(on_exchange.order_id)
    # one exchange order per intent at most, and the journal agrees with the exchange
    assert len(fake.orders) == len(fake.by_coid) <= 1000
    filled = {c for c, o in journal.orders.items() if o.status is OrderStatus.FILLED}
    assert filled == set(fake.by_coid)
    assert len(filled) > 500  # most orders made it despite the faults
    assert sum(1 for m, p, _ in fake.requests if (m, p) == ("POST", ORDER)) > 1000


async def test_reconcile_finds_orphans_and_ghosts_and_adopts(fake: Any, clients: Any,
                                                             creds: Any, journal: Any) -> None:
    broker = await make_broker(clients, creds, journal)
    await clients.markets("binance")
    # an orphan: a resting order of ours the DB lost (crash between accept and commit)
    coid = new_client_order_id("live1")
    await broker.client.create_order("BTC/USDT", "limit", "buy", 0.01, 90.0,
                                     {"clientOrderId": coid})
    # a ghost: the DB thinks this order is pending, but it never reached the exchange
    ghost = intent()
    from oxbot.engine.models import Order

    await journal.save_order(Order(ghost.client_order_id, "live1", "BTC/USDT", Side.BUY,
                                   Decimal("0.01"), OrderReason.ENTRY, OrderStatus.PENDING, 1))
    # someone else's order on the same account is not ours
    await broker.client.create_order("BTC/USDT", "limit", "buy", 0.01, 80.0,
                                     {"clientOrderId": "manual-1"})
    diffs = await reconcile(broker, "live1", ["BTC/USDT"],
                            positions={"BTC/USDT": Decimal("0")})
    kinds = sorted((d.kind, d.client_order_id) for d in diffs if d.kind != "balance")
    assert kinds == sorted([("orphan", coid), ("ghost", ghost.client_order_id)])
    for d in diffs:
        await apply(broker, "live1", d, "adopt" if "adopt" in d.actions else "ignore")
    assert journal.orders[coid].status is OrderStatus.OPEN
    assert journal.orders[ghost.client_order_id].status is OrderStatus.REJECTED
    assert await reconcile(broker, "live1", ["BTC/USDT"]) == []
