"""What a LIVE bot's start owes the user, through the real engine, real ccxt and the fake Binance:
the bots most likely to differ (one that stopped in error) are settled and reconciled too; a bot
whose reconciliation fails makes no decision until it succeeds; the account is compared with what
all its bots hold together, and the user's own coins are called so, not a difference."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oxbot.engine.exchange.broker import new_client_order_id
from oxbot.engine.messages import AddBot, ReconcileFound, StartBot, StopBot
from oxbot.engine.models import BotStatus, Mode, OrderStatus

ORDER = "/api/v3/order"


def _items(run: Any, bot: str) -> list[Any]:
    found = [e for e in run.events if isinstance(e, ReconcileFound) and e.bot == bot]
    return list(found[-1].items) if found else []


async def test_a_bot_stopped_in_error_is_settled_and_reconciled_at_start(
    fake: Any, run_engine: Any, sup: Any, camp: Any
) -> None:
    # First run: the exchange fills an order but its answer is lost and so are the lookups
    # that follow; the bot then ends in error (as after 20 failed cycles).
    fake.script("drop_after", path=ORDER, method="POST")
    fake.fault_fn = lambda m, p: "503" if (m, p) == ("GET", ORDER) else None
    run = await run_engine(fake, breaker_after=1000)
    assert (await run.do(AddBot(config=sup.bot("err1", Mode.LIVE), start=True))).ok
    await run.wait(lambda: len(fake.orders) == 1, 30)
    await run.engine.store.set_bot_status("err1", BotStatus.ERROR)
    await run.stop()
    (order,) = fake.orders.values()
    stored = await run.engine.store.get_order(order.client_order_id)
    assert stored is not None and stored.status is OrderStatus.UNKNOWN
    # An order of the bot's the database lost meanwhile (a restored backup): an orphan.
    coid = new_client_order_id("err1")
    await camp.place_resting(fake, coid)

    fake.fault_fn = None
    again = await run_engine(fake, breaker_after=1000)
    await again.wait(lambda: bool(_items(again, "err1")), 30)
    r = again.engine.runners["err1"]
    assert r.status is BotStatus.STOPPED  # settled, reconciled, not trading
    settled = await again.engine.store.get_order(order.client_order_id)
    assert settled is not None and settled.status is OrderStatus.FILLED
    assert await again.engine.store.order_fills(order.client_order_id)
    assert [i.kind for i in _items(again, "err1")] == ["orphan"]
    assert again.notices("settled with the exchange")


async def test_no_decision_until_reconciliation_succeeds(
    fake: Any, run_engine: Any, sup: Any
) -> None:
    # The exchange answers the market data but not the order lists reconciliation reads.
    fake.fault_fn = lambda m, p: "503" if p in ("/api/v3/openOrders", "/api/v3/allOrders") else None
    run = await run_engine(fake, breaker_after=1000)
    assert (await run.do(AddBot(config=sup.bot("rec2", Mode.LIVE), start=True))).ok
    r = run.engine.runners["rec2"]
    await run.wait(lambda: r.view().not_ready != "", 30)
    n = len(fake.log)
    await run.wait(lambda: len(fake.log) > n + 40, 30)  # candles come, cycles pass
    assert not fake.orders  # ... and no order was placed on the database's view
    assert run.notices("makes no decision until it succeeds")
    fake.fault_fn = None
    await run.wait(lambda: len(fake.orders) >= 1, 60)  # retried, reconciled, trading
    assert r.view().not_ready == ""
    assert run.notices("reconciled with binance; trading")


async def test_a_wrong_passphrase_means_no_decision_until_reconciliation_succeeds(
    camp: Any, run_engine: Any, sup: Any
) -> None:
    # OKX v5 checks OK-ACCESS-PASSPHRASE on every private request and answers code 50105
    # "OK-ACCESS-PASSPHRASE incorrect" with HTTP 401 (https://www.okx.com/docs-v5/en/
    # #error-code-rest-api-authentication; the fake's rule, tests/exchange/fake_okx.py). The
    # market data is public: candles keep coming while every private call is refused.
    fake = camp.clocked("okx", speed=600)
    await fake.start()
    try:
        run = await run_engine(fake)  # the environment holds the passphrase of the moment
        right, fake.passphrase = fake.passphrase, "changed-on-the-website"
        cfg = sup.bot("pass1", Mode.LIVE).model_copy(update={"exchange": "okx"})
        assert (await run.do(AddBot(config=cfg, start=True))).ok
        r = run.engine.runners["pass1"]
        await run.wait(lambda: r.view().not_ready != "", 30)
        n = len(fake.log)
        await run.wait(lambda: len(fake.log) > n + 40, 30)  # candles come, cycles pass
        assert not fake.orders  # no order was placed on the database's view
        assert run.notices("makes no decision until it succeeds")
        assert any(e["status"] == 401 for e in fake.log)  # the exchange did refuse the key
        fake.passphrase = right  # the user fixes the key: retried, reconciled, trading
        await run.wait(lambda: len(fake.orders) >= 1, 60)
        assert r.view().not_ready == ""
        assert run.notices("reconciled with okx; trading")
    finally:
        await fake.stop()


async def test_the_account_is_compared_with_all_its_bots(
    fake: Any, run_engine: Any, sup: Any
) -> None:
    run = await run_engine(fake)
    for name in ("acc1", "acc2"):  # each buys once and holds
        assert (await run.do(AddBot(config=sup.holder(name), start=True))).ok
    bots = [run.engine.runners[n] for n in ("acc1", "acc2")]
    await run.wait(lambda: all(b.portfolio.positions for b in bots), 60)
    assert (await run.do(StopBot(name="acc2"))).ok  # stopped, its position kept
    await run.stop()
    held = {b.name: sum(p.qty for p in b.portfolio.positions.values()) for b in bots}
    assert fake.balances["BTC"] == sum(held.values())  # the two bots are all there is
    fake.balances["BTC"] += Decimal("0.7")  # the user's own coins

    again = await run_engine(fake)
    assert (await again.do(StartBot(name="acc1"))).ok  # acc2 stays stopped: from the store
    await again.wait(lambda: bool(again.notices("is your own")))  # reconciled after start
    own = again.notices("is your own")
    assert own and "0.70000 BTC is your own" in own[-1]
    assert f"acc1 {held['acc1']}" in own[-1] and f"acc2 {held['acc2']}" in own[-1]
    assert not [i for i in _items(again, "acc1") if i.kind == "balance"]
    await again.stop()

    fake.balances["BTC"] -= Decimal("1.7")  # sold outside oxbot: the bots hold more than it
    third = await run_engine(fake)
    assert (await third.do(StartBot(name="acc1"))).ok
    await third.wait(lambda: bool(_items(third, "acc1")))
    (item,) = [i for i in _items(third, "acc1") if i.kind == "balance"]
    assert "1.00000 BTC is missing" in item.detail
