"""Many bots write at once on one loop; a cancelled write leaves all or nothing behind."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from oxbot.engine.models import BotStatus
from oxbot.storage.store import Store


async def test_concurrent_cycles_of_many_bots_all_commit(store: Store, make) -> None:
    names = [f"bot{i}" for i in range(12)]
    for name in names:
        await store.save_bot(make.config(name), BotStatus.RUNNING)

    async def trade(name: str, n: int) -> None:
        for k in range(n):
            coid = f"{name}-o{k}"
            await store.record_cycle(
                name,
                orders=[make.order(coid, bot=name)],
                fills=[make.fill(f"{name}-f{k}", coid, bot=name, ts=k)],
                equity=[make.equity(bot=name, ts=k)],
            )

    await asyncio.gather(*(trade(n, 5) for n in names))

    for name in names:
        assert await store.fill_count(name) == 5
        fees = [f.fee for f in await store.load_fills(name)]
        assert sum(fees, Decimal(0)) == Decimal("4.20005") * 5
    assert await store.integrity_check() == "ok"


async def _state(store: Store, coid: str, ts: int) -> tuple[int, int, int]:
    orders = 0 if await store.get_order(coid) is None else 1
    fills = [f for f in await store.load_fills("alpha") if f.client_order_id == coid]
    points = [p for p in await store.equity_series("alpha", 10_000) if p[0] == ts]
    return orders, len(fills), len(points)


async def test_cancelled_cycle_is_all_or_nothing_and_final(store: Store, make) -> None:
    outcomes = set()
    for attempt in range(30):
        coid = f"o{attempt}"
        task = asyncio.create_task(
            store.record_cycle(
                "alpha",
                orders=[make.order(coid)],
                fills=[make.fill(f"f{attempt}", coid)],
                equity=[make.equity(ts=attempt)] * 3,
            )
        )
        if attempt % 3:  # else cancel before the task even started
            await asyncio.sleep(attempt * 0.0001)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        seen = await _state(store, coid, attempt)
        assert seen in ((0, 0, 0), (1, 1, 3)), attempt  # all or nothing
        # A later write goes through the same writer thread after anything still pending:
        # what the canceller saw was already final.
        await store.record_cycle("alpha", equity=[make.equity(ts=100_000 + attempt)])
        assert await _state(store, coid, attempt) == seen, attempt
        outcomes.add(seen[0])
    assert outcomes == {0, 1}
    assert await store.integrity_check() == "ok"
