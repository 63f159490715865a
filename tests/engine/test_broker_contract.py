"""One contract for every broker: the paper broker, and the LIVE broker on each exchange dialect
(through the real ccxt client to the fake Binance and the fake OKX, a real Store as journal).

A broker returns what happened as values: an ``Execution`` (the intent's order as it now stands,
its new fills), never a second order for one intent, never a fill twice; it says which symbols
it cannot take a new order on and whether the bot may decide at all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from module_loading import load_by_path

from oxbot.engine.broker import Broker, BrokerLink
from oxbot.engine.exchange.broker import bot_prefix, new_client_order_id
from oxbot.engine.exchange.clients import Credentials, ExchangeClients
from oxbot.engine.exchange.live import ExchangeBrokers
from oxbot.engine.models import BotConfig, BotStatus, Mode, OrderIntent, OrderReason, Side
from oxbot.engine.paper import PaperBroker
from oxbot.engine.ports import BrokerPort
from oxbot.storage.store import Store

_EX = Path(__file__).parent.parent / "exchange"
venues = load_by_path("_oxbot_exchange_tests_venues", _EX / "venues.py")


class Subject:
    def __init__(self, broker: Broker, store: Store | None, fake: Any = None) -> None:
        self.broker, self.store, self.fake = broker, store, fake

    async def record(self, ex: Any) -> None:
        if self.store is not None:
            await self.store.record_cycle("contract", orders=[ex.order], fills=ex.fills)


@pytest.fixture(params=["paper", "binance", "okx"])
async def subject(request: Any, tmp_path: Path) -> AsyncIterator[Subject]:
    if request.param == "paper":
        yield Subject(PaperBroker(Decimal("0.001")), None)
        return
    kind = request.param
    fake = venues.new_fake(kind, balances={"USDT": Decimal("100000"), "BTC": Decimal("0")})
    fake.api_key += new_client_order_id("k")[-8:]  # key locks are per key
    await fake.start()
    creds = fake.credentials()
    store = await Store.open(tmp_path / "oxbot.db")
    cfg = BotConfig(name="contract", exchange=kind, mode=Mode.LIVE)
    await store.save_bot(cfg, BotStatus.STOPPED)
    clients = ExchangeClients(
        config={kind: {"timeout": 2000}},
        breaker_threshold=1000,
        configure=lambda c: venues.fake_base.point_ccxt(c, fake.base_url),
    )
    brokers = ExchangeBrokers(
        clients,
        store,
        lambda _ex: Credentials(creds["apiKey"], creds["secret"], creds.get("password")),
        tmp_path / "locks",
    )
    broker = brokers(cfg)
    try:
        settled = await broker.start(BrokerLink("contract", holdings=dict))
        assert settled == []
        assert broker.not_ready() != ""  # reconciled on the first settle, as a cycle does
        assert await broker.settle(0) == []
        yield Subject(broker, store, fake)
    finally:
        await broker.close()
        await clients.close_all()
        await store.close()
        await fake.stop()


def _intent(broker: Broker, side: Side = Side.BUY, qty: str = "0.5") -> OrderIntent:
    new_id = getattr(broker, "new_id", None)
    coid = new_id() if new_id else new_client_order_id("contract")
    return OrderIntent(
        "contract",
        "BTC/USDT",
        side,
        Decimal(qty),
        OrderReason.ENTRY,
        coid,
        limit_price=Decimal("100"),
    )


async def test_an_intent_gives_its_order_and_fills(subject: Subject) -> None:
    b = subject.broker
    assert b.not_ready() == "" and dict(b.blocked()) == {}
    it = _intent(b)
    ex = await b.execute(it, Decimal("100"), 1)
    assert ex.order.client_order_id == it.client_order_id and ex.order.status.value == "filled"
    assert ex.fills and {f.client_order_id for f in ex.fills} == {it.client_order_id}
    assert len({f.fill_id for f in ex.fills}) == len(ex.fills)
    assert sum(f.qty for f in ex.fills) == it.qty
    await subject.record(ex)
    assert await b.settle(2) == []  # nothing left to look up
    assert dict(b.blocked()) == {}


async def test_one_intent_is_one_order_however_often_it_is_executed(subject: Subject) -> None:
    b = subject.broker
    it = _intent(b)
    first = await b.execute(it, Decimal("100"), 1)
    await subject.record(first)
    if subject.fake is None:
        return  # paper: nothing to send twice
    again = await b.execute(it, Decimal("100"), 2)
    assert again.order.client_order_id == it.client_order_id and not again.fills
    assert len(subject.fake.orders_view()) == 1


async def test_a_sell_of_what_was_bought(subject: Subject) -> None:
    b = subject.broker
    buy = await b.execute(_intent(b), Decimal("100"), 1)
    await subject.record(buy)
    held = sum(f.qty - f.base_fee for f in buy.fills)  # what the account received
    sell = await b.execute(_intent(b, Side.SELL, str(held)), Decimal("100"), 2)
    assert sell.order.status.value == "filled" and sum(f.qty for f in sell.fills) == held
    await b.close()
    await b.close()  # closing twice is harmless


async def test_a_broker_fits_the_engine_port_and_names_each_order_once(subject: Subject) -> None:
    assert isinstance(subject.broker, BrokerPort)
    new_id = subject.broker.order_ids("contract")
    ids = {new_id() for _ in range(50)}
    assert len(ids) == 50
    if subject.fake is not None:  # LIVE: reconciliation knows the bot's orders by this prefix
        assert all(i.startswith(bot_prefix("contract")) for i in ids)
    else:
        assert all(i.startswith("ox-contract-") for i in ids)
