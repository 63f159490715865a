"""CcxtBroker against the fake Binance through real ccxt: the intent saved before I/O, one send
per order whatever happens, an outcome that proves nothing left UNKNOWN (never REJECTED on a
guess), lookups that settle it, fills once."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from oxbot.engine import errors as ox
from oxbot.engine.exchange.broker import CcxtBroker, bot_prefix, new_client_order_id
from oxbot.engine.models import OrderIntent, OrderReason, OrderStatus, Side

ORDER = "/api/v3/order"


async def make_broker(clients: Any, creds: Any, journal: Any, timeout_ms: int = 2000) -> Any:
    client = await clients.private("binance", lambda: creds)
    client.timeout = timeout_ms
    return CcxtBroker(client, clients, journal)


def intent(side: Side = Side.BUY, qty: str = "0.01", bot: str = "live1") -> OrderIntent:
    return OrderIntent(
        bot, "BTC/USDT", side, Decimal(qty), OrderReason.ENTRY, new_client_order_id(bot)
    )


def posts(fake: Any) -> int:
    return sum(1 for m, p, _ in fake.requests if (m, p) == ("POST", ORDER))


async def settle(broker: Any, journal: Any, order: Any) -> Any:
    """Look ``order`` up as the live broker would, recording fills like the ledger."""
    ex = await broker.refresh(order)
    await journal.record_cycle(order.bot, orders=[ex.order], fills=ex.fills)
    return ex


async def test_client_order_ids_are_unique_and_valid_for_binance_and_okx() -> None:
    ids = {new_client_order_id("my.bot", 1_700_000_000_000) for _ in range(5000)}
    assert len(ids) == 5000
    # Binance: up to 36 of [.A-Z:/a-z0-9_-]; OKX clOrdId: up to 32 of [A-Za-z0-9].
    assert all(i.startswith(bot_prefix("my.bot")) and len(i) <= 32 and i.isalnum() for i in ids)


async def test_market_order_filled_and_intent_saved_before_io(
    fake: Any, clients: Any, creds: Any, journal: Any
) -> None:
    broker = await make_broker(clients, creds, journal)
    it = intent()
    placed = await broker.place(it, 1)
    assert journal.saves[0].status is OrderStatus.PENDING  # durable before the POST
    assert placed.order.status is OrderStatus.FILLED and placed.order.exchange_order_id
    assert [f.qty for f in placed.execution.fills] == [Decimal("0.01")]
    assert fake.by_coid[it.client_order_id].status == "FILLED"
    await journal.record_cycle("live1", orders=[placed.order], fills=placed.execution.fills)
    again = await broker.place(it, 2)  # a replay must not re-send
    assert again.order.status is OrderStatus.FILLED and posts(fake) == 1


@pytest.mark.parametrize("fault", ["drop_after", "stall_after"])
async def test_a_lost_reply_leaves_the_order_unknown_then_a_lookup_finds_it(
    fault: str, fake: Any, clients: Any, creds: Any, journal: Any
) -> None:
    broker = await make_broker(clients, creds, journal, timeout_ms=300)
    fake.stall_s = 0.6
    fake.script(fault, path=ORDER, method="POST")
    placed = await broker.place(intent(), 1)
    assert posts(fake) == 1 and len(fake.orders) == 1
    assert placed.order.status is OrderStatus.UNKNOWN and placed.error is not None
    ex = await settle(broker, journal, placed.order)
    assert ex.order.status is OrderStatus.FILLED
    assert [f.fill_id for f in ex.fills] == ["binance:1"]
    assert posts(fake) == 1  # looked up, never re-sent


@pytest.mark.parametrize("fault", ["drop", "503", "429", "malformed", "stall"])
async def test_a_send_that_proves_nothing_is_never_resent_nor_rejected(
    fault: str, fake: Any, clients: Any, creds: Any, journal: Any
) -> None:
    broker = await make_broker(clients, creds, journal, timeout_ms=300)
    fake.stall_s = 0.6
    fake.retry_after_s = 0
    fake.script(fault, path=ORDER, method="POST")
    it = intent()
    placed = await broker.place(it, 1)
    assert posts(fake) == 1
    assert placed.order.status is OrderStatus.UNKNOWN
    assert journal.orders[it.client_order_id].status is OrderStatus.UNKNOWN
    ex = await settle(broker, journal, placed.order)  # "not found" is not proof
    assert ex.order.status is OrderStatus.UNKNOWN and posts(fake) == 1


async def test_refused_order_is_rejected_with_one_send(
    fake: Any, clients: Any, creds: Any, journal: Any
) -> None:
    broker = await make_broker(clients, creds, journal)
    it = intent(Side.SELL, "5")
    with pytest.raises(ox.InsufficientFunds):
        await broker.place(it, 1)
    assert posts(fake) == 1
    assert journal.orders[it.client_order_id].status is OrderStatus.REJECTED


@pytest.mark.slow
async def test_1000_random_faults_make_no_duplicate_and_no_guess(
    fake: Any, clients: Any, creds: Any, journal: Any
) -> None:
    rng = random.Random(20240601)
    faults = ["drop", "drop_after", "stall", "stall_after", "503", "malformed"]
    fake.stall_s = 0.12
    fake.fault_fn = lambda m, p: (
        rng.choice(faults) if (m, p) == ("POST", ORDER) and rng.random() < 0.5 else None
    )
    broker = await make_broker(clients, creds, journal, timeout_ms=60)
    unknown = []
    for i in range(1000):
        it = intent(Side.BUY if i % 2 == 0 else Side.SELL)
        try:
            placed = await broker.place(it, i)
        except ox.InsufficientFunds:
            continue
        if placed.order.status is OrderStatus.UNKNOWN:
            unknown.append(placed.order)
        else:
            await journal.record_cycle("live1", orders=[placed.order], fills=placed.execution.fills)
    fake.fault_fn = None
    for order in unknown:
        await settle(broker, journal, order)
    assert posts(fake) <= 1000  # one send per intent, never a second
    assert len(fake.orders) == len(fake.by_coid)
    for coid, mine in journal.orders.items():
        theirs = fake.by_coid.get(coid)
        if theirs is None:  # never reached the exchange: unknown, not guessed rejected
            assert mine.status in (OrderStatus.UNKNOWN, OrderStatus.REJECTED), mine
            if mine.status is OrderStatus.REJECTED:
                assert mine.client_order_id not in {o.client_order_id for o in unknown}
        else:
            assert mine.status is OrderStatus.FILLED and theirs.status == "FILLED", coid
            assert mine.exchange_order_id == str(theirs.order_id)
    assert {f.fill_id for f in journal.fills.values()} == {
        f"binance:{t['id']}" for t in fake.trades
    }
    assert len(fake.orders) > 300 and len(unknown) > 100
