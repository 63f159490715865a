"""Group commit (storage/store.py): bots' ledger writes that wait together are committed in one
transaction, each caller's await returns once its own write is committed, and a write that
fails inside a group fails alone: the other bots' writes of the group are still committed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from oxbot.engine.errors import StorageError
from oxbot.engine.models import BotStatus, OrderStatus
from oxbot.storage.store import Store

from .conftest import Make

pytestmark = pytest.mark.both_backends  # group commit on SQLite's thread and asyncpg's loop


def spy_groups(store: Store) -> list[list[str]]:
    """The bots of each transaction the writer commits or tries (the writer's own method)."""
    seen: list[list[str]] = []
    writer: Any = store._writer
    real = writer.group

    def group(calls: Any) -> Any:
        seen.append([args[0] for _, args in calls])
        return real(calls)

    writer.group = group
    return seen


async def test_writes_waiting_together_share_one_transaction(store: Store) -> None:
    for name in ("beta", "gamma"):
        await store.save_bot(Make.config(name), BotStatus.RUNNING)
    seen = spy_groups(store)
    names = ("alpha", "beta", "gamma")
    results = await asyncio.gather(
        *(
            store.record_cycle(
                n,
                orders=[Make.order(f"o-{n}", bot=n)],
                fills=[Make.fill(f"f-{n}", f"o-{n}", bot=n)],
                equity=[Make.equity(n, ts=2_000)],
            )
            for n in names
        )
    )
    assert results == [[True], [True], [True]]  # each caller gets its own fill's outcome
    assert seen == [list(names)]  # one transaction for the three
    for n in names:  # committed: a fresh reader sees every fill
        assert await store.fill_count(n) == 1


async def test_a_failing_write_fails_alone(store: Store) -> None:
    await store.save_bot(Make.config("beta"), BotStatus.RUNNING)
    seen = spy_groups(store)
    ok, bad = await asyncio.gather(
        store.record_cycle(
            "alpha",
            orders=[Make.order("o1")],
            fills=[Make.fill("f1", "o1")],
        ),
        store.record_cycle("nobody", equity=[Make.equity("nobody")]),
        return_exceptions=True,
    )
    assert ok == [True]
    assert isinstance(bad, StorageError) and "no bot named 'nobody'" in str(bad)
    # tried together, rolled back, then each alone: alpha's fill is stored once
    assert seen == [["alpha", "nobody"], ["alpha"], ["nobody"]]
    assert await store.fill_count("alpha") == 1


async def test_two_writes_of_one_bot_are_two_transactions_in_order(store: Store) -> None:
    seen = spy_groups(store)
    await asyncio.gather(
        store.record_cycle("alpha", orders=[Make.order("o1")]),
        store.record_cycle("alpha", fills=[Make.fill("f1", "o1")]),
    )
    assert seen == [["alpha"], ["alpha"]]  # the fill's order was committed first
    assert await store.fill_count("alpha") == 1


async def test_a_write_queued_as_the_store_closes_is_committed(store: Store) -> None:
    order = Make.order("o1", status=OrderStatus.OPEN)
    pending = asyncio.ensure_future(store.record_cycle("alpha", orders=[order]))
    await asyncio.sleep(0)  # queued, not yet handed to the writer thread
    await store.close()
    assert await pending == []
    again = await Store.open(store.path)
    try:
        assert len(await again.open_orders("alpha")) == 1
    finally:
        await again.close()


async def test_a_closed_store_refuses_grouped_writes(store: Store) -> None:
    await store.close()
    with pytest.raises(StorageError, match="closed"):
        await store.record_cycle("alpha", equity=[Make.equity()])
