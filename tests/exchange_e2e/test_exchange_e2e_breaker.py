"""An exchange that stops answering: its circuit breaker opens, its bots pause and say why, their
prices go stale; when it answers again the breaker closes, the bots resume and trade, and the
ledger still agrees with the exchange."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oxbot.engine.messages import AddBot, ReconcileFound
from oxbot.engine.models import BotStatus, Mode


def listed(run: Any) -> set[str]:
    """Client order ids reconciliation listed as unknown (sent, never shown)."""
    return {
        i.id.split(":", 1)[1]
        for e in run.events
        if isinstance(e, ReconcileFound)
        for i in e.items
        if i.kind == "unknown"
    }


async def test_unreachable_exchange_pauses_bots_and_marks_prices_stale(
    fake: Any, sup: Any, run_engine: Any, camp: Any
) -> None:
    # A price is called stale after 0.1 s without one (a candle closes every 0.1 s here).
    run = await run_engine(fake, breaker_after=3, breaker_cooldown_s=0.05, stale_after_s=0.1)
    for name, mode in (("live3", Mode.LIVE), ("paper3", Mode.PAPER)):
        assert (await run.do(AddBot(config=sup.bot(name, mode), start=True))).ok
    live, paper = run.engine.runners["live3"], run.engine.runners["paper3"]
    await run.wait(lambda: live.cycles >= 2 and paper.cycles >= 2, 30)
    fake.fault_fn = lambda m, p: "503"
    await run.wait(
        lambda: (
            live.status is BotStatus.PAUSED
            and paper.status is BotStatus.PAUSED
            and live.view().stale_symbols == ("BTC/USDT",)
        ),
        30,
    )
    opened = run.notices("circuit breaker OPEN")
    assert opened and "live3" in opened[-1] and "paper3" in opened[-1] and "503" in opened[-1]
    stale = run.notices("price is STALE")
    assert stale and "binance:BTC/USDT:1m" in stale[-1] and "last price" in stale[-1]
    assert paper.view().stale_symbols == ("BTC/USDT",)
    fake.fault_fn = None
    await run.wait(
        lambda: (
            live.status is BotStatus.RUNNING
            and paper.status is BotStatus.RUNNING
            and live.view().stale_symbols == ()
        ),
        30,
    )
    assert run.notices("circuit breaker closed") and run.notices("price is live again")
    n = live.cycles
    await run.wait(lambda: live.cycles >= n + 2, 30)  # trading again
    await run.wait(lambda: not live.broker.watch.blocking(), 30)
    await run.stop()
    report = await camp.ledger_vs_exchange(
        run.engine.store, fake, {"live3": Decimal("10000")}, listed(run)
    )
    assert camp.disagreements(report) == {}
