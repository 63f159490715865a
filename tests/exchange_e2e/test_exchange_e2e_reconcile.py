"""Start-up reconciliation through the engine's commands: a LIVE bot starting on an account that
disagrees with the database publishes ReconcileFound; ResolveReconcile adopts or ignores each
item (through reconcile.apply) and the list shrinks. Real engine, real ccxt, the fake Binance."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oxbot.engine.exchange.broker import new_client_order_id
from oxbot.engine.messages import (
    AddBot,
    ReconcileFound,
    RequestReconcile,
    ResolveReconcile,
    StartBot,
)
from oxbot.engine.models import Mode, OrderStatus


def _found(run: Any) -> list[ReconcileFound]:
    return [e for e in run.events if isinstance(e, ReconcileFound)]


async def test_differences_are_listed_then_adopted_or_ignored(
    fake: Any, run_engine: Any, sup: Any
) -> None:
    run = await run_engine(fake)
    assert (await run.do(AddBot(config=sup.bot("rec1", Mode.LIVE)))).ok
    # An open order of ours the database never heard of (an orphan), and BTC the ledger lacks.
    coid = new_client_order_id("rec1")
    order = sup.fake_binance.FakeOrder(
        9001, coid, "BTCUSDT", "BUY", "LIMIT", Decimal("0.01"), Decimal("50"), time=fake.now_ms
    )
    fake.orders[order.order_id] = order
    fake.by_coid[coid] = order
    fake.balances["BTC"] += Decimal("0.25")

    assert (await run.do(StartBot(name="rec1"))).ok
    await run.wait(lambda: bool(_found(run)))
    items = {i.kind: i for i in _found(run)[-1].items}
    # BTC the account holds beyond what the bots hold is the user's own: said, not a difference.
    assert set(items) == {"orphan"}
    own = run.notices("is your own")
    assert own and "0.25 BTC" in own[0] and "rec1" in own[0]
    assert items["orphan"].actions == ("adopt", "ignore") and coid in items["orphan"].detail
    assert await run.engine.store.get_order(coid) is None
    # the notice a headless log shows is still there
    assert run.notices("orphan")

    # Adopt the orphan: the database now knows the order, open, as the exchange has it.
    done = await run.do(ResolveReconcile(bot="rec1", item_id=items["orphan"].id, action="adopt"))
    assert done.ok and "adopted" in done.message
    stored = await run.engine.store.get_order(coid)
    assert stored is not None and stored.status is OrderStatus.OPEN
    assert _found(run)[-1].items == ()
    again = await run.do(ResolveReconcile(bot="rec1", item_id=items["orphan"].id, action="adopt"))
    assert not again.ok and "already resolved" in again.message

    # Nothing left: asking again publishes no list.
    n = len(_found(run))
    assert (await run.do(RequestReconcile())).ok
    assert len(_found(run)) == n


async def test_a_paper_bot_has_nothing_to_reconcile(fake: Any, run_engine: Any, sup: Any) -> None:
    run = await run_engine(fake)
    assert (await run.do(AddBot(config=sup.bot("paper9", Mode.PAPER)))).ok
    done = await run.do(ResolveReconcile(bot="paper9", item_id="x", action="ignore"))
    assert not done.ok and "not a LIVE bot" in done.message
