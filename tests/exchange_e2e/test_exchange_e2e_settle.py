"""An order a fault left unknown is looked up on its own schedule (backoff from 0.25 s), not only
before the bot's next order: a bot that then holds for hours still gets the fill the exchange
made into its ledger, and places no order on that symbol until then."""

from __future__ import annotations

from typing import Any

from oxbot.engine.messages import AddBot
from oxbot.engine.models import OrderStatus

ORDER = "/api/v3/order"


async def test_a_fill_hidden_by_a_fault_reaches_the_ledger_on_the_next_cycle(
    fake: Any, run_engine: Any, sup: Any, camp: Any
) -> None:
    # The exchange takes the order but the answer is lost, and so are the look-ups that follow:
    # the order stays PENDING in the journal while the exchange has filled it.
    fake.script("drop_after", path=ORDER, method="POST")
    fake.script("503", path=ORDER, method="GET", times=12)
    run = await run_engine(fake, breaker_after=50)
    cfg = sup.holder("holder")  # after its first buy it places no other order
    assert (await run.do(AddBot(config=cfg, start=True))).ok
    bot = run.engine.runners["holder"]
    store = run.engine.store
    await run.wait(lambda: len(fake.orders) == 1, 30)
    await run.wait(lambda: bool(bot.portfolio.positions), 30)  # the lookups got through
    cycles = bot.cycles
    await run.wait(lambda: bot.cycles >= cycles + 4, 30)
    fills = await store.load_fills("holder")
    unresolved = await store.open_orders("holder")
    await run.stop()
    assert len(fake.orders) == 1  # never sent twice
    assert not unresolved
    assert not [o for o in await store.open_orders("holder") if o.status is OrderStatus.PENDING]
    assert fills and {f.client_order_id for f in fills} == {
        o.client_order_id for o in fake.orders.values()
    }
    report = await camp.ledger_vs_exchange(store, fake, {"holder": cfg.capital})
    assert camp.disagreements(report) == {}
