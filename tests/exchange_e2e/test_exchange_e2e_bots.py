"""A PAPER and a LIVE bot on the fake Binance, end to end through real ccxt, the real engine
(built by the real composition root) and a real Store."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oxbot.engine.exchange.broker import bot_prefix
from oxbot.engine.exchange.lock import ExchangeKeyLock, key_lock_dir
from oxbot.engine.messages import AddBot, StartBot
from oxbot.engine.models import Mode, OrderStatus


async def test_paper_and_live_bots_trade_end_to_end(
    fake: Any, run_engine: Any, sup: Any, camp: Any
) -> None:
    # As Binance charges an account without BNB: a buy's fee in the coin bought (the position
    # is what arrives, net of it), a sell's in USDT. Exits must still sell what is held.
    fake.fee_mode = "received"
    run = await run_engine(fake)
    eng = run.engine
    assert (await run.do(AddBot(config=sup.bot("paper1", Mode.PAPER), start=True))).ok
    assert (await run.do(AddBot(config=sup.bot("live1", Mode.LIVE), start=True))).ok
    live, paper = eng.runners["live1"], eng.runners["paper1"]
    await run.wait(lambda: live.portfolio.trades >= 4 and paper.portfolio.trades >= 4, 40)
    streams = eng.hub.exchanges
    pub = streams.clients.public("binance")
    priv = next(iter(streams.clients._private.values()))
    await run.stop()

    # One feed for the stream both bots read; the risk manager sized with the market's rules.
    assert streams.feeds_opened == 1
    rules = live.risk._rules("BTC/USDT")
    assert (rules.amount_step, rules.min_notional) == (Decimal("0.00001"), Decimal("5"))
    # Every exchange order is the live bot's; none of the paper bot's orders reached it.
    store = eng.store
    assert fake.orders and all(
        o.client_order_id.startswith(bot_prefix("live1")) for o in fake.orders.values()
    )
    paper_fills = await store.load_fills("paper1")
    assert paper_fills and not {f.client_order_id for f in paper_fills} & set(fake.by_coid)
    for o in fake.orders.values():
        assert o.qty == o.qty.quantize(Decimal("0.00001"))
    # The ledger agrees with the exchange: fills (split and partial ones), fees, cash, BTC.
    report = await camp.ledger_vs_exchange(store, fake, {"live1": Decimal("10000")})
    assert camp.disagreements(report) == {}
    assert report["fills"] == len(fake.trades) >= 8
    fills = await store.load_fills("live1")
    trades = {f"binance:{t['trade_id']}": t for t in fake.trades_view()}
    for f in fills:  # the fee as charged: its coin, its amount, its quote value
        t = trades[f.fill_id]
        assert (f.fee_currency, f.fee_cost) == (t["fee_currency"], t["fee"])
        assert f.fee == (t["fee"] if t["fee_currency"] == "USDT" else t["fee"] * t["price"])
    assert {f.fee_currency for f in fills} == {"BTC", "USDT"}
    partial = [o for o in fake.orders.values() if o.status == "EXPIRED"]
    assert partial
    for o in partial:
        db = await store.get_order(o.client_order_id)  # expired after a partial fill
        assert db is not None and db.status is OrderStatus.CANCELED
        assert sum(f.qty for f in await store.order_fills(o.client_order_id)) == o.executed
    # Every ccxt client was closed on shutdown.
    assert pub.session is None and priv.session is None


async def test_paper_bot_never_signs_a_request(fake: Any, run_engine: Any, sup: Any) -> None:
    run = await run_engine(fake)
    assert (await run.do(AddBot(config=sup.bot("paper2", Mode.PAPER), start=True))).ok
    r = run.engine.runners["paper2"]
    await run.wait(lambda: r.portfolio.trades >= 3, 30)
    clients = run.engine.hub.exchanges.clients
    pub = clients.public("binance")
    await run.stop()
    assert not pub.apiKey and not pub.secret and not clients._private
    assert fake.requests and fake.signed_requests() == []
    assert not fake.orders


async def test_live_bot_needs_keys_and_a_free_key_lock(
    fake: Any, run_engine: Any, sup: Any, tmp_path: Any
) -> None:
    run = await run_engine(fake)
    # Another engine's lock on the key, taken where every engine of this user looks for it,
    # whatever its OXBOT_HOME.
    with ExchangeKeyLock(key_lock_dir(), "binance", fake.api_key):
        done = await run.do(AddBot(config=sup.bot("live2", Mode.LIVE), start=True))
        assert not done.ok and "already trades with this binance key" in done.message
    assert (await run.do(StartBot(name="live2"))).ok  # the lock is free again
    r = run.engine.runners["live2"]
    await run.wait(lambda: r.portfolio.trades >= 1, 30)
    await run.stop()
    assert not any(
        o for o in fake.orders.values() if not o.client_order_id.startswith(bot_prefix("live2"))
    )
