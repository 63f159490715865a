"""PANIC while a LIVE order's outcome is unknown: the order may still fill on the exchange after
the bot was stopped (a request applied late), and a stopped bot watches nothing. PANIC says so,
and closes what that order brings as soon as the exchange tells. Real engine, real ccxt, the
fake Binance (fees in the coin bought: what is left is dust, as in the account)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oxbot.engine.messages import AddBot, PanicAll
from oxbot.engine.models import BotStatus

ORDER = "/api/v3/order"


async def test_panic_closes_what_an_unresolved_order_brings_once_it_settles(
    fake: Any, run_engine: Any, sup: Any, camp: Any
) -> None:
    fake.fee_mode = "received"
    fake.late_s = 1.0  # the exchange applies the buy a second after the client gave up
    fake.script("late", path=ORDER, method="POST")
    run = await run_engine(fake, breaker_after=1000)
    assert (await run.do(AddBot(config=sup.holder("pan1"), start=True))).ok
    r = run.engine.runners["pan1"]
    await run.wait(lambda: bool(r.broker.blocked()), 30)  # the buy is out, outcome unknown
    assert not fake.orders and not r.portfolio.positions

    done = await run.do(PanicAll())
    assert done.ok and "outcome is still unknown" in done.message, done.message
    assert r.status is BotStatus.STOPPED and r.flatten_pending

    # the late buy, then PANIC's sell of what it brought, with the bot stopped
    await run.wait(lambda: len(fake.orders) == 2, 30)
    await run.wait(lambda: not r.broker.blocked() and not r.flatten_pending, 30)
    assert run.notices("the flatten asked before closed 1 position")
    assert r.tradable_positions() == {}  # only dust left, as on the exchange
    report = await camp.ledger_vs_exchange(run.engine.store, fake, {"pan1": Decimal("10000")})
    assert camp.disagreements(report) == {}
    assert fake.balances["BTC"] < Decimal("0.001")
