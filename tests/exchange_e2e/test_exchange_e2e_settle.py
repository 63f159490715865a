"""An order a fault left unknown is looked up on its own schedule (backoff from 0.25 s), not only
before the bot's next order: a bot that then holds for hours still gets the fill the exchange
made into its ledger, and places no order on that symbol until then."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from oxbot.engine.messages import AddBot
from oxbot.engine.models import Mode, OrderStatus, RiskLimits
from oxbot.engine.strategies import REGISTRY, Strategy
from oxbot.engine.strategies.base import ENTER

ORDER = "/api/v3/order"


class BuyAndHold(Strategy):
    """Always wants in: one buy fills the position limit, the risk manager refuses the rest,
    so after the first order the bot never places another."""

    name = "e2e_buy_and_hold"

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        return np.full(len(frame), ENTER, dtype=np.int8)


REGISTRY[BuyAndHold.name] = BuyAndHold


async def test_a_fill_hidden_by_a_fault_reaches_the_ledger_on_the_next_cycle(
        fake: Any, run_engine: Any, sup: Any, camp: Any) -> None:
    # The exchange takes the order but the answer is lost, and so are the look-ups that follow:
    # the order stays PENDING in the journal while the exchange has filled it.
    fake.script("drop_after", path=ORDER, method="POST")
    fake.script("503", path=ORDER, method="GET", times=12)
    run = await run_engine(fake, breaker_after=50)
    # A top-up below 500 USDT is refused and stops are far: after its first buy the bot places
    # no other order.
    cfg = sup.bot("holder", Mode.LIVE).model_copy(update={
        "strategy": BuyAndHold.name, "risk": RiskLimits(
            min_notional=Decimal("500"), stop_loss_pct=Decimal("50"),
            take_profit_pct=Decimal("1000"))})
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
    assert len(fake.orders) == 1, [(o.side, o.status, o.qty, o.client_order_id) for o in fake.orders.values()]  # never sent twice
    assert not unresolved
    assert not [o for o in await store.open_orders("holder") if o.status is OrderStatus.PENDING]
    assert fills and {f.client_order_id for f in fills} == {
        o.client_order_id for o in fake.orders.values()}
    report = await camp.ledger_vs_exchange(store, fake, {"holder": cfg.capital})
    assert camp.disagreements(report) == {}
